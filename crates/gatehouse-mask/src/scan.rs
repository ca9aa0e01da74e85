//! One pass over a value with every enabled detector, at a cost close to nothing when nothing
//! can match: a single byte-count loop and one Aho-Corasick pass over the detectors' literal
//! triggers (plus one `RegexSet` test when custom detectors exist) decide which detectors'
//! regexes run at all. Overlapping findings are then resolved deterministically: longest first,
//! then the detector with the higher priority, then the earliest.

use crate::detectors::{ByteCounts, Find, TextCounts, Trigger};
use crate::{MaskError, Strategy};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use regex::RegexSet;
use std::cmp::Reverse;

/// A span of the scanned text that a detector accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Index into the scanner's detectors; lower means higher priority.
    pub(crate) detector: usize,
}

/// Where a detector reports what it accepted.
pub(crate) struct Hits<'v> {
    found: &'v mut Vec<Candidate>,
    detector: usize,
}

impl Hits<'_> {
    pub(crate) fn add(&mut self, start: usize, end: usize) {
        if start < end {
            self.found.push(Candidate {
                start,
                end,
                detector: self.detector,
            });
        }
    }
}

/// An enabled detector with the strategy this configuration gives it.
pub(crate) struct ActiveDetector {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    /// `None` for custom detectors, which the `RegexSet` gates instead.
    pub(crate) trigger: Option<Trigger>,
    pub(crate) finder: Box<dyn Find>,
}

pub(crate) struct Scanner {
    detectors: Vec<ActiveDetector>,
    /// Literal triggers, and for each pattern the detector it wakes.
    literals: Option<(AhoCorasick, Vec<usize>)>,
    /// Detectors woken by byte counts, with the counts that wake them.
    count_triggers: Vec<(usize, &'static [ByteCounts])>,
    /// Custom detectors' patterns; pattern `i` belongs to detector `custom_start + i`.
    custom_set: Option<RegexSet>,
    custom_start: usize,
}

impl Scanner {
    /// `detectors` must list built-ins (with triggers) first, then custom detectors, whose
    /// patterns are `custom_patterns` in the same order.
    pub(crate) fn new(
        detectors: Vec<ActiveDetector>,
        custom_patterns: &[&str],
    ) -> Result<Self, MaskError> {
        let mut literal_patterns = Vec::new();
        let mut literal_owner = Vec::new();
        for (index, detector) in detectors.iter().enumerate() {
            for literal in detector.trigger.map_or(&[][..], |trigger| trigger.literals) {
                literal_patterns.push(*literal);
                literal_owner.push(index);
            }
        }
        let literals = if literal_patterns.is_empty() {
            None
        } else {
            let automaton = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&literal_patterns)
                .map_err(|error| MaskError::InvalidPattern {
                    name: "literal triggers".to_owned(),
                    reason: error.to_string(),
                })?;
            Some((automaton, literal_owner))
        };
        let custom_set = if custom_patterns.is_empty() {
            None
        } else {
            Some(
                RegexSet::new(custom_patterns).map_err(|error| MaskError::InvalidPattern {
                    name: "custom detectors".to_owned(),
                    reason: error.to_string(),
                })?,
            )
        };
        let custom_start = detectors.len() - custom_patterns.len();
        let count_triggers = detectors
            .iter()
            .enumerate()
            .filter_map(|(index, detector)| {
                let counts = detector.trigger?.counts;
                (!counts.is_empty()).then_some((index, counts))
            })
            .collect();
        Ok(Scanner {
            detectors,
            literals,
            count_triggers,
            custom_set,
            custom_start,
        })
    }

    pub(crate) fn detectors(&self) -> &[ActiveDetector] {
        &self.detectors
    }

    /// The resolved, non-overlapping findings in `text`, in order of position. Allocates only
    /// when something is found.
    pub(crate) fn scan(&self, text: &str) -> Vec<Candidate> {
        let mut found = Vec::new();
        let mut triggered = self.literal_hits(text);
        let counts = TextCounts::of(text);
        for (index, minimums) in &self.count_triggers {
            if minimums.iter().any(|minimum| counts.reach(minimum)) {
                triggered |= bit(*index);
            }
        }
        while triggered != 0 {
            let index = triggered.trailing_zeros() as usize;
            triggered &= triggered - 1;
            if let Some(detector) = self.detectors.get(index) {
                detector.finder.find(
                    text,
                    &mut Hits {
                        found: &mut found,
                        detector: index,
                    },
                );
            }
        }
        if let Some(set) = &self.custom_set
            && set.is_match(text)
        {
            for pattern in set.matches(text).iter() {
                let index = self.custom_start + pattern;
                if let Some(detector) = self.detectors.get(index) {
                    detector.finder.find(
                        text,
                        &mut Hits {
                            found: &mut found,
                            detector: index,
                        },
                    );
                }
            }
        }
        resolve_overlaps(&mut found);
        found
    }

    /// Which detectors' literal triggers occur in `text`, one bit per detector index.
    ///
    /// Searching leftmost-first lets the automaton use its SIMD prefilter; restarting one byte
    /// after each hit (rather than after its end) still sees literals that overlap it.
    fn literal_hits(&self, text: &str) -> u64 {
        let mut hits = 0;
        if let Some((automaton, owners)) = &self.literals {
            let mut from = 0;
            while let Some(found) = automaton.find(Input::new(text).range(from..)) {
                if let Some(owner) = owners.get(found.pattern().as_usize()) {
                    hits |= bit(*owner);
                }
                from = found.start() + 1;
            }
        }
        hits
    }
}

/// The bit of detector `index` in a trigger mask. Only built-in detectors have triggers, and
/// there are fewer than 64 of them.
fn bit(index: usize) -> u64 {
    u32::try_from(index)
        .ok()
        .and_then(|shift| 1u64.checked_shl(shift))
        .unwrap_or(0)
}

/// Keeps a set of non-overlapping findings sorted by position. Without overlaps (the usual
/// case) this is one sort; otherwise findings are taken longest first, then by detector
/// priority, then earliest, each kept only if it overlaps nothing kept before.
fn resolve_overlaps(found: &mut Vec<Candidate>) {
    found.sort_unstable_by_key(|c| (c.start, Reverse(c.end), c.detector));
    let overlapping = found
        .windows(2)
        .any(|pair| matches!(pair, [a, b] if b.start < a.end));
    if !overlapping {
        return;
    }
    let mut ranked = std::mem::take(found);
    ranked.sort_unstable_by_key(|c| (Reverse(c.end - c.start), c.detector, c.start));
    for candidate in ranked {
        let position = found.partition_point(|kept| kept.start < candidate.start);
        let clear_before = position
            .checked_sub(1)
            .and_then(|previous| found.get(previous))
            .is_none_or(|kept| kept.end <= candidate.start);
        let clear_after = found
            .get(position)
            .is_none_or(|kept| kept.start >= candidate.end);
        if clear_before && clear_after {
            found.insert(position, candidate);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{Candidate, resolve_overlaps};
    use crate::{HashKey, MaskConfig, Masker};

    /// The texts that `detector` finds in `text` with every built-in enabled.
    pub(crate) fn spans_of<'t>(detector: &str, text: &'t str) -> Vec<&'t str> {
        let Ok(masker) = Masker::new(&MaskConfig::default(), HashKey::new([7; 32])) else {
            return vec!["<default configuration refused>"];
        };
        masker
            .explain(text)
            .into_iter()
            .filter(|finding| finding.detector == detector)
            .filter_map(|finding| text.get(finding.start..finding.end))
            .collect()
    }

    fn candidate(start: usize, end: usize, detector: usize) -> Candidate {
        Candidate {
            start,
            end,
            detector,
        }
    }

    #[test]
    fn longest_then_priority_then_earliest() {
        let mut found = vec![
            candidate(5, 8, 0),
            candidate(0, 10, 3),
            candidate(12, 15, 2),
            candidate(12, 15, 1),
            candidate(14, 18, 0),
            candidate(20, 22, 0),
        ];
        resolve_overlaps(&mut found);
        assert_eq!(
            found,
            [
                candidate(0, 10, 3),
                candidate(14, 18, 0),
                candidate(20, 22, 0)
            ]
        );
    }

    #[test]
    fn disjoint_findings_are_only_sorted() {
        let mut found = vec![candidate(4, 6, 1), candidate(0, 2, 0)];
        resolve_overlaps(&mut found);
        assert_eq!(found, [candidate(0, 2, 0), candidate(4, 6, 1)]);
    }
}
