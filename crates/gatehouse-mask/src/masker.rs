//! The engine: compiled detectors, column rules and hash key, applied per result column (once,
//! by [`Masker::plan`]) and per value (by [`Masker::mask_value`] and its variants).

use crate::columns::{ColumnMask, ColumnPlan, ColumnRef, ColumnRule, SensitiveColumn};
use crate::config::MaskConfig;
use crate::hash_key::KeyedHasher;
use crate::render::{Fit, Span, push_replacement};
use crate::scan::{ActiveDetector, Candidate, Scanner};
use crate::{Finding, HashKey, MaskCounts, MaskError, Masked, MaskedBytes, Strategy, custom};
use std::fmt;

/// Extra scans of a masked value before giving up and hiding it whole (see `mask_content`).
const MAX_PASSES: usize = 3;

/// A compiled masking configuration. Cheap to share (`Send + Sync`), no per-call state.
pub struct Masker {
    scanner: Scanner,
    rules: Vec<ColumnRule>,
    exempt_groups: Vec<String>,
    hasher: KeyedHasher,
}

impl fmt::Debug for Masker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detectors: Vec<&str> = self.detectors().map(|(name, _)| name).collect();
        f.debug_struct("Masker")
            .field("detectors", &detectors)
            .field("column_rules", &self.rules.len())
            .field("exempt_groups", &self.exempt_groups)
            .finish_non_exhaustive()
    }
}

impl Masker {
    /// Compiles `config`. Fails with a message naming what to fix: an unknown detector name, a
    /// pattern that does not compile, a bad glob, a column rule with nothing to match on.
    pub fn new(config: &MaskConfig, hash_key: HashKey) -> Result<Masker, MaskError> {
        config.check_strategy_names()?;
        let mut detectors = Vec::new();
        for builtin in config.enabled_builtins()? {
            detectors.push(ActiveDetector {
                name: builtin.name.to_owned(),
                strategy: config
                    .strategies
                    .get(builtin.name)
                    .copied()
                    .unwrap_or(builtin.default_strategy),
                trigger: Some(builtin.trigger),
                finder: builtin.build()?,
            });
        }
        let mut custom_names: Vec<&str> = Vec::new();
        for detector in &config.custom {
            detectors.push(custom::compile(detector, &custom_names)?);
            custom_names.push(&detector.name);
        }
        let custom_patterns: Vec<&str> = config.custom.iter().map(|c| c.pattern.as_str()).collect();
        let rules = config
            .columns
            .iter()
            .enumerate()
            .map(|(index, rule)| ColumnRule::compile(rule, index + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Masker {
            scanner: Scanner::new(detectors, &custom_patterns)?,
            rules,
            exempt_groups: config.exempt_groups.clone(),
            hasher: KeyedHasher::new(&hash_key)?,
        })
    }

    /// The groups the configuration exempts from masking; applying that is the caller's job.
    pub fn exempt_groups(&self) -> &[String] {
        &self.exempt_groups
    }

    /// The enabled detectors, highest priority first, with their strategies.
    pub fn detectors(&self) -> impl Iterator<Item = (&str, Strategy)> {
        self.scanner
            .detectors()
            .iter()
            .map(|detector| (detector.name.as_str(), detector.strategy))
    }

    /// Decides once per result set what happens to each column: the first column rule that
    /// matches masks it whole, otherwise its values are scanned.
    pub fn plan(&self, columns: &[ColumnRef<'_>]) -> ColumnPlan {
        ColumnPlan::new(
            columns
                .iter()
                .map(|column| {
                    self.rules
                        .iter()
                        .find_map(|rule| rule.apply(column))
                        .unwrap_or(ColumnMask::Scan)
                })
                .collect(),
        )
    }

    /// The first column rule naming stored column `column` of `relation` (`None`: a column
    /// of one of `reads`, the relations the statement reads, which one unknown).
    pub fn sensitive_column(
        &self,
        relation: Option<&str>,
        column: &str,
        reads: &[String],
    ) -> Option<SensitiveColumn> {
        self.rules
            .iter()
            .find(|rule| rule.names(relation, column, reads))
            .map(ColumnRule::sensitive)
    }

    /// Whether some column rule could name a column of `relation` (`None`: of one of
    /// `reads`): a rule for that table, or a rule by column name alone.
    pub fn may_hold_sensitive(&self, relation: Option<&str>, reads: &[String]) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.may_be_in(relation, reads))
    }

    /// Masks one value of a column. May return a longer value than the input (a marker or a
    /// hash token replacing a short value); use [`Masker::mask_value_within`] when the result
    /// must fit a length limit.
    pub fn mask_value<'a>(
        &self,
        column: &ColumnMask,
        value: &'a str,
        counts: &mut MaskCounts,
    ) -> Masked<'a> {
        self.mask_text(column, value, None, counts)
    }

    /// Like [`Masker::mask_value`], but the result has at most `max_chars` characters or, if
    /// the input itself is longer, at most as many as the input: when the natural replacements
    /// do not fit, each one is shortened to the length of what it replaces (`redact` becomes
    /// `*`s, `hash` keeps only as many hex digits as fit).
    pub fn mask_value_within<'a>(
        &self,
        column: &ColumnMask,
        value: &'a str,
        max_chars: usize,
        counts: &mut MaskCounts,
    ) -> Masked<'a> {
        self.mask_text(column, value, Some(max_chars), counts)
    }

    /// Masks a value given as bytes, as they arrive from the wire. UTF-8 values are masked like
    /// [`Masker::mask_value_within`] (or [`Masker::mask_value`] with no limit). Values that
    /// are not UTF-8 are never scanned by content and come back unchanged; a column rule still
    /// masks them (`partial` then hides every byte, and lengths count bytes).
    pub fn mask_bytes<'a>(
        &self,
        column: &ColumnMask,
        value: &'a [u8],
        max_chars: Option<usize>,
        counts: &mut MaskCounts,
    ) -> MaskedBytes<'a> {
        if let Ok(text) = std::str::from_utf8(value) {
            return match self.mask_text(column, text, max_chars, counts) {
                Masked::Unchanged(_) => MaskedBytes::Unchanged(value),
                Masked::Replaced(text) => MaskedBytes::Replaced(text),
                Masked::Null => MaskedBytes::Null,
            };
        }
        match column {
            ColumnMask::Scan => MaskedBytes::Unchanged(value),
            ColumnMask::Whole { rule, strategy } => {
                counts.add_column_rule(rule);
                if *strategy == Strategy::Null {
                    return MaskedBytes::Null;
                }
                MaskedBytes::Replaced(self.replace_whole(*strategy, Span::Bytes(value), max_chars))
            }
        }
    }

    /// What the detectors find in `text` and what each finding would become (column rules
    /// play no part). This is the first scan of [`Masker::mask_value`]; masking rescans its
    /// result and masks again whatever the replacements uncovered.
    pub fn explain(&self, text: &str) -> Vec<Finding> {
        self.scanner
            .scan(text)
            .iter()
            .filter_map(|candidate| {
                let detector = self.scanner.detectors().get(candidate.detector)?;
                let span = text.get(candidate.start..candidate.end)?;
                let replacement = (detector.strategy != Strategy::Null).then(|| {
                    let mut out = String::new();
                    self.push_finding_replacement(&mut out, detector, span, Fit::Natural);
                    out
                });
                Some(Finding {
                    detector: detector.name.clone(),
                    start: candidate.start,
                    end: candidate.end,
                    strategy: detector.strategy,
                    replacement,
                })
            })
            .collect()
    }

    fn mask_text<'a>(
        &self,
        column: &ColumnMask,
        value: &'a str,
        max_chars: Option<usize>,
        counts: &mut MaskCounts,
    ) -> Masked<'a> {
        let (rule, strategy) = match column {
            ColumnMask::Whole { rule, strategy } => (rule, *strategy),
            ColumnMask::Scan => return self.mask_content(value, max_chars, counts),
        };
        counts.add_column_rule(rule);
        if strategy == Strategy::Null {
            return Masked::Null;
        }
        Masked::Replaced(self.replace_whole(strategy, Span::Text(value), max_chars))
    }

    /// What a whole-column rule with `strategy` makes of `value` (the JSON path rules use it);
    /// empty for [`Strategy::Null`], which the caller writes as its own null.
    pub(crate) fn replace_whole_text(&self, strategy: Strategy, value: &str) -> String {
        self.replace_whole(strategy, Span::Text(value), None)
    }

    fn replace_whole(
        &self,
        strategy: Strategy,
        value: Span<'_>,
        max_chars: Option<usize>,
    ) -> String {
        within(max_chars, |fit| {
            let mut out = String::new();
            push_replacement(&mut out, &self.hasher, strategy, None, value, fit);
            out
        })
    }

    fn mask_content<'a>(
        &self,
        value: &'a str,
        max_chars: Option<usize>,
        counts: &mut MaskCounts,
    ) -> Masked<'a> {
        let found = self.scanner.scan(value);
        if found.is_empty() {
            return Masked::Unchanged(value);
        }
        let mut counted = vec![false; self.scanner.detectors().len()];
        if self.count_and_check_null(&found, &mut counted, counts) {
            return Masked::Null;
        }
        let mut masked = within(max_chars, |fit| self.replace_findings(value, &found, fit));
        // Replacing a finding changes what surrounds its neighbours: a candidate that lost an
        // overlap to a longer finding, or was glued to it, can become a finding of its own.
        // Mask again until nothing is left, and hide the whole value if that does not settle.
        for _ in 0..MAX_PASSES {
            let again = self.scanner.scan(&masked);
            if again.is_empty() {
                return Masked::Replaced(masked);
            }
            if self.count_and_check_null(&again, &mut counted, counts) {
                return Masked::Null;
            }
            masked = within(max_chars, |fit| self.replace_findings(&masked, &again, fit));
        }
        Masked::Replaced(self.replace_whole(Strategy::Redact, Span::Text(value), max_chars))
    }

    /// Counts each detector once per value (`counted` remembers which already were) and says
    /// whether one of them turns the value into `NULL`.
    fn count_and_check_null(
        &self,
        found: &[Candidate],
        counted: &mut [bool],
        counts: &mut MaskCounts,
    ) -> bool {
        let detectors = self.scanner.detectors();
        let mut null = false;
        for candidate in found {
            if let (Some(detector), Some(seen)) = (
                detectors.get(candidate.detector),
                counted.get_mut(candidate.detector),
            ) {
                if !*seen {
                    *seen = true;
                    counts.add_detector(&detector.name);
                }
                null |= detector.strategy == Strategy::Null;
            }
        }
        null
    }

    fn replace_findings(&self, value: &str, found: &[Candidate], fit: Fit) -> String {
        let detectors = self.scanner.detectors();
        let mut out = String::with_capacity(value.len() + 16 * found.len());
        let mut copied = 0;
        for candidate in found {
            let (Some(detector), Some(gap), Some(span)) = (
                detectors.get(candidate.detector),
                value.get(copied..candidate.start),
                value.get(candidate.start..candidate.end),
            ) else {
                continue;
            };
            out.push_str(gap);
            self.push_finding_replacement(&mut out, detector, span, fit);
            copied = candidate.end;
        }
        out.push_str(value.get(copied..).unwrap_or_default());
        out
    }

    /// Appends the replacement of one finding. A `partial` replacement that the detectors
    /// would still find something in (the visible tail of an IPv6 address can be an address
    /// itself) is replaced by a fully masked one.
    fn push_finding_replacement(
        &self,
        out: &mut String,
        detector: &ActiveDetector,
        span: &str,
        fit: Fit,
    ) {
        let label = Some(detector.name.as_str());
        let strategy = match detector.strategy {
            Strategy::Partial { keep_last } if keep_last > 0 => {
                let mut partial = String::new();
                push_replacement(
                    &mut partial,
                    &self.hasher,
                    detector.strategy,
                    label,
                    Span::Text(span),
                    fit,
                );
                if self.scanner.scan(&partial).is_empty() {
                    out.push_str(&partial);
                    return;
                }
                Strategy::Partial { keep_last: 0 }
            }
            strategy => strategy,
        };
        push_replacement(out, &self.hasher, strategy, label, Span::Text(span), fit);
    }
}

/// Renders naturally, and again with every replacement no longer than its span when the
/// natural result exceeds `max_chars`.
fn within(max_chars: Option<usize>, render: impl Fn(Fit) -> String) -> String {
    let natural = render(Fit::Natural);
    match max_chars {
        Some(limit) if natural.chars().count() > limit => render(Fit::NoLonger),
        _ => natural,
    }
}
