//! The cheap tests that decide whether a detector's regex runs on a value at all: literals found
//! in one Aho-Corasick pass shared by all detectors, and counts of a few kinds of bytes taken in
//! one loop. Most values fire no trigger and cost only those two passes.

use std::cell::Cell;

/// When a detector runs: if one of `literals` occurs, or if the value reaches one of `counts`.
///
/// Literals are matched case-sensitively and are all at least three bytes long: that keeps
/// the automaton's SIMD prefilter on, which makes the pass several times faster on prose.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trigger {
    pub(crate) literals: &'static [&'static str],
    pub(crate) counts: &'static [ByteCounts],
}

impl Trigger {
    pub(crate) const fn literals(literals: &'static [&'static str]) -> Trigger {
        Trigger {
            literals,
            counts: &[],
        }
    }

    pub(crate) const fn counts(counts: &'static [ByteCounts]) -> Trigger {
        Trigger {
            literals: &[],
            counts,
        }
    }
}

/// Minimum numbers of bytes of the kinds the detectors without a literal need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteCounts {
    pub(crate) length: usize,
    pub(crate) digits: usize,
    /// The most digits in one run where digits are separated by at most one space or dash
    /// (`4111 1111 1111 1111` is 16, `2024-06-05 12:41` is 10).
    pub(crate) digit_run: usize,
    pub(crate) uppercase: usize,
    pub(crate) dots: usize,
    pub(crate) colons: usize,
    /// Occurrences of `::`.
    pub(crate) double_colons: usize,
    pub(crate) at_signs: usize,
}

impl ByteCounts {
    pub(crate) const NONE: ByteCounts = ByteCounts {
        length: 0,
        digits: 0,
        digit_run: 0,
        uppercase: 0,
        dots: 0,
        colons: 0,
        double_colons: 0,
        at_signs: 0,
    };
}

/// The [`ByteCounts`] of one text. The plain counts come from one branch-free loop the
/// compiler vectorizes; `digit_run` and `double_colons` need a second, stateful pass, taken only
/// when a detector asks and the plain counts allow the answer to matter.
pub(crate) struct TextCounts<'t> {
    text: &'t str,
    plain: ByteCounts,
    digit_run: Cell<Option<usize>>,
    double_colons: Cell<Option<usize>>,
}

impl<'t> TextCounts<'t> {
    pub(crate) fn of(text: &'t str) -> Self {
        let mut plain = ByteCounts {
            length: text.len(),
            ..ByteCounts::NONE
        };
        // Byte-wide counters over chunks short enough not to overflow let the compiler turn
        // this into a handful of SIMD compares per 16 bytes.
        for chunk in text.as_bytes().chunks(u8::MAX as usize) {
            let (mut digits, mut uppercase, mut dots, mut colons, mut at_signs) =
                (0u8, 0u8, 0u8, 0u8, 0u8);
            for &byte in chunk {
                digits += u8::from(byte.wrapping_sub(b'0') < 10);
                uppercase += u8::from(byte.wrapping_sub(b'A') < 26);
                dots += u8::from(byte == b'.');
                colons += u8::from(byte == b':');
                at_signs += u8::from(byte == b'@');
            }
            plain.digits += usize::from(digits);
            plain.uppercase += usize::from(uppercase);
            plain.dots += usize::from(dots);
            plain.colons += usize::from(colons);
            plain.at_signs += usize::from(at_signs);
        }
        TextCounts {
            text,
            plain,
            digit_run: Cell::new(None),
            double_colons: Cell::new(None),
        }
    }

    /// Whether the text has at least as many of each kind as `minimum`.
    pub(crate) fn reach(&self, minimum: &ByteCounts) -> bool {
        let plain = &self.plain;
        plain.length >= minimum.length
            && plain.digits >= minimum.digits.max(minimum.digit_run)
            && plain.uppercase >= minimum.uppercase
            && plain.dots >= minimum.dots
            && plain.colons >= minimum.colons.max(minimum.double_colons * 2)
            && plain.at_signs >= minimum.at_signs
            && (minimum.digit_run == 0 || self.digit_run() >= minimum.digit_run)
            && (minimum.double_colons == 0 || self.double_colons() >= minimum.double_colons)
    }

    fn digit_run(&self) -> usize {
        remembered(&self.digit_run, || longest_digit_run(self.text))
    }

    fn double_colons(&self) -> usize {
        remembered(&self.double_colons, || self.text.matches("::").count())
    }
}

fn remembered(cell: &Cell<Option<usize>>, compute: impl FnOnce() -> usize) -> usize {
    if let Some(value) = cell.get() {
        return value;
    }
    let value = compute();
    cell.set(Some(value));
    value
}

/// The most digits in one run where digits are separated by at most one space or dash.
fn longest_digit_run(text: &str) -> usize {
    let mut longest = 0usize;
    let mut run = 0usize;
    let mut after_separator = false;
    for &byte in text.as_bytes() {
        if byte.is_ascii_digit() {
            run += 1;
            longest = longest.max(run);
            after_separator = false;
        } else if matches!(byte, b' ' | b'-') && run > 0 && !after_separator {
            after_separator = true;
        } else {
            run = 0;
            after_separator = false;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::{ByteCounts, TextCounts};

    fn run(text: &str) -> usize {
        TextCounts::of(text).digit_run()
    }

    #[test]
    fn digit_runs_allow_single_separators() {
        assert_eq!(run("4111 1111 1111 1111"), 16);
        assert_eq!(run("2024-06-05 12:41:03"), 10);
        assert_eq!(run("12  34"), 2);
        assert_eq!(run("12 -34"), 2);
    }

    #[test]
    fn reaches_every_kind() {
        let counts = TextCounts::of("a@b.c: D::1");
        let at = |minimum| counts.reach(&minimum);
        assert!(at(ByteCounts {
            at_signs: 1,
            dots: 1,
            uppercase: 1,
            ..ByteCounts::NONE
        }));
        assert!(at(ByteCounts {
            colons: 3,
            double_colons: 1,
            length: 11,
            ..ByteCounts::NONE
        }));
        assert!(!at(ByteCounts {
            double_colons: 2,
            ..ByteCounts::NONE
        }));
        assert!(!at(ByteCounts {
            digit_run: 2,
            ..ByteCounts::NONE
        }));
        assert!(at(ByteCounts {
            digit_run: 1,
            digits: 1,
            ..ByteCounts::NONE
        }));
    }
}
