//! Comments as MariaDB 10.11's lexer reads them, including the executable comments whose
//! content the server runs as code.
//!
//! Checked against the server (see `tests/server_agreement.rs`):
//! - `/*! ... */` and `/*M! ... */` without a version: the content is code.
//! - `/*!` or `/*M!` followed by five digits (a sixth is taken when it is a digit too) is
//!   versioned: the content is code when the version is at most the server's
//!   ([`crate::Lexing::server_version`], `101119` for 10.11.19) and, for `/*!` only, outside
//!   50700..=99999 (MariaDB ignores MySQL 5.7+ comments: `/*!50700 x*/` is skipped, but
//!   `/*M!50700 x*/` and `/*!100000 x*/` run). `/*!1234567 x*/` reads version 123456.
//!   Fewer than five digits is no version: `/*!1011 x*/` runs `1011 x`.
//! - A versioned comment that does not run is skipped up to its `*/`, and may hold one level
//!   of nested `/* ... */` (the first `*/` after the nested `/*` closes the nested one).
//! - An ordinary `/* ... */` ends at the first `*/` (no nesting); `/*+ ... */` is an
//!   ordinary comment in MariaDB.
//! - Inside running executable-comment code, an ordinary comment leaves it running, the
//!   first `*/` outside strings and comments ends it, and a `#` or `-- ` comment runs to the
//!   end of the line, over any `*/`.
//! - `# ...` runs to the end of the line; `--` starts a comment only when followed by a
//!   space, a control character or the end of the text (`1--1` is `1 - -1`).

use crate::token::LexError;

/// What the lexer does after the `/*` at a given position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A comment to skip: continue at this position.
    Skipped(usize),
    /// Executable comment content that runs: read code from this position; the next `*/`
    /// outside strings and comments ends it.
    Code(usize),
}

/// Whether MariaDB counts `byte` as a space (`my_isspace` for ASCII).
pub fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Whether MariaDB counts `byte` as a control character (`my_iscntrl`).
pub fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// Whether the `--` at `at` starts a comment.
pub fn dash_dash_comment(bytes: &[u8], at: usize) -> bool {
    bytes.get(at) == Some(&b'-')
        && bytes.get(at + 1) == Some(&b'-')
        && bytes
            .get(at + 2)
            .is_none_or(|&next| is_space(next) || is_control(next))
}

/// Where a `#` or `-- ` comment starting at `at` ends: after its newline, at a NUL byte, or
/// at the end. MariaDB's lexer ends the comment at a NUL too and then meets the NUL itself (a
/// syntax error), so the NUL is left for the caller to refuse rather than skipped with the
/// comment: `SELECT 1;-- \0...` is two statements to the server, not one.
pub fn line_end(bytes: &[u8], at: usize) -> usize {
    let ends = bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n' || b == 0));
    match ends {
        Some(offset) if bytes.get(at + offset) == Some(&0) => at + offset,
        Some(newline) => at + newline + 1,
        None => bytes.len(),
    }
}

/// Reads the comment opened by the `/*` at `at`.
pub fn open(bytes: &[u8], at: usize, server_version: u32) -> Result<Opened, LexError> {
    let marker = match (bytes.get(at + 2), bytes.get(at + 3)) {
        (Some(b'!'), _) => Some((at + 3, false)),
        (Some(b'M'), Some(b'!')) => Some((at + 4, true)),
        _ => None,
    };
    let Some((content, mariadb)) = marker else {
        return skip(bytes, at + 2, 0).map(Opened::Skipped);
    };
    let digits = bytes
        .get(content..)
        .unwrap_or_default()
        .iter()
        .take(6)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits < 5 {
        return Ok(Opened::Code(content));
    }
    let version = bytes
        .get(content..content + digits)
        .unwrap_or_default()
        .iter()
        .fold(0u32, |version, digit| {
            version * 10 + u32::from(digit - b'0')
        });
    let runs = version <= server_version && (mariadb || !(50700..=99999).contains(&version));
    if runs {
        Ok(Opened::Code(content + digits))
    } else {
        skip(bytes, content + digits, 1).map(Opened::Skipped)
    }
}

/// Skips comment text from `at` to just after its closing `*/`, allowing `nesting` levels of
/// nested `/* */`, as the server's `consume_comment` does.
fn skip(bytes: &[u8], mut at: usize, nesting: u8) -> Result<usize, LexError> {
    loop {
        match bytes.get(at) {
            None => return Err(LexError("an unterminated /* comment".to_owned())),
            Some(b'/') if nesting > 0 && bytes.get(at + 1) == Some(&b'*') => {
                at = skip(bytes, at + 2, nesting - 1)?;
            }
            Some(b'*') if bytes.get(at + 1) == Some(&b'/') => return Ok(at + 2),
            Some(_) => at += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(text: &str) -> Result<Opened, LexError> {
        open(text.as_bytes(), 0, 101119)
    }

    #[test]
    fn versions() {
        assert_eq!(opened("/*! x */"), Ok(Opened::Code(3)));
        assert_eq!(opened("/*M! x */"), Ok(Opened::Code(4)));
        assert_eq!(opened("/*!50699 x */"), Ok(Opened::Code(8)));
        assert_eq!(opened("/*!50700 x */"), Ok(Opened::Skipped(13)));
        assert_eq!(opened("/*M!50700 x */"), Ok(Opened::Code(9)));
        assert_eq!(opened("/*!101119 x */"), Ok(Opened::Code(9)));
        assert_eq!(opened("/*!101120 x */"), Ok(Opened::Skipped(14)));
        assert_eq!(opened("/*!1011 x */"), Ok(Opened::Code(3)));
        assert_eq!(opened("/*!99999 /* a */ b */"), Ok(Opened::Skipped(21)));
        assert_eq!(opened("/* /* a */ b */"), Ok(Opened::Skipped(10)));
        assert!(opened("/* x").is_err());
    }

    #[test]
    fn dashes() {
        assert!(dash_dash_comment(b"-- x", 0));
        assert!(dash_dash_comment(b"--", 0));
        assert!(dash_dash_comment(b"--\x01", 0));
        assert!(!dash_dash_comment(b"--1", 0));
    }
}
