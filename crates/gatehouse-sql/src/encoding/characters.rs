//! Where PostgreSQL puts the boundaries between characters, and which byte sequences it
//! refuses, for each layout of multi-byte encoding.
//!
//! These are the rules of the `mblen` and verifier functions in PostgreSQL's
//! `src/common/wchar.c`. Gatehouse splits client text with exactly these rules, then maps each
//! character on its own, so a character can never swallow or give up a byte the server reads
//! differently: in SJIS `0x95 0x5C` is one character because the server says so, whatever a
//! decoder would do with a `0x5C`.

/// How an encoding's characters are laid out in bytes. Bytes below 0x80 are single ASCII
/// characters in every layout; these rules are for a character whose first byte is 0x80 or
/// above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    /// Every byte is a character (LATIN1, WIN1252, KOI8R, ...).
    SingleByte,
    Utf8,
    /// EUC_JP: `0x8E` and one byte A1-DF (half-width kana), `0x8F` and two bytes A1-FE (JIS X
    /// 0212), or two bytes A1-FE.
    EucJp,
    /// EUC_CN: two bytes A1-FE.
    EucCn,
    /// EUC_KR: two bytes A1-FE (the same rule as EUC_CN; only the length named in an error for
    /// a stray `0x8F` differs).
    EucKr,
    /// SJIS: A1-DF alone (half-width kana), or a lead byte 81-9F or E0-FC and a trailing byte
    /// 40-7E or 80-FC.
    Sjis,
    /// BIG5, GBK and UHC: any byte 0x80 or above and any trailing byte but 0x00.
    TwoByte,
    /// GB18030: a lead byte 81-FE and a trailing byte 40-7E or 80-FE, or four bytes: 81-FE,
    /// 30-39, 81-FE, 30-39.
    Gb18030,
}

/// Whether a byte is in the range every byte of an EUC character takes.
fn is_euc_byte(byte: u8) -> bool {
    (0xA1..=0xFE).contains(&byte)
}

impl Layout {
    /// The length of the character at the start of `bytes`, whose first byte is 0x80 or above.
    /// When the server would refuse it, `Err` holds how many bytes its "invalid byte sequence"
    /// error shows (the length the first byte announces, at most what is left).
    pub(super) fn character_length(self, bytes: &[u8]) -> Result<usize, usize> {
        let lead = bytes.first().copied().unwrap_or(0);
        let byte = |at: usize| bytes.get(at).copied().unwrap_or(0);
        let announced = self.announced_length(lead, byte(1));
        let valid = bytes.len() >= announced
            && match self {
                Layout::SingleByte => true,
                Layout::Utf8 => is_legal_utf8(bytes, announced),
                Layout::EucJp => match lead {
                    0x8E => (0xA1..=0xDF).contains(&byte(1)),
                    0x8F => is_euc_byte(byte(1)) && is_euc_byte(byte(2)),
                    _ => is_euc_byte(lead) && is_euc_byte(byte(1)),
                },
                Layout::EucCn | Layout::EucKr => is_euc_byte(lead) && is_euc_byte(byte(1)),
                Layout::Sjis => {
                    announced == 1
                        || (matches!(lead, 0x81..=0x9F | 0xE0..=0xFC)
                            && matches!(byte(1), 0x40..=0x7E | 0x80..=0xFC))
                }
                Layout::TwoByte => byte(1) != 0,
                Layout::Gb18030 => {
                    (0x81..=0xFE).contains(&lead)
                        && if announced == 4 {
                            (0x81..=0xFE).contains(&byte(2)) && (0x30..=0x39).contains(&byte(3))
                        } else {
                            matches!(byte(1), 0x40..=0x7E | 0x80..=0xFE)
                        }
                }
            };
        if valid {
            Ok(announced)
        } else {
            Err(announced.min(bytes.len()))
        }
    }

    /// The length the server's `mblen` gives a character from its first two bytes.
    fn announced_length(self, lead: u8, second: u8) -> usize {
        match self {
            Layout::SingleByte => 1,
            Layout::Utf8 => match lead {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            },
            Layout::EucJp | Layout::EucKr => match lead {
                0x8F => 3,
                _ => 2,
            },
            Layout::Sjis => match lead {
                0xA1..=0xDF => 1,
                _ => 2,
            },
            Layout::EucCn | Layout::TwoByte => 2,
            Layout::Gb18030 => match second {
                0x30..=0x39 => 4,
                _ => 2,
            },
        }
    }
}

/// `pg_utf8_islegal`: RFC 3629, so no overlong forms, no surrogates, nothing above U+10FFFF.
fn is_legal_utf8(bytes: &[u8], length: usize) -> bool {
    let lead = bytes.first().copied().unwrap_or(0);
    let second = bytes.get(1).copied().unwrap_or(0);
    let is_continuation = |at: usize| {
        bytes
            .get(at)
            .is_some_and(|byte| (0x80..=0xBF).contains(byte))
    };
    let second_ok = match lead {
        0xE0 => (0xA0..=0xBF).contains(&second),
        0xED => (0x80..=0x9F).contains(&second),
        0xF0 => (0x90..=0xBF).contains(&second),
        0xF4 => (0x80..=0x8F).contains(&second),
        _ => is_continuation(1),
    };
    (2..=4).contains(&length)
        && (0xC2..=0xF4).contains(&lead)
        && second_ok
        && (2..length).all(is_continuation)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn sjis_trailing_bytes_may_be_ascii() {
        assert_eq!(Layout::Sjis.character_length(&[0x95, 0x5C, 0x27]), Ok(2));
        assert_eq!(Layout::Sjis.character_length(&[0xB1, 0x5C]), Ok(1));
        assert_eq!(Layout::Sjis.character_length(&[0x81, 0x20]), Err(2));
        assert_eq!(Layout::Sjis.character_length(&[0x80, 0x40]), Err(2));
        assert_eq!(Layout::Sjis.character_length(&[0x81]), Err(1));
    }

    #[test]
    fn two_byte_encodings_take_any_trailing_byte_but_zero() {
        assert_eq!(Layout::TwoByte.character_length(&[0xA5, 0x5C]), Ok(2));
        assert_eq!(Layout::TwoByte.character_length(&[0xA1, 0x27]), Ok(2));
        assert_eq!(Layout::TwoByte.character_length(&[0xA1, 0x00]), Err(2));
        assert_eq!(Layout::TwoByte.character_length(&[0xA1]), Err(1));
    }

    #[test]
    fn gb18030_looks_at_the_second_byte() {
        let layout = Layout::Gb18030;
        assert_eq!(layout.character_length(&[0x81, 0x30, 0x81, 0x30]), Ok(4));
        assert_eq!(layout.character_length(&[0x81, 0x40]), Ok(2));
        assert_eq!(layout.character_length(&[0x81, 0x30, 0x81]), Err(3));
        assert_eq!(layout.character_length(&[0x81, 0x30, 0x20, 0x30]), Err(4));
        assert_eq!(layout.character_length(&[0x80, 0x40]), Err(2));
        assert_eq!(layout.character_length(&[0x81, 0x7F]), Err(2));
    }

    #[test]
    fn euc_bytes_are_all_high() {
        assert_eq!(Layout::EucJp.character_length(&[0x8E, 0xB1]), Ok(2));
        assert_eq!(Layout::EucJp.character_length(&[0x8F, 0xA1, 0xA1]), Ok(3));
        assert_eq!(Layout::EucJp.character_length(&[0xA4, 0xA2]), Ok(2));
        assert_eq!(Layout::EucJp.character_length(&[0x8E, 0x41]), Err(2));
        assert_eq!(Layout::EucJp.character_length(&[0xA4, 0x5C]), Err(2));
        assert_eq!(Layout::EucKr.character_length(&[0xB0, 0xA1]), Ok(2));
        assert_eq!(Layout::EucKr.character_length(&[0x8F, 0xA1]), Err(2));
        assert_eq!(Layout::EucCn.character_length(&[0xA0, 0xA1]), Err(2));
    }

    #[test]
    fn utf8_follows_rfc_3629() {
        let layout = Layout::Utf8;
        assert_eq!(layout.character_length("é".as_bytes()), Ok(2));
        assert_eq!(layout.character_length("表".as_bytes()), Ok(3));
        assert_eq!(layout.character_length("𐀀".as_bytes()), Ok(4));
        assert_eq!(layout.character_length(&[0xC0, 0xAF]), Err(2));
        assert_eq!(layout.character_length(&[0xED, 0xA0, 0x80]), Err(3));
        assert_eq!(layout.character_length(&[0xF4, 0x90, 0x80, 0x80]), Err(4));
        assert_eq!(layout.character_length(&[0xE8, 0xA1]), Err(2));
        assert_eq!(layout.character_length(&[0x80]), Err(1));
        assert_eq!(layout.character_length(&[0xF8, 0x88]), Err(1));
    }
}
