//! A strict JSON reader for request bodies: RFC 8259 exactly, failing closed on anything two
//! JSON parsers could read differently (a key twice in one object, at any depth; a lone
//! surrogate; a byte-order mark; nesting deeper than [`MAX_DEPTH`]). It keeps what policy
//! sees of the top level: keys in order, scalars with numbers exactly as written (serde_json
//! would turn `1.0` into `1.0` but `1e2` into `100.0`), and the strings a GraphQL request
//! carries.

use std::collections::HashSet;

/// Deepest nesting of arrays and objects read.
pub const MAX_DEPTH: usize = 128;

/// What a JSON body is at its top level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopLevel {
    /// An object: its members in order, each value as [`Member`].
    Object(Vec<(String, Member)>),
    Array,
    Scalar,
}

/// A top-level member's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    /// A string, unescaped.
    String(String),
    /// A number, true, false or null, as written.
    Literal(String),
    /// An object or array.
    Nested,
}

/// Why a body is not (acceptable) JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonError {
    Syntax(String),
    DuplicateKey(String),
}

/// Reads a whole JSON document.
pub(crate) fn read(body: &[u8]) -> Result<TopLevel, JsonError> {
    let mut reader = Reader { bytes: body, at: 0 };
    reader.skip_space();
    let top = match reader.peek() {
        Some(b'{') => {
            let mut members = Vec::new();
            reader.object(0, Some(&mut members))?;
            TopLevel::Object(members)
        }
        Some(b'[') => {
            reader.value(0)?;
            TopLevel::Array
        }
        _ => {
            reader.value(0)?;
            TopLevel::Scalar
        }
    };
    reader.skip_space();
    if reader.at < body.len() {
        return Err(reader.error("data after the document"));
    }
    Ok(top)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn error(&self, what: &str) -> JsonError {
        JsonError::Syntax(format!("{what} at byte {}", self.at))
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected `{}`", char::from(byte))))
        }
    }

    /// One value; returns what a top-level member needs of it.
    fn value(&mut self, depth: usize) -> Result<Member, JsonError> {
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth, None).map(|()| Member::Nested),
            Some(b'[') => self.array(depth).map(|()| Member::Nested),
            Some(b'"') => self.string().map(Member::String),
            Some(b't') => self.word("true"),
            Some(b'f') => self.word("false"),
            Some(b'n') => self.word("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn word(&mut self, word: &str) -> Result<Member, JsonError> {
        let end = self.at + word.len();
        if self.bytes.get(self.at..end) == Some(word.as_bytes()) {
            self.at = end;
            Ok(Member::Literal(word.to_owned()))
        } else {
            Err(self.error("unexpected word"))
        }
    }

    fn number(&mut self) -> Result<Member, JsonError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("malformed number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("malformed number"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("malformed number"));
            }
            self.digits();
        }
        let text = self.bytes.get(start..self.at).unwrap_or_default();
        Ok(Member::Literal(String::from_utf8_lossy(text).into_owned()))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    /// An object; its members kept in `members` when given (the top level).
    fn object(
        &mut self,
        depth: usize,
        mut members: Option<&mut Vec<(String, Member)>>,
    ) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.expect(b'{')?;
        let mut seen = HashSet::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            if !seen.insert(key.clone()) {
                return Err(JsonError::DuplicateKey(key));
            }
            self.skip_space();
            self.expect(b':')?;
            let value = self.value(depth + 1)?;
            if let Some(members) = members.as_deref_mut() {
                members.push((key, value));
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(&format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.expect(b'[')?;
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// A string, unescaped; invalid UTF-8, raw controls and lone surrogates are refused.
    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.at;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.at += 1;
            }
            let run = self.bytes.get(start..self.at).unwrap_or_default();
            match std::str::from_utf8(run) {
                Ok(text) => out.push_str(text),
                Err(_) => return Err(self.error("invalid UTF-8 in a string")),
            }
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// The character of an escape, after its backslash.
    fn escape(&mut self) -> Result<char, JsonError> {
        let byte = self
            .peek()
            .ok_or_else(|| self.error("unterminated string"))?;
        self.at += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                if (0xd800..0xdc00).contains(&first) {
                    if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                        return Err(self.error("lone surrogate"));
                    }
                    self.at += 2;
                    let second = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&second) {
                        return Err(self.error("lone surrogate"));
                    }
                    let code = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                    char::from_u32(code).ok_or_else(|| self.error("invalid escape"))?
                } else {
                    char::from_u32(first).ok_or_else(|| self.error("lone surrogate"))?
                }
            }
            _ => return Err(self.error("invalid escape")),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let mut value = 0;
        for &digit in digits {
            let nibble = char::from(digit)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid \\u escape"))?;
            value = value * 16 + nibble;
        }
        self.at += 4;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn fails(text: &str) -> bool {
        read(text.as_bytes()).is_err()
    }

    #[test]
    fn strict_rfc_8259() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            ".5",
            "1e",
            "+1",
            "'a'",
            "{a:1}",
            "\"\\x\"",
            "\"\u{1}\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\u{feff}{}",
            "nul",
            "truex",
            "{} {}",
            "NaN",
            "\"\\u12\"",
        ] {
            assert!(fails(bad), "{bad:?}");
        }
        for good in [
            "{}",
            "[]",
            "0",
            "-0.5e+3",
            "\"\\ud83d\\ude00\"",
            " {\"a\" : [1, {}]} ",
        ] {
            assert!(!fails(good), "{good:?}");
        }
    }

    #[test]
    fn duplicates_are_found_at_any_depth_and_after_unescaping() {
        assert_eq!(
            read(br#"{"a":1,"\u0061":2}"#),
            Err(JsonError::DuplicateKey("a".to_owned()))
        );
        assert_eq!(
            read(br#"{"x":[{"b":1,"b":1}]}"#),
            Err(JsonError::DuplicateKey("b".to_owned()))
        );
        assert!(read(br#"{"a":{"a":1},"b":{"a":2}}"#).is_ok());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(fails(&deep));
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(!fails(&fine));
    }

    #[test]
    fn numbers_are_kept_as_written() {
        let TopLevel::Object(members) = read(br#"{"n":1E2,"m":-0.0}"#).unwrap() else {
            panic!("not an object");
        };
        assert_eq!(members[0].1, Member::Literal("1E2".to_owned()));
        assert_eq!(members[1].1, Member::Literal("-0.0".to_owned()));
    }
}
