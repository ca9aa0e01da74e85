//! The lexical half of the template cache ([`crate::Classifier`]): a message's text with its
//! literal values taken out, so that messages differing only in those values share one key.
//!
//! Applications and benchmarks send the same statement with a new literal each time (pgbench's
//! `SELECT abalance FROM pgbench_accounts WHERE aid = 48213;`), which a cache keyed by the
//! full text never hits. [`normalise`] scans the text with the crate's scanner (the one that
//! follows PostgreSQL's `scan.l` for `conforming_strings_differential`), and builds a key: the
//! text with each literal of a class it replaces cut out and a marker put in its place that
//! names the class; everything else (keywords, names, operators, comments, whitespace, and
//! literals of classes it does not replace) stays as written. Two texts with the same key are
//! therefore the same sequence of PostgreSQL tokens, but for the values of the replaced
//! literals, provided the scanner reads each replaced literal as PostgreSQL does. The classes
//! are chosen so that it does, and so that the token PostgreSQL's grammar receives does not
//! depend on the value:
//!
//! - [`Class::Integer`]: digits only, at most 2147483647: PostgreSQL's `ICONST`.
//! - [`Class::Numeric`]: digits with a fraction or an exponent (`1.5`, `.5`, `1e3`), or digits
//!   too large for `int4`: `FCONST`. Integer and numeric literals get different markers
//!   because the grammar accepts `ICONST` in places it refuses `FCONST` (`varchar(10)`).
//! - [`Class::String`]: a plain `'...'` literal (a doubled quote inside), not continued on
//!   another line: `SCONST`, read without escapes since gatehouse pins
//!   `standard_conforming_strings` on (the caller still runs the differential check on every
//!   text, as a value can change how a text reads with the setting off).
//!
//! Everything else is left as written: `E'...'` (escapes can be invalid, and an invalid one is
//! a syntax error), `U&'...'` (likewise, and `UESCAPE` changes how it reads), `B'...'`,
//! `X'...'`, dollar quotes and continued literals. A number followed at once by a letter, a
//! digit, `_`, `$` or a non-ASCII character (`0x1F`, `1_000`, `1e`, `12abc`) is where this
//! scanner, which ends numbers as PostgreSQL 14 does, and PostgreSQL 15 and later part ways:
//! the whole message gets no key. So does text holding the marker character (NUL, which no
//! query message can carry), text with more than one statement (a `;` with anything but
//! comments and whitespace after it), text with an unterminated literal, comment or quoted
//! name, and text without any literal to replace (the full-text cache serves it as well).
//!
//! A key says nothing about whether a classification may be reused: that is proven from the
//! parse tree of the first text seen with the key, see [`crate::template`].

use crate::lexing::scanner::{Scanner, Token, TokenKind};

/// Stands for a replaced literal in a key, followed by the literal's [`Class::letter`].
const MARKER: char = '\0';

/// The lexical class of a replaced literal: which token PostgreSQL's grammar receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Integer,
    Numeric,
    String,
}

impl Class {
    fn letter(self) -> char {
        match self {
            Class::Integer => 'i',
            Class::Numeric => 'n',
            Class::String => 's',
        }
    }
}

/// One replaced literal: its class, its bytes in the text, and the start of a `-` token right
/// before it, if there is one (the grammar folds `-5` into one constant located at the sign).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Literal {
    pub(crate) class: Class,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) minus: Option<usize>,
}

/// A text with its literals taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Normalised {
    /// The text with each replaced literal turned into the marker and its class letter.
    pub(crate) key: String,
    /// The replaced literals, in order.
    pub(crate) literals: Vec<Literal>,
    /// Where the one statement ends: at its terminating `;`, or at the end of the text.
    statement_end: usize,
}

impl Normalised {
    /// The text of the message's one statement, as the classifier reports it: up to its `;`,
    /// trimmed (the parser reports a single statement as starting at 0 and, when a `;`
    /// follows it, ending there; the template proof checks that this agrees).
    pub(crate) fn statement_text<'a>(&self, sql: &'a str) -> &'a str {
        sql.get(..self.statement_end).unwrap_or(sql).trim()
    }
}

/// `sql`'s key and literals, or `None` when it gets no key (see the module documentation).
pub(crate) fn normalise(sql: &str) -> Option<Normalised> {
    if sql.contains(MARKER) {
        return None;
    }
    let mut key = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut copied = 0;
    let mut previous: Option<Token> = None;
    let mut semicolon = None;
    for token in Scanner::new(sql, true) {
        let text = sql.get(token.start..token.end)?;
        if semicolon.is_some() {
            // a second statement, or a second `;`
            return None;
        }
        let class = match token.kind {
            TokenKind::Unterminated => return None,
            TokenKind::Symbol if text == ";" => {
                semicolon = Some(token.start);
                None
            }
            TokenKind::Number => Some(number_class(sql, &token, text)?),
            TokenKind::StringLiteral => is_plain_string(text).then_some(Class::String),
            _ => None,
        };
        if let Some(class) = class {
            key.push_str(sql.get(copied..token.start)?);
            key.push(MARKER);
            key.push(class.letter());
            copied = token.end;
            let minus = previous
                .filter(|previous| sql.get(previous.start..previous.end) == Some("-"))
                .map(|previous| previous.start);
            literals.push(Literal {
                class,
                start: token.start,
                end: token.end,
                minus,
            });
        }
        previous = Some(token);
    }
    if literals.is_empty() {
        return None;
    }
    key.push_str(sql.get(copied..)?);
    Some(Normalised {
        key,
        literals,
        statement_end: semicolon.unwrap_or(sql.len()),
    })
}

/// The class of a number token, or `None` (no key for the message) when an identifier
/// character follows it at once, where PostgreSQL 15 and later read a non-decimal integer,
/// digits with `_`, or reject the number as followed by junk.
fn number_class(sql: &str, token: &Token, text: &str) -> Option<Class> {
    let next = sql.as_bytes().get(token.end).copied();
    if next.is_some_and(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'$' | 0x80..))
    {
        return None;
    }
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Some(Class::Numeric);
    }
    Some(match integer_value(text) {
        Some(_) => Class::Integer,
        None => Class::Numeric,
    })
}

/// The value of a digits-only literal, if it fits `int4` (PostgreSQL's `ICONST`).
pub(crate) fn integer_value(digits: &str) -> Option<i32> {
    let significant = digits.trim_start_matches('0');
    if significant.len() > 10 {
        return None;
    }
    if significant.is_empty() {
        return Some(0);
    }
    significant.parse().ok()
}

/// A `'...'` literal read without escapes and not continued: quotes inside come in pairs.
fn is_plain_string(text: &str) -> bool {
    let Some(inside) = text
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
    else {
        return false;
    };
    let mut bytes = inside.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'\'' && bytes.next() != Some(b'\'') {
            return false;
        }
    }
    true
}

/// The value of a [`Class::String`] literal: its inside with doubled quotes undoubled.
pub(crate) fn string_value(text: &str) -> Option<String> {
    let inside = text.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inside.replace("''", "'"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn key(sql: &str) -> Option<String> {
        normalise(sql).map(|normalised| normalised.key.replace(MARKER, "?"))
    }

    #[test]
    fn pgbench_statements_get_one_key_whatever_their_values() {
        let select = key("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;");
        assert_eq!(
            select.as_deref(),
            Some("SELECT abalance FROM pgbench_accounts WHERE aid = ?i;")
        );
        assert_eq!(
            key("SELECT abalance FROM pgbench_accounts WHERE aid = 7;"),
            select
        );
        let normalised = normalise("UPDATE t SET b = b + -4171 WHERE aid = 5;").unwrap();
        assert_eq!(
            normalised.key.replace(MARKER, "?"),
            "UPDATE t SET b = b + -?i WHERE aid = ?i;"
        );
        assert_eq!(normalised.literals[0].minus, Some(21));
        assert_eq!(normalised.literals[1].minus, None);
        assert_eq!(
            normalised.statement_text("UPDATE t SET b = b + -4171 WHERE aid = 5;"),
            "UPDATE t SET b = b + -4171 WHERE aid = 5"
        );
    }

    #[test]
    fn classes_follow_the_token_the_grammar_gets() {
        assert_eq!(
            key("SELECT 2147483647, 2147483648, 007, 1.5, .5, 1e3, 1., 'it''s'").as_deref(),
            Some("SELECT ?i, ?n, ?i, ?n, ?n, ?n, ?n, ?s")
        );
        assert_eq!(integer_value("0000000000002147483647"), Some(i32::MAX));
        assert_eq!(integer_value("99999999999"), None);
        assert_eq!(string_value("'it''s'").as_deref(), Some("it's"));
    }

    #[test]
    fn exotic_literals_stay_as_written() {
        assert_eq!(
            key("SELECT E'\\'', U&'\\0041', B'01', X'1f', $$a$$, $t$b$t$, 1").as_deref(),
            Some("SELECT E'\\'', U&'\\0041', B'01', X'1f', $$a$$, $t$b$t$, ?i")
        );
        assert_eq!(
            key("SELECT 'a'\n'b', 1").as_deref(),
            Some("SELECT 'a'\n'b', ?i")
        );
        // comments, names and operators are part of the key
        assert_eq!(
            key("SELECT /* 1 */ \"2\" -- '3'\n + 4").as_deref(),
            Some("SELECT /* 1 */ \"2\" -- '3'\n + ?i")
        );
    }

    #[test]
    fn messages_that_get_no_key() {
        for sql in [
            "SELECT 0x1F",
            "SELECT 1_000",
            "SELECT 1e",
            "SELECT 12abc",
            "SELECT 1é",
            "SELECT '\0', 1",
            "SELECT 1; SELECT 2",
            "SELECT 1;;",
            "SELECT 'unterminated",
            "SELECT 1 /* open",
            "SELECT now()",
            "",
        ] {
            assert_eq!(normalise(sql), None, "{sql:?}");
        }
        assert!(normalise("SELECT 1; -- done\n").is_some());
    }

    #[test]
    fn a_string_holding_statement_syntax_is_one_literal() {
        let sql = "SELECT ';' || '--' || '/*', 1";
        assert_eq!(key(sql).as_deref(), Some("SELECT ?s || ?s || ?s, ?i"));
        assert_eq!(normalise(sql).unwrap().statement_text(sql), sql);
    }
}
