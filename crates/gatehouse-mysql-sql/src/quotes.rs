//! Quoted text as MariaDB 10.11's lexer reads it: where a string or quoted identifier ends
//! decides where everything after it begins, so this must match the server exactly.
//!
//! - Strings `'...'` (and `"..."` unless `ANSI_QUOTES`): a doubled quote is one quote; a
//!   backslash escapes the next character unless `NO_BACKSLASH_ESCAPES` (`\0 \b \n \r \t \Z`
//!   are control characters, `\%` and `\_` keep their backslash, any other `\x` is `x`).
//! - Identifiers `` `...` `` (and `"..."` under `ANSI_QUOTES`): a doubled quote is one quote,
//!   a backslash is an ordinary character.
//! - Hexadecimal `X'...'` and bit `B'...'` literals hold only hex or binary digits; anything
//!   else is a syntax error at the server.
//!
//! Only client character sets whose multi-byte characters never hold a quote or backslash
//! byte are allowed ([`crate::charset_is_refused`]), so reading bytes one by one is right.

use crate::token::LexError;

/// Reads the quoted text whose opening `quote` is at `at`: its unescaped value and the
/// position after its closing quote.
pub fn quoted(
    bytes: &[u8],
    at: usize,
    quote: u8,
    backslash_escapes: bool,
) -> Result<(String, usize), LexError> {
    let mut value = Vec::new();
    let mut i = at + 1;
    loop {
        match bytes.get(i) {
            None => {
                return Err(LexError(format!(
                    "an unterminated {} quote",
                    char::from(quote)
                )));
            }
            Some(&byte) if byte == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    value.push(quote);
                    i += 2;
                } else {
                    return Ok((String::from_utf8_lossy(&value).into_owned(), i + 1));
                }
            }
            Some(b'\\') if backslash_escapes => {
                let Some(&escaped) = bytes.get(i + 1) else {
                    return Err(LexError(format!(
                        "an unterminated {} quote",
                        char::from(quote)
                    )));
                };
                match escaped {
                    b'0' => value.push(0),
                    b'b' => value.push(0x08),
                    b'n' => value.push(b'\n'),
                    b'r' => value.push(b'\r'),
                    b't' => value.push(b'\t'),
                    b'Z' => value.push(0x1a),
                    b'%' | b'_' => value.extend_from_slice(&[b'\\', escaped]),
                    other => value.push(other),
                }
                i += 2;
            }
            Some(&byte) => {
                value.push(byte);
                i += 1;
            }
        }
    }
}

/// Reads the `X'...'` (`hex`) or `B'...'` literal whose quote is at `at`: the position after
/// it.
pub fn digits_literal(bytes: &[u8], at: usize, hex: bool) -> Result<usize, LexError> {
    let mut i = at + 1;
    loop {
        match bytes.get(i) {
            Some(b'\'') => return Ok(i + 1),
            Some(byte)
                if (hex && byte.is_ascii_hexdigit()) || (!hex && matches!(byte, b'0' | b'1')) =>
            {
                i += 1;
            }
            _ => {
                return Err(LexError(format!(
                    "a malformed {} literal",
                    if hex { "X'...'" } else { "B'...'" }
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        assert_eq!(quoted(b"'a''b'", 0, b'\'', true), Ok(("a'b".to_owned(), 6)));
        assert_eq!(
            quoted(br"'a\'b' x", 0, b'\'', true),
            Ok(("a'b".to_owned(), 6))
        );
        assert_eq!(
            quoted(br"'a\' x", 0, b'\'', false),
            Ok((r"a\".to_owned(), 4))
        );
        assert_eq!(
            quoted(br"'\n\%\q'", 0, b'\'', true),
            Ok(("\n\\%q".to_owned(), 8))
        );
        assert!(quoted(br"'a\'", 0, b'\'', true).is_err());
        assert_eq!(quoted(b"`a``b`", 0, b'`', false), Ok(("a`b".to_owned(), 6)));
    }

    #[test]
    fn digits() {
        assert_eq!(digits_literal(b"'4a'", 0, true), Ok(4));
        assert!(digits_literal(b"'4g'", 0, true).is_err());
        assert_eq!(digits_literal(b"'01'", 0, false), Ok(4));
        assert!(digits_literal(b"'012'", 0, false).is_err());
    }
}
