//! `iban`: International Bank Account Numbers, written without spaces or in the print format
//! (groups of four split by single spaces), accepted only when the country code is known, the
//! length is that country's, and the ISO 7064 mod-97 check holds. Uppercase only, as the
//! standard writes them.

use super::boundary::{before, continues_after, is_word};
use super::{Find, mod97_valid};
use crate::scan::Hits;
use regex::Regex;

/// Country code, check digits, then as many alphanumeric groups as follow; trimmed in code.
const PATTERN: &str = r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{1,4})+";

/// IBAN length per country (SWIFT IBAN registry).
#[rustfmt::skip]
const LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16),
    ("BG", 22), ("BH", 22), ("BI", 27), ("BR", 29), ("BY", 28), ("CH", 21), ("CR", 22),
    ("CY", 28), ("CZ", 24), ("DE", 22), ("DJ", 27), ("DK", 18), ("DO", 28), ("EE", 20),
    ("EG", 29), ("ES", 24), ("FI", 18), ("FK", 18), ("FO", 18), ("FR", 27), ("GB", 22),
    ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27), ("GT", 28), ("HR", 21), ("HU", 28),
    ("IE", 22), ("IL", 23), ("IQ", 23), ("IS", 26), ("IT", 27), ("JO", 30), ("KW", 30),
    ("KZ", 20), ("LB", 28), ("LC", 32), ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21),
    ("LY", 25), ("MC", 27), ("MD", 24), ("ME", 22), ("MK", 19), ("MN", 20), ("MR", 27),
    ("MT", 31), ("MU", 30), ("NI", 28), ("NL", 18), ("NO", 15), ("OM", 23), ("PK", 24),
    ("PL", 28), ("PS", 29), ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("RU", 33),
    ("SA", 24), ("SC", 31), ("SD", 18), ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27),
    ("SO", 23), ("ST", 25), ("SV", 28), ("TL", 23), ("TN", 24), ("TR", 26), ("UA", 29),
    ("VA", 22), ("VG", 24), ("XK", 20), ("YE", 30),
];

pub(super) fn build() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(Iban {
        regex: Regex::new(PATTERN)?,
    }))
}

struct Iban {
    regex: Regex,
}

impl Find for Iban {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for candidate in self.regex.find_iter(text) {
            let start = candidate.start();
            if before(text, start).is_some_and(is_word) {
                continue;
            }
            if let Some(length) = iban_length(candidate.as_str()) {
                let end = start + length;
                if !continues_after(text, end, &[]) {
                    hits.add(start, end);
                }
            }
        }
    }
}

/// The byte length of the IBAN at the start of `candidate`, if there is a valid one.
fn iban_length(candidate: &str) -> Option<usize> {
    let country = candidate.get(..2)?;
    let (_, expected) = LENGTHS.iter().find(|(code, _)| *code == country)?;
    let check = candidate.get(2..4)?;
    if matches!(check, "00" | "01" | "99") {
        return None;
    }
    let spaced = candidate.as_bytes().get(4) == Some(&b' ');
    let mut characters = 0usize;
    for (index, byte) in candidate.bytes().enumerate() {
        if byte == b' ' {
            if !spaced || !characters.is_multiple_of(4) {
                return None;
            }
            continue;
        }
        characters += 1;
        if characters == *expected {
            let length = index + 1;
            return candidate
                .get(..length)
                .is_some_and(mod97_valid)
                .then_some(length);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    fn ibans(text: &str) -> Vec<&str> {
        spans_of("iban", text)
    }

    #[test]
    fn accepts_plain_and_print_format() {
        assert_eq!(ibans("GB82WEST12345698765432"), ["GB82WEST12345698765432"]);
        assert_eq!(
            ibans("to GB82 WEST 1234 5698 7654 32 ASAP"),
            ["GB82 WEST 1234 5698 7654 32"]
        );
        assert_eq!(ibans("NO9386011117947."), ["NO9386011117947"]);
    }

    #[test]
    fn refuses_lookalikes() {
        assert!(ibans("GB82WEST12345698765433").is_empty());
        assert!(ibans("GB82WEST123456987654321").is_empty());
        assert!(ibans("XX82WEST12345698765432").is_empty());
        assert!(ibans("GB82 WEST 12345 698 7654 32").is_empty());
        assert!(ibans("SKUGB82WEST12345698765432").is_empty());
    }
}
