//! A scanner that finds where PostgreSQL's lexer puts token boundaries, so that two readings
//! of the same text (with backslash escapes in `'...'` literals and without) can be compared.
//!
//! It follows PostgreSQL's `src/backend/parser/scan.l` for everything that decides where a
//! token starts and ends:
//! - whitespace (`[ \t\n\r\f\v]`, `\v` as in PostgreSQL 16 and later) and `--` comments are
//!   skipped; `/* ... */` comments nest and are skipped;
//! - `'...'` literals end at a quote that is not doubled; with backslash escapes (the `xe`
//!   state: `E'...'`, and `'...'` or `N'...'` when `standard_conforming_strings` is off) a
//!   backslash also takes the byte after it; `B'...'` and `X'...'` end at any quote;
//!   `U&'...'` reads like a standard `'...'`;
//! - a literal continues when its closing quote is followed by whitespace (and `--` comments)
//!   holding at least one newline and then a quote (scan.l's `xqs` state), in the same state
//!   it started in;
//! - `"..."` and `U&"..."` identifiers end at a quote that is not doubled;
//! - `$tag$ ... $tag$` where the tag is an identifier without `$` (or empty); `$` followed by
//!   a digit is a parameter; a `$` inside an identifier (`a$b`) belongs to the identifier;
//! - the one-letter prefixes `B`, `X`, `E`, `U&` start a literal only when they are a token by
//!   themselves (`be'x'` is the identifier `be` and then a literal).
//!
//! Numbers end where PostgreSQL 14 ends them (digits, a fraction, an exponent); PostgreSQL 15
//! and later reject a number followed by letters, so whatever follows cannot matter there.
//! Operators are returned one character at a time: their boundaries never depend on how
//! literals are read, and `--` or `/*` inside one starts a comment, as in scan.l.

/// What a token is, as far as boundaries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An identifier or keyword.
    Word,
    Number,
    /// `$1`.
    Parameter,
    /// `'...'`, `E'...'`, `N'...'` (the `N` is a [`TokenKind::Word`]), `B'...'`, `X'...'`,
    /// `U&'...'`, with any continuation lines.
    StringLiteral,
    /// `"..."` or `U&"..."`.
    QuotedIdentifier,
    DollarQuoted,
    /// Any other single character (punctuation and operator characters), or `..`.
    Symbol,
    /// A construct that runs to the end of the text without being closed; the server rejects
    /// the whole message.
    Unterminated,
}

/// One token: its kind and its byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// How the inside of a single-quoted literal is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// `xq`/`xus`: a doubled quote is a quote, a backslash is an ordinary character.
    Standard,
    /// `xe`: a doubled quote is a quote, a backslash takes the next byte with it.
    BackslashEscapes,
    /// `xb`/`xh`: any quote ends the literal.
    Bits,
}

/// Iterator over the tokens of a text, comments and whitespace left out. It stops after the
/// first [`TokenKind::Unterminated`] token.
pub(crate) struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
    /// How a plain `'...'` literal is read: [`Quoting::Standard`] when
    /// `standard_conforming_strings` is on, [`Quoting::BackslashEscapes`] when it is off.
    plain_quoting: Quoting,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str, standard_conforming_strings: bool) -> Self {
        Scanner {
            text: text.as_bytes(),
            pos: 0,
            plain_quoting: if standard_conforming_strings {
                Quoting::Standard
            } else {
                Quoting::BackslashEscapes
            },
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.get(at).copied()
    }

    /// Ends the scan with an unterminated construct that started at `start`.
    fn unterminated(&mut self, start: usize) -> Token {
        self.pos = self.text.len();
        Token {
            kind: TokenKind::Unterminated,
            start,
            end: self.text.len(),
        }
    }

    fn token(&mut self, kind: TokenKind, start: usize, end: usize) -> Token {
        self.pos = end;
        Token { kind, start, end }
    }

    /// Skips whitespace, `--` comments and complete `/* */` comments. Returns the start of an
    /// unterminated `/*` comment if it finds one.
    fn skip_insignificant(&mut self) -> Result<(), usize> {
        loop {
            match self.byte(self.pos) {
                Some(byte) if is_space(byte) => self.pos += 1,
                Some(b'-') if self.byte(self.pos + 1) == Some(b'-') => {
                    self.pos = self.end_of_line(self.pos);
                }
                Some(b'/') if self.byte(self.pos + 1) == Some(b'*') => {
                    let start = self.pos;
                    self.pos = self.end_of_block_comment(start).ok_or(start)?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Position of the newline ending the `--` comment at `from`, or the end of the text.
    fn end_of_line(&self, from: usize) -> usize {
        let rest = self.text.get(from..).unwrap_or_default();
        rest.iter()
            .position(|&byte| byte == b'\n' || byte == b'\r')
            .map_or(self.text.len(), |offset| from + offset)
    }

    /// End of the (nesting) block comment starting at `start`, if it is closed.
    fn end_of_block_comment(&self, start: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut at = start;
        while let Some(byte) = self.byte(at) {
            let next = self.byte(at + 1);
            if byte == b'/' && next == Some(b'*') {
                depth += 1;
                at += 2;
            } else if byte == b'*' && next == Some(b'/') {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return Some(at);
                }
            } else {
                at += 1;
            }
        }
        None
    }

    /// A single-quoted literal whose opening quote is at `quote`.
    fn string_literal(&mut self, start: usize, quote: usize, quoting: Quoting) -> Token {
        let mut at = quote + 1;
        loop {
            match self.byte(at) {
                None => return self.unterminated(start),
                Some(b'\\') if quoting == Quoting::BackslashEscapes => at += 2,
                Some(b'\'') => {
                    if quoting != Quoting::Bits && self.byte(at + 1) == Some(b'\'') {
                        at += 2;
                    } else if let Some(next_quote) = self.continuation_quote(at + 1) {
                        at = next_quote + 1;
                    } else {
                        return self.token(TokenKind::StringLiteral, start, at + 1);
                    }
                }
                Some(_) => at += 1,
            }
        }
    }

    /// After a literal's closing quote: the position of the quote that continues it, if only
    /// whitespace and `--` comments holding at least one newline come before that quote.
    fn continuation_quote(&self, from: usize) -> Option<usize> {
        let mut at = from;
        let mut saw_newline = false;
        loop {
            match self.byte(at)? {
                b'\n' | b'\r' => {
                    saw_newline = true;
                    at += 1;
                }
                byte if is_space(byte) => at += 1,
                b'-' if self.byte(at + 1) == Some(b'-') => at = self.end_of_line(at),
                b'\'' if saw_newline => return Some(at),
                _ => return None,
            }
        }
    }

    /// A `"..."` identifier whose opening quote is at `quote`.
    fn quoted_identifier(&mut self, start: usize, quote: usize) -> Token {
        let mut at = quote + 1;
        loop {
            match self.byte(at) {
                None => return self.unterminated(start),
                Some(b'"') if self.byte(at + 1) == Some(b'"') => at += 2,
                Some(b'"') => return self.token(TokenKind::QuotedIdentifier, start, at + 1),
                Some(_) => at += 1,
            }
        }
    }

    /// End of the `$tag$` delimiter starting with the `$` at `dollar`, if one starts there.
    fn dollar_delimiter_end(&self, dollar: usize) -> Option<usize> {
        let mut at = dollar + 1;
        if self.byte(at).is_some_and(is_tag_start) {
            at += 1;
            while self.byte(at).is_some_and(is_tag_continuation) {
                at += 1;
            }
        }
        (self.byte(at) == Some(b'$')).then_some(at + 1)
    }

    /// A dollar-quoted literal whose opening delimiter is `start..body`.
    fn dollar_quoted(&mut self, start: usize, body: usize) -> Token {
        let tag = self.text.get(start..body).unwrap_or_default();
        let mut at = body;
        loop {
            let rest = self.text.get(at..).unwrap_or_default();
            let Some(offset) = rest.iter().position(|&byte| byte == b'$') else {
                return self.unterminated(start);
            };
            let dollar = at + offset;
            match self.dollar_delimiter_end(dollar) {
                Some(end) if self.text.get(dollar..end) == Some(tag) => {
                    return self.token(TokenKind::DollarQuoted, start, end);
                }
                // Another delimiter: its last `$` may start the closing one (`$a$x$b$a$`).
                Some(end) => at = end - 1,
                None => at = dollar + 1,
            }
        }
    }

    /// A number starting at `start` (a digit, or a `.` before a digit).
    fn number(&mut self, start: usize) -> Token {
        let mut at = self.skip_digits(start);
        if self.byte(at) == Some(b'.') && self.byte(at + 1) != Some(b'.') {
            at = self.skip_digits(at + 1);
        }
        if matches!(self.byte(at), Some(b'e' | b'E')) {
            let mut exponent = at + 1;
            if matches!(self.byte(exponent), Some(b'+' | b'-')) {
                exponent += 1;
            }
            if self
                .byte(exponent)
                .is_some_and(|byte| byte.is_ascii_digit())
            {
                at = self.skip_digits(exponent);
            }
        }
        self.token(TokenKind::Number, start, at)
    }

    fn skip_digits(&self, from: usize) -> usize {
        let mut at = from;
        while self.byte(at).is_some_and(|byte| byte.is_ascii_digit()) {
            at += 1;
        }
        at
    }

    /// A token starting with an identifier character: a literal with a one-letter prefix, or
    /// an identifier.
    fn word_or_prefixed(&mut self, start: usize, first: u8) -> Token {
        let second = self.byte(start + 1);
        match (first.to_ascii_lowercase(), second) {
            (b'b' | b'x', Some(b'\'')) => self.string_literal(start, start + 1, Quoting::Bits),
            (b'e', Some(b'\'')) => self.string_literal(start, start + 1, Quoting::BackslashEscapes),
            (b'u', Some(b'&')) => match self.byte(start + 2) {
                Some(b'\'') => self.string_literal(start, start + 2, Quoting::Standard),
                Some(b'"') => self.quoted_identifier(start, start + 2),
                _ => self.token(TokenKind::Word, start, start + 1),
            },
            _ => {
                let mut at = start + 1;
                while self.byte(at).is_some_and(is_identifier_continuation) {
                    at += 1;
                }
                self.token(TokenKind::Word, start, at)
            }
        }
    }
}

impl Iterator for Scanner<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if let Err(start) = self.skip_insignificant() {
            return Some(self.unterminated(start));
        }
        let start = self.pos;
        let first = self.byte(start)?;
        let token = match first {
            b'\'' => self.string_literal(start, start, self.plain_quoting),
            b'"' => self.quoted_identifier(start, start),
            b'$' if self
                .byte(start + 1)
                .is_some_and(|byte| byte.is_ascii_digit()) =>
            {
                let end = self.skip_digits(start + 1);
                self.token(TokenKind::Parameter, start, end)
            }
            b'$' => match self.dollar_delimiter_end(start) {
                Some(body) => self.dollar_quoted(start, body),
                None => self.token(TokenKind::Symbol, start, start + 1),
            },
            b'0'..=b'9' => self.number(start),
            b'.' if self.byte(start + 1) == Some(b'.') => {
                self.token(TokenKind::Symbol, start, start + 2)
            }
            b'.' if self
                .byte(start + 1)
                .is_some_and(|byte| byte.is_ascii_digit()) =>
            {
                self.number(start)
            }
            byte if is_identifier_start(byte) => self.word_or_prefixed(start, byte),
            _ => self.token(TokenKind::Symbol, start, start + 1),
        };
        Some(token)
    }
}

/// scan.l's `space`, as of PostgreSQL 16 (which added `\v`).
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// scan.l's `ident_start` (and `dolq_start`): letters, `_`, and every byte of a non-ASCII
/// character.
fn is_identifier_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

/// scan.l's `ident_cont`: `ident_start`, digits and `$`.
fn is_identifier_continuation(byte: u8) -> bool {
    is_tag_continuation(byte) || byte == b'$'
}

/// scan.l's `dolq_start`.
fn is_tag_start(byte: u8) -> bool {
    is_identifier_start(byte)
}

/// scan.l's `dolq_cont`: like `ident_cont`, without `$`.
fn is_tag_continuation(byte: u8) -> bool {
    is_identifier_start(byte) || byte.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    /// The text of each token, scanned with standard_conforming_strings on.
    fn tokens(sql: &str) -> Vec<(TokenKind, &str)> {
        Scanner::new(sql, true)
            .map(|token| (token.kind, &sql[token.start..token.end]))
            .collect()
    }

    #[test]
    fn comments_and_whitespace_are_skipped() {
        assert_eq!(
            tokens("a /* x /* 'y */ ' */ -- 'z\n\tb"),
            [(TokenKind::Word, "a"), (TokenKind::Word, "b")]
        );
        assert_eq!(
            tokens("a/**/b"),
            [(TokenKind::Word, "a"), (TokenKind::Word, "b")]
        );
        assert_eq!(
            tokens("/* never closed"),
            [(TokenKind::Unterminated, "/* never closed")]
        );
        assert_eq!(
            tokens("+-- c\n-"),
            [(TokenKind::Symbol, "+"), (TokenKind::Symbol, "-")]
        );
    }

    #[test]
    fn string_prefixes_only_count_as_a_token_of_their_own() {
        assert_eq!(
            tokens("be'x' e'\\'' n'y' U&'z' u&\"w\" u&v"),
            [
                (TokenKind::Word, "be"),
                (TokenKind::StringLiteral, "'x'"),
                (TokenKind::StringLiteral, "e'\\''"),
                (TokenKind::Word, "n"),
                (TokenKind::StringLiteral, "'y'"),
                (TokenKind::StringLiteral, "U&'z'"),
                (TokenKind::QuotedIdentifier, "u&\"w\""),
                (TokenKind::Word, "u"),
                (TokenKind::Symbol, "&"),
                (TokenKind::Word, "v"),
            ]
        );
    }

    #[test]
    fn bit_strings_end_at_any_quote() {
        assert_eq!(
            tokens("B'01''10'"),
            [
                (TokenKind::StringLiteral, "B'01'"),
                (TokenKind::StringLiteral, "'10'")
            ]
        );
    }

    #[test]
    fn literals_continue_across_a_newline() {
        assert_eq!(
            tokens("'a' -- c\n  'b' 'c'"),
            [
                (TokenKind::StringLiteral, "'a' -- c\n  'b'"),
                (TokenKind::StringLiteral, "'c'")
            ]
        );
        assert_eq!(
            tokens("E'a'\n'\\'' x"),
            [
                (TokenKind::StringLiteral, "E'a'\n'\\''"),
                (TokenKind::Word, "x")
            ]
        );
        assert_eq!(
            tokens("'a' /* c */\n'b'"),
            [
                (TokenKind::StringLiteral, "'a'"),
                (TokenKind::StringLiteral, "'b'")
            ]
        );
    }

    #[test]
    fn dollar_quotes_follow_the_tag_rules() {
        assert_eq!(
            tokens("$a$ $b$ 'x' $a$ $1 a$b$c $$$$"),
            [
                (TokenKind::DollarQuoted, "$a$ $b$ 'x' $a$"),
                (TokenKind::Parameter, "$1"),
                (TokenKind::Word, "a$b$c"),
                (TokenKind::DollarQuoted, "$$$$"),
            ]
        );
        assert_eq!(
            tokens("$a$x$b$a$"),
            [(TokenKind::DollarQuoted, "$a$x$b$a$")]
        );
        assert_eq!(
            tokens("$1a $x"),
            [
                (TokenKind::Parameter, "$1"),
                (TokenKind::Word, "a"),
                (TokenKind::Symbol, "$"),
                (TokenKind::Word, "x")
            ]
        );
        assert_eq!(
            tokens("$é$ ' $é$"),
            [(TokenKind::DollarQuoted, "$é$ ' $é$")]
        );
        assert_eq!(
            tokens("$a$ never"),
            [(TokenKind::Unterminated, "$a$ never")]
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(
            tokens("1.5e-3 1..2 .5 1e"),
            [
                (TokenKind::Number, "1.5e-3"),
                (TokenKind::Number, "1"),
                (TokenKind::Symbol, ".."),
                (TokenKind::Number, "2"),
                (TokenKind::Number, ".5"),
                (TokenKind::Number, "1"),
                (TokenKind::Word, "e"),
            ]
        );
    }

    #[test]
    fn quoted_identifiers_double_their_quote() {
        assert_eq!(
            tokens("\"a\"\"b\" \"c"),
            [
                (TokenKind::QuotedIdentifier, "\"a\"\"b\""),
                (TokenKind::Unterminated, "\"c")
            ]
        );
    }
}
