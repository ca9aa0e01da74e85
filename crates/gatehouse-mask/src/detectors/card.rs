//! `payment_card`: 13–19 digit card numbers, written plain or in groups split by single spaces
//! or dashes (one kind per number), accepted only with a known issuer prefix, a length that
//! issuer uses and a valid Luhn check digit.
//!
//! A digit run is split into its groups and every run of whole groups is tried (longest first),
//! so a card followed by an expiry year or preceded by another number is still found, while a
//! longer number is never cut in the middle of a group.

use super::boundary::{before, continues_after, is_word};
use super::{Find, luhn_valid};
use crate::scan::Hits;
use regex::Regex;

/// Up to 24 digits in single-separator groups; the groups are sorted out in code.
const PATTERN: &str = r"[0-9]{4}(?:[ \-]?[0-9]){9,20}";
const MAX_GROUPS: usize = 24;

const THIRTEEN_TO_NINETEEN: &[usize] = &[13, 14, 15, 16, 17, 18, 19];
const FOURTEEN_TO_NINETEEN: &[usize] = &[14, 15, 16, 17, 18, 19];
const SIXTEEN_TO_NINETEEN: &[usize] = &[16, 17, 18, 19];

/// An issuer's prefix range (over the first `digits` digits) and the lengths it issues.
struct Issuer {
    digits: u32,
    low: u32,
    high: u32,
    lengths: &'static [usize],
}

const fn issuer(digits: u32, low: u32, high: u32, lengths: &'static [usize]) -> Issuer {
    Issuer {
        digits,
        low,
        high,
        lengths,
    }
}

const ISSUERS: &[Issuer] = &[
    issuer(1, 4, 4, &[13, 16, 19]),              // Visa
    issuer(2, 51, 55, &[16]),                    // Mastercard
    issuer(4, 2221, 2720, &[16]),                // Mastercard 2-series
    issuer(2, 34, 34, &[15]),                    // American Express
    issuer(2, 37, 37, &[15]),                    // American Express
    issuer(4, 6011, 6011, SIXTEEN_TO_NINETEEN),  // Discover
    issuer(3, 644, 649, SIXTEEN_TO_NINETEEN),    // Discover
    issuer(2, 65, 65, SIXTEEN_TO_NINETEEN),      // Discover
    issuer(3, 300, 305, FOURTEEN_TO_NINETEEN),   // Diners Club
    issuer(2, 36, 36, FOURTEEN_TO_NINETEEN),     // Diners Club
    issuer(2, 38, 39, FOURTEEN_TO_NINETEEN),     // Diners Club
    issuer(4, 3528, 3589, SIXTEEN_TO_NINETEEN),  // JCB
    issuer(2, 62, 62, SIXTEEN_TO_NINETEEN),      // UnionPay
    issuer(4, 2200, 2204, SIXTEEN_TO_NINETEEN),  // Mir
    issuer(4, 5018, 5018, THIRTEEN_TO_NINETEEN), // Maestro
    issuer(4, 5020, 5020, THIRTEEN_TO_NINETEEN), // Maestro
    issuer(4, 5038, 5038, THIRTEEN_TO_NINETEEN), // Maestro
    issuer(4, 5893, 5893, THIRTEEN_TO_NINETEEN), // Maestro
    issuer(4, 6304, 6304, THIRTEEN_TO_NINETEEN), // Maestro
    issuer(4, 6759, 6759, THIRTEEN_TO_NINETEEN), // Maestro
    issuer(4, 6761, 6763, THIRTEEN_TO_NINETEEN), // Maestro
];

pub(super) fn build() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(PaymentCard {
        regex: Regex::new(PATTERN)?,
    }))
}

struct PaymentCard {
    regex: Regex,
}

impl Find for PaymentCard {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for candidate in self.regex.find_iter(text) {
            find_in_groups(text, candidate.start(), candidate.as_str(), hits);
        }
    }
}

/// Splits a candidate into digit groups and reports runs of whole groups that are valid cards.
fn find_in_groups(text: &str, start: usize, candidate: &str, hits: &mut Hits<'_>) {
    // Byte ranges of the digit groups within the candidate.
    let mut groups = [(0usize, 0usize); MAX_GROUPS];
    let mut count = 0usize;
    let mut group_start = 0usize;
    for (index, byte) in candidate.bytes().enumerate() {
        if !byte.is_ascii_digit() {
            if let Some(slot) = groups.get_mut(count) {
                *slot = (group_start, index);
            }
            count += 1;
            group_start = index + 1;
        }
    }
    if let Some(slot) = groups.get_mut(count) {
        *slot = (group_start, candidate.len());
    }
    count += 1;
    // A digit right after the candidate means its last group was cut by the length limit.
    let end = start + candidate.len();
    let usable = if continues_after(text, end, &[]) {
        count - 1
    } else {
        count
    };
    let groups = groups.get(..usable.min(MAX_GROUPS)).unwrap_or_default();

    let mut first = 0;
    while first < groups.len() {
        match longest_card_from(text, start, candidate, groups, first, hits) {
            Some(last) => first = last + 1,
            None => first += 1,
        }
    }
}

/// The longest run of groups starting at `first` that is a valid card; reports it and returns
/// the index of its last group.
fn longest_card_from(
    text: &str,
    start: usize,
    candidate: &str,
    groups: &[(usize, usize)],
    first: usize,
    hits: &mut Hits<'_>,
) -> Option<usize> {
    let (from, _) = *groups.get(first)?;
    if first == 0 && before(text, start).is_some_and(|c| is_word(c) || c == '.') {
        return None;
    }
    for last in (first..groups.len()).rev() {
        let Some(&(_, to)) = groups.get(last) else {
            continue;
        };
        let run = groups.get(first..=last).unwrap_or_default();
        let digits: usize = run.iter().map(|(a, b)| b - a).sum();
        if !(13..=19).contains(&digits) || (run.len() > 1 && !grouping_plausible(candidate, run)) {
            continue;
        }
        if continues_after(text, start + to, &['.', ',']) {
            continue;
        }
        let Some(number) = candidate.get(from..to) else {
            continue;
        };
        if issuer_accepts(number, digits) && luhn_valid(number) {
            hits.add(start + from, start + to);
            return Some(last);
        }
    }
    None
}

/// Printed cards start with a group of four, the other groups have three to six digits, and
/// one kind of separator is used throughout.
fn grouping_plausible(candidate: &str, run: &[(usize, usize)]) -> bool {
    let mut lengths = run.iter().map(|(a, b)| b - a);
    let mut separators = run.iter().skip(1).map(|(start, _)| {
        start
            .checked_sub(1)
            .and_then(|at| candidate.as_bytes().get(at))
    });
    let first_separator = separators.next();
    lengths.next() == Some(4)
        && lengths.all(|length| (3..=6).contains(&length))
        && separators.all(|separator| Some(separator) == first_separator)
}

fn issuer_accepts(number: &str, digits: usize) -> bool {
    let mut prefix = 0u32;
    for digit in number.bytes().filter(u8::is_ascii_digit).take(4) {
        prefix = prefix * 10 + u32::from(digit - b'0');
    }
    ISSUERS.iter().any(|issuer| {
        let head = prefix / 10u32.pow(4 - issuer.digits);
        (issuer.low..=issuer.high).contains(&head) && issuer.lengths.contains(&digits)
    })
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    fn cards(text: &str) -> Vec<&str> {
        spans_of("payment_card", text)
    }

    #[test]
    fn accepts_issuers_and_formats() {
        assert_eq!(cards("4111111111111111"), ["4111111111111111"]);
        assert_eq!(
            cards("pay 4111 1111 1111 1111 now"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(cards("5555-5555-5555-4444"), ["5555-5555-5555-4444"]);
        assert_eq!(cards("amex 3782 822463 10005"), ["3782 822463 10005"]);
        assert_eq!(cards("4111 1111 1111 1111 2027"), ["4111 1111 1111 1111"]);
        assert_eq!(
            cards("ref 2024 4111 1111 1111 1111"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(
            cards("ref 2024 4111-1111-1111-1111"),
            ["4111-1111-1111-1111"]
        );
    }

    #[test]
    fn refuses_lookalikes() {
        assert!(cards("4111111111111112").is_empty());
        assert!(cards("1234567812345670").is_empty());
        assert!(cards("41111111111111111111111").is_empty());
        assert!(cards("4111 1111-1111 1111").is_empty());
        assert!(cards("x4111111111111111").is_empty());
        assert!(cards("0.4111111111111111").is_empty());
        assert!(cards("41 1111 1111 1111 11").is_empty());
    }
}
