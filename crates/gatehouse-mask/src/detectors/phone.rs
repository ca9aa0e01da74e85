//! `phone`: telephone numbers in the forms people write them, and only those, so that dates,
//! ISBNs, prices, order numbers and bare integers stay untouched:
//!
//! - international: `+` and 8–15 digits, plain (`+14155552671`) or grouped by single spaces,
//!   dashes or dots, with at most one parenthesised group (`+1 (415) 555-2671`,
//!   `+44 20 7946 0958`, `+33.1.23.45.67.89`);
//! - North American: `(415) 555-2671`, `415-555-2671`, `415.555.2671`, `415 555 2671`,
//!   `1-800-555-0199` (area code starting 2–9, the same separator twice);
//! - national with a trunk `0`: `020 7946 0958`, `0161 496 0000`, `07700 900123`,
//!   `01 23 45 67 89` (10–11 digits, one kind of separator).
//!
//! Ten digits with no separator and no `+` are not taken for a phone number.

use super::Find;
use super::boundary::{before, continues_after, is_word};
use crate::scan::Hits;
use regex::Regex;

const PATTERN: &str = concat!(
    r"\+[1-9][0-9 ().\-]{5,24}[0-9]",
    r"|(?:1[ .\-])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}",
    r"|0[1-9][0-9]{1,3}[ \-][0-9]{3,4}[ \-][0-9]{3,4}",
    r"|0[1-9][0-9]{3}[ \-][0-9]{6}",
    r"|0[1-9](?:[ .\-][0-9]{2}){4}",
);

/// Separators allowed between two digit groups of an international number.
const INTERNATIONAL_SEPARATORS: &[&str] = &[" ", "-", ".", "(", " (", ")", ") ", ")-", "-("];
const MAX_GROUPS: usize = 16;

pub(super) fn build() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(Phone {
        regex: Regex::new(PATTERN)?,
    }))
}

struct Phone {
    regex: Regex,
}

impl Find for Phone {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for candidate in self.regex.find_iter(text) {
            let start = candidate.start();
            let number = candidate.as_str();
            let glued = |c: char| is_word(c) || matches!(c, '.' | '-' | '/' | '+');
            if before(text, start).is_some_and(glued) {
                continue;
            }
            let (length, joiners): (_, &[char]) = match number.as_bytes().first() {
                Some(b'+') => (international_length(number), &['.', '-', '/', ':', ',']),
                Some(b'0') => (
                    one_separator_kind(number).then_some(number.len()),
                    &['.', '-', '/', ':', ',', ' '],
                ),
                _ => (
                    north_american(number).then_some(number.len()),
                    &['.', '-', '/', ':', ',', ' '],
                ),
            };
            if let Some(length) = length
                && !continues_after(text, start + length, joiners)
                && (number.starts_with('+') || !follows_digit_group(text, start))
            {
                hits.add(start, start + length);
            }
        }
    }
}

/// Whether a separator and a digit come right before `start`: the match is then the tail of a
/// longer run of digit groups (an account number, a sequence of numbers), not a phone number.
fn follows_digit_group(text: &str, start: usize) -> bool {
    let mut head = text.get(..start).unwrap_or_default().chars().rev();
    matches!(head.next(), Some(' ' | '-' | '.')) && head.next().is_some_and(|c| c.is_ascii_digit())
}

/// Checks the grouping of a `+` number and returns how much of it is the number: trailing
/// groups are dropped while there are more than 15 digits.
fn international_length(number: &str) -> Option<usize> {
    let body = number.get(1..)?;
    // (start, end) of each digit group, relative to `number`.
    let mut groups = [(0usize, 0usize); MAX_GROUPS];
    let mut count = 0usize;
    let mut group_start: Option<usize> = None;
    for (index, c) in body.char_indices() {
        let at = index + 1;
        match (c.is_ascii_digit(), group_start) {
            (true, None) => group_start = Some(at),
            (false, Some(from)) => {
                *groups.get_mut(count)? = (from, at);
                count += 1;
                group_start = None;
            }
            _ => {}
        }
    }
    *groups.get_mut(count)? = (group_start?, number.len());
    count += 1;
    let groups = groups.get(..count)?;

    let mut dotted = false;
    let mut undotted = false;
    let mut opened = 0usize;
    let mut closed = 0usize;
    for pair in groups.windows(2) {
        let [(_, previous_end), (next_start, _)] = pair else {
            return None;
        };
        let separator = number.get(*previous_end..*next_start)?;
        if !INTERNATIONAL_SEPARATORS.contains(&separator) {
            return None;
        }
        dotted |= separator == ".";
        undotted |= separator != ".";
        opened += separator.matches('(').count();
        closed += separator.matches(')').count();
        if closed > opened || opened > 1 {
            return None;
        }
    }
    if (dotted && undotted) || opened != closed {
        return None;
    }

    let mut digits: usize = groups.iter().map(|(from, to)| to - from).sum();
    let mut last = groups.len();
    while digits > 15 && last > 1 {
        last -= 1;
        let (from, to) = *groups.get(last)?;
        digits -= to - from;
    }
    let (_, end) = *groups.get(last.checked_sub(1)?)?;
    let cut_inside_parentheses =
        number.get(..end)?.matches('(').count() != number.get(..end)?.matches(')').count();
    ((8..=15).contains(&digits) && !cut_inside_parentheses).then_some(end)
}

/// `(415) 555-2671` or `415-555-2671` with the same separator twice (an optional leading `1`
/// may use any).
fn north_american(number: &str) -> bool {
    if number.contains(')') {
        return true;
    }
    let local = number
        .get(number.len().saturating_sub(12)..)
        .unwrap_or_default();
    let bytes = local.as_bytes();
    bytes.get(3) == bytes.get(7)
}

fn one_separator_kind(number: &str) -> bool {
    let mut separators = number.bytes().filter(|b| !b.is_ascii_digit());
    match separators.next() {
        Some(first) => separators.all(|other| other == first),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    fn phones(text: &str) -> Vec<&str> {
        spans_of("phone", text)
    }

    #[test]
    fn accepts_written_forms() {
        for number in [
            "+14155552671",
            "+1 (415) 555-2671",
            "+44 20 7946 0958",
            "+33 1 23 45 67 89",
            "+33.1.23.45.67.89",
            "+81-3-1234-5678",
            "(415) 555-2671",
            "(415)555-2671",
            "415-555-2671",
            "415.555.2671",
            "415 555 2671",
            "1-800-555-0199",
            "020 7946 0958",
            "0161 496 0000",
            "07700 900123",
            "01 23 45 67 89",
        ] {
            let text = format!("call {number}, thanks");
            assert_eq!(phones(&text), [number], "{number}");
        }
    }

    #[test]
    fn refuses_lookalikes() {
        for text in [
            "2023-01-15",
            "15.01.2023",
            "ISBN 978-0-596-52068-7",
            "ISBN 0-306-40615-2",
            "4155552671",
            "order 415-555-2671-01",
            "415-555.2671",
            "price 1,234,567.89",
            "+1234",
            "+1234567890123456789",
            "ORD-415-555-2671",
            "115-555-2671",
            "1e+12345678",
            "020-7946 0958",
            "FR76 3000 6000 0112 3456 7890 18",
            "020 7946 0958 2",
        ] {
            assert!(phones(text).is_empty(), "{text}");
        }
    }
}
