//! The check-digit algorithms that turn "looks like a number" into "is a valid number": Luhn
//! for payment cards and ISO 7064 mod-97 for IBANs. Also used by custom detectors' validators.

/// Luhn check over the ASCII digits of `text` (other characters are ignored). Needs at least two
/// digits.
pub(crate) fn luhn_valid(text: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for digit in text.bytes().rev().filter(u8::is_ascii_digit) {
        let value = u32::from(digit - b'0');
        sum += if count % 2 == 1 {
            let doubled = value * 2;
            if doubled > 9 { doubled - 9 } else { doubled }
        } else {
            value
        };
        count += 1;
    }
    count >= 2 && sum.is_multiple_of(10)
}

/// ISO 13616 check: the first four characters moved to the end, letters read as 10..35, the
/// whole as a number mod 97 must be 1. Spaces are ignored; anything else non-alphanumeric fails.
pub(crate) fn mod97_valid(text: &str) -> bool {
    let chars = || text.bytes().filter(|b| *b != b' ');
    if chars().count() < 5 || !chars().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let rearranged = chars().skip(4).chain(chars().take(4));
    let mut remainder = 0u32;
    for b in rearranged {
        remainder = if b.is_ascii_digit() {
            (remainder * 10 + u32::from(b - b'0')) % 97
        } else {
            (remainder * 100 + u32::from(b.to_ascii_uppercase() - b'A') + 10) % 97
        };
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("0"));
    }

    #[test]
    fn mod97() {
        assert!(mod97_valid("GB82WEST12345698765432"));
        assert!(mod97_valid("GB82 WEST 1234 5698 7654 32"));
        assert!(mod97_valid("DE89370400440532013000"));
        assert!(!mod97_valid("DE89370400440532013001"));
        assert!(!mod97_valid("DE89-3704"));
        assert!(!mod97_valid("DE8"));
    }
}
