//! `us_ssn`: US Social Security numbers. The dashed form `AAA-GG-SSSS` is accepted anywhere; the
//! forms without dashes (`123456789`, `123 45 6789`) only right after a label such as `SSN` or
//! `Social Security number`, since nine bare digits are usually something else. Numbers the SSA
//! never issues are refused: area 000, 666 or 900–999, group 00, serial 0000.

use super::Find;
use super::boundary::{before, continues_after, is_word};
use crate::scan::Hits;
use regex::Regex;

/// A label then a number in any of the three forms, or a dashed number alone. The number is
/// the match from its first digit on.
const PATTERN: &str = r"(?i:(?-u:\b)(?:ssn|social[ \t]+security(?:[ \t]+(?:number|no))?)\.?)[^A-Za-z0-9\n]{0,5}[0-9]{3}[ \-]?[0-9]{2}[ \-]?[0-9]{4}|[0-9]{3}-[0-9]{2}-[0-9]{4}";

pub(super) fn build() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(UsSsn {
        regex: Regex::new(PATTERN)?,
    }))
}

struct UsSsn {
    regex: Regex,
}

impl Find for UsSsn {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for found in self.regex.find_iter(text) {
            let labelled = !found.as_str().starts_with(|c: char| c.is_ascii_digit());
            let Some(offset) = found.as_str().find(|c: char| c.is_ascii_digit()) else {
                continue;
            };
            let (start, end) = (found.start() + offset, found.end());
            let glued = |c: char| is_word(c) || matches!(c, '-' | '.' | '/');
            if !labelled && before(text, start).is_some_and(glued) {
                continue;
            }
            if continues_after(text, end, &['-', '.', '/']) {
                continue;
            }
            if text.get(start..end).is_some_and(issued_format) {
                hits.add(start, end);
            }
        }
    }
}

/// Same separator (or none) in both places, and parts the SSA assigns.
fn issued_format(number: &str) -> bool {
    let bytes = number.as_bytes();
    let (first, second) = match bytes.len() {
        9 => (None, None),
        11 => (bytes.get(3).copied(), bytes.get(6).copied()),
        _ => return false,
    };
    if first != second {
        return false;
    }
    let mut value = 0u32;
    for digit in number.bytes().filter(u8::is_ascii_digit) {
        value = value * 10 + u32::from(digit - b'0');
    }
    let area = value / 1_000_000;
    let group = (value / 10_000) % 100;
    let serial = value % 10_000;
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    fn ssns(text: &str) -> Vec<&str> {
        spans_of("us_ssn", text)
    }

    #[test]
    fn dashed_anywhere_plain_only_when_labelled() {
        assert_eq!(ssns("id 123-45-6789."), ["123-45-6789"]);
        assert_eq!(ssns("SSN: 123456789"), ["123456789"]);
        assert_eq!(ssns("social security no. 123 45 6789"), ["123 45 6789"]);
        assert!(ssns("123456789").is_empty());
        assert!(ssns("ssn 123-456789").is_empty());
    }

    #[test]
    fn refuses_unissued_and_embedded() {
        for text in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "12-123-45-6789",
            "123-45-6789-0",
            "A123-45-6789",
        ] {
            assert!(ssns(text).is_empty(), "{text}");
        }
    }
}
