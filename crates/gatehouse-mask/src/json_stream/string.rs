//! JSON strings one byte at a time, so a string may be split across chunks anywhere (inside an
//! escape, a surrogate pair or a UTF-8 character), and the writing of replacement strings.
//!
//! The scanner checks everything RFC 8259 asks of a string (no control characters, only the
//! escapes it lists, `\uXXXX` surrogates in high-low pairs) and that the bytes are UTF-8, and
//! says what each byte decodes to, so keys are compared, and values scanned, as their text and
//! not as written: `"\u0064ata"` is the key `data`.

/// What one byte of a string turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StrByte {
    /// Content as it is: an ASCII character or a byte of a UTF-8 character.
    Content,
    /// Part of an escape sequence that has not decoded to anything yet.
    Escape,
    /// The last byte of an escape sequence, which decodes to this character.
    Decoded(char),
    /// The closing quote.
    End,
}

/// Where the scanner is inside a string (after its opening quote).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StrScanner {
    escape: Escape,
    /// Continuation bytes the current UTF-8 character still needs, and the range the next one
    /// must lie in (narrower than `80..=BF` after some lead bytes, which rules out overlong
    /// forms, surrogates and values past U+10FFFF).
    utf8_left: u8,
    utf8_low: u8,
    utf8_high: u8,
}

#[derive(Debug, Clone, Copy, Default)]
enum Escape {
    #[default]
    None,
    /// After `\`.
    Backslash,
    /// After `\u` and `digits` hex digits making `value`; `high` is the high surrogate this
    /// escape must complete, if it is the second of a pair.
    Hex {
        high: Option<u16>,
        digits: u8,
        value: u16,
    },
    /// After a high surrogate escape: its low half must follow, starting with `\`.
    LowBackslash { high: u16 },
    /// After a high surrogate escape and `\`.
    LowU { high: u16 },
}

impl StrScanner {
    /// Whether a plain byte (see [`is_plain`]) is content here: no escape or UTF-8 character is
    /// under way. Runs of plain bytes can then be taken at once.
    pub(super) fn idle(&self) -> bool {
        matches!(self.escape, Escape::None) && self.utf8_left == 0
    }

    /// Reads one byte; the error says what is wrong with the string.
    pub(super) fn byte(&mut self, byte: u8) -> Result<StrByte, &'static str> {
        if self.utf8_left > 0 {
            if !(self.utf8_low..=self.utf8_high).contains(&byte) {
                return Err("a string is not valid UTF-8");
            }
            self.utf8_left -= 1;
            (self.utf8_low, self.utf8_high) = (0x80, 0xBF);
            return Ok(StrByte::Content);
        }
        match self.escape {
            Escape::None => self.plain_or_lead(byte),
            Escape::Backslash => {
                let decoded = match byte {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        self.escape = Escape::Hex {
                            high: None,
                            digits: 0,
                            value: 0,
                        };
                        return Ok(StrByte::Escape);
                    }
                    _ => return Err("an unknown escape sequence in a string"),
                };
                self.escape = Escape::None;
                Ok(StrByte::Decoded(decoded))
            }
            Escape::Hex {
                high,
                digits,
                value,
            } => {
                let digit = char::from(byte)
                    .to_digit(16)
                    .ok_or("a `\\u` escape without four hex digits")?;
                // Four digits of at most 15 fit a u16.
                let value = (value << 4) | u16::try_from(digit).unwrap_or(0);
                if digits < 3 {
                    self.escape = Escape::Hex {
                        high,
                        digits: digits + 1,
                        value,
                    };
                    return Ok(StrByte::Escape);
                }
                self.code_unit(high, value)
            }
            Escape::LowBackslash { high } if byte == b'\\' => {
                self.escape = Escape::LowU { high };
                Ok(StrByte::Escape)
            }
            Escape::LowU { high } if byte == b'u' => {
                self.escape = Escape::Hex {
                    high: Some(high),
                    digits: 0,
                    value: 0,
                };
                Ok(StrByte::Escape)
            }
            Escape::LowBackslash { .. } | Escape::LowU { .. } => {
                Err("a high surrogate escape not followed by a low surrogate escape")
            }
        }
    }

    fn plain_or_lead(&mut self, byte: u8) -> Result<StrByte, &'static str> {
        let (left, low, high) = match byte {
            b'"' => return Ok(StrByte::End),
            b'\\' => {
                self.escape = Escape::Backslash;
                return Ok(StrByte::Escape);
            }
            0x00..=0x1F => return Err("a control character in a string (it must be escaped)"),
            0x20..=0x7F => return Ok(StrByte::Content),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xE1..=0xEF => (2, 0x80, 0xBF),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err("a string is not valid UTF-8"),
        };
        (self.utf8_left, self.utf8_low, self.utf8_high) = (left, low, high);
        Ok(StrByte::Content)
    }

    /// The fourth hex digit of a `\u` escape: a character, the first half of a pair, or the
    /// second half completing `high`.
    fn code_unit(&mut self, high: Option<u16>, unit: u16) -> Result<StrByte, &'static str> {
        let is_high = (0xD800..=0xDBFF).contains(&unit);
        let is_low = (0xDC00..=0xDFFF).contains(&unit);
        let code = match high {
            None if is_high => {
                self.escape = Escape::LowBackslash { high: unit };
                return Ok(StrByte::Escape);
            }
            None if is_low => return Err("a low surrogate escape without a high one before it"),
            None => u32::from(unit),
            Some(high) if is_low => {
                0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00)
            }
            Some(_) => {
                return Err("a high surrogate escape not followed by a low surrogate escape");
            }
        };
        self.escape = Escape::None;
        char::from_u32(code)
            .map(StrByte::Decoded)
            .ok_or("a `\\u` escape that is not a character")
    }
}

/// A byte that is content when the scanner is [`idle`](StrScanner::idle): printable ASCII
/// other than `"` and `\`.
pub(super) fn is_plain(byte: u8) -> bool {
    (0x20..0x80).contains(&byte) && byte != b'"' && byte != b'\\'
}

/// Appends `text` as a JSON string: quotes, `"` and `\` escaped, control characters escaped,
/// everything else (non-ASCII included) as it is.
pub(super) fn push_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x00..=0x1F => {
                let high = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
                let low = HEX.get(usize::from(byte & 0xF)).copied().unwrap_or(b'0');
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', high, low]);
            }
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoded content of the string whose body (after the opening quote) is `body`.
    fn decode(body: &[u8]) -> Result<String, &'static str> {
        let mut scanner = StrScanner::default();
        let mut text = Vec::new();
        for &byte in body {
            match scanner.byte(byte)? {
                StrByte::Content => text.push(byte),
                StrByte::Escape => {}
                StrByte::Decoded(c) => {
                    text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                }
                StrByte::End => return String::from_utf8(text).map_err(|_| "not UTF-8"),
            }
        }
        Err("unterminated")
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(
            decode(br#"a\"b\\c\/d\b\f\n\r\t""#).as_deref(),
            Ok("a\"b\\c/d\u{8}\u{c}\n\r\t")
        );
        assert_eq!(decode(br#"\u0064ata""#).as_deref(), Ok("data"));
        assert_eq!(decode(br#"\u00e9\u65E5""#).as_deref(), Ok("é日"));
        assert_eq!(decode(br#"\ud83d\ude00!""#).as_deref(), Ok("😀!"));
        assert_eq!(decode("é日😀\"".as_bytes()).as_deref(), Ok("é日😀"));
    }

    #[test]
    fn refuses_what_json_refuses() {
        for bad in [
            &br#"\x""#[..],
            br#"\u12G4""#,
            br#"\ud83d""#,
            br#"\ud83dx""#,
            br#"\ud83d\n""#,
            br#"\ud83d\u0041""#,
            br#"\ude00""#,
            b"a\nb\"",
            b"\x00\"",
            b"\xff\"",
            b"\xc0\xaf\"",
            b"\xe0\x80\xaf\"",
            b"\xed\xa0\x80\"",
            b"\xf4\x90\x80\x80\"",
            b"\xc3\"",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn writes_json_strings() {
        let mut out = Vec::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#.as_bytes());
        let back: String = serde_json::from_slice(&out).unwrap_or_default();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }
}
