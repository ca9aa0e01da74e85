//! The lexer: MariaDB 10.11's reading of a message's text into statements and tokens.
//!
//! A message is cut into statements at each `;` outside quotes and comments, where the
//! server's multi-statement handling cuts it; statements without tokens (a trailing `;`,
//! comment-only text) are dropped. Comments ([`crate::comments`]) and quoting
//! ([`crate::quotes`]) follow the server's lexer; anything the server would reject while
//! reading (an unterminated quote or comment, a malformed `X'..'`, a `;` or the end of the
//! text inside running executable-comment code) is a [`LexError`], and the whole message is
//! then unknown. Identifiers are `[A-Za-z0-9_$]` and any non-ASCII character, and may start
//! with a digit (`1a` is a name, `1e5` and `0x1f` are numbers).

use crate::comments::{self, Opened, is_space};
use crate::quotes::{digits_literal, quoted};
use crate::token::{LexError, Statement, Token, TokenKind};
use crate::{Lexing, SqlMode};

/// Operators of more than one character, longest first.
const OPERATORS: &[&str] = &[
    "<=>", ":=", "<=", ">=", "<>", "!=", "||", "&&", "<<", ">>", "@@",
];

/// Reads `text` into its statements, or why it cannot be read as the server reads it.
pub fn statements(text: &str, lexing: &Lexing) -> Result<Vec<Statement>, LexError> {
    read(text, lexing, false)
}

/// Reads the first statement of `text` only (`None` when it holds none): the server reads a
/// multi-statement message one statement at a time, each under the mode then in force.
pub fn first_statement(text: &str, lexing: &Lexing) -> Result<Option<Statement>, LexError> {
    read(text, lexing, true).map(|statements| statements.into_iter().next())
}

fn read(text: &str, lexing: &Lexing, first_only: bool) -> Result<Vec<Statement>, LexError> {
    let bytes = text.as_bytes();
    let mode = lexing.mode;
    let mut lexer = Lexer {
        text,
        statements: Vec::new(),
        tokens: Vec::new(),
        start: 0,
    };
    let mut in_code_comment = false;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        match byte {
            _ if is_space(byte) => i += 1,
            0 => {
                return Err(LexError(
                    "a NUL byte outside quotes, where the server's lexer stops".to_owned(),
                ));
            }
            b'#' => i = comments::line_end(bytes, i),
            b'-' if comments::dash_dash_comment(bytes, i) => i = comments::line_end(bytes, i),
            b'/' if next == Some(b'*') => match comments::open(bytes, i, lexing.server_version)? {
                Opened::Skipped(after) => i = after,
                Opened::Code(after) => {
                    in_code_comment = true;
                    i = after;
                }
            },
            b'*' if in_code_comment && next == Some(b'/') => {
                in_code_comment = false;
                i += 2;
            }
            b';' => {
                if in_code_comment {
                    return Err(LexError(
                        "a ';' inside an executable comment, which the server rejects".to_owned(),
                    ));
                }
                lexer.finish(i);
                if first_only && !lexer.statements.is_empty() {
                    return Ok(lexer.statements);
                }
                i += 1;
                lexer.start = i;
            }
            b'\'' => i = lexer.string(bytes, i, !mode.no_backslash_escapes)?,
            b'"' if mode.ansi_quotes => i = lexer.quoted_name(bytes, i, b'"')?,
            b'"' => i = lexer.string(bytes, i, !mode.no_backslash_escapes)?,
            b'`' => i = lexer.quoted_name(bytes, i, b'`')?,
            b'?' => i = lexer.push(TokenKind::Placeholder, i, i + 1),
            b'@' if next == Some(b'@') => i = lexer.push(TokenKind::Punct, i, i + 2),
            b'@' => i = lexer.user_variable(bytes, i, &mode)?,
            b'.' if next.is_some_and(|n| n.is_ascii_digit())
                && !i
                    .checked_sub(1)
                    .and_then(|p| bytes.get(p))
                    .is_some_and(|&p| is_name_byte(p) || p == b'`' || p == b'"') =>
            {
                i = lexer.number(bytes, i)
            }
            b'N' | b'n' if next == Some(b'\'') => {
                let (value, after) = quoted(bytes, i + 1, b'\'', !mode.no_backslash_escapes)?;
                lexer.push_value(TokenKind::Str, value, i, after);
                i = after;
            }
            b'X' | b'x' | b'B' | b'b' if next == Some(b'\'') => {
                let after = digits_literal(bytes, i + 1, matches!(byte, b'X' | b'x'))?;
                i = lexer.push(TokenKind::Number, i, after);
            }
            _ if byte.is_ascii_digit() => i = lexer.number(bytes, i),
            _ if is_name_byte(byte) => i = lexer.word(bytes, i),
            _ => {
                let rest = bytes.get(i..).unwrap_or_default();
                let length = OPERATORS
                    .iter()
                    .find(|op| rest.starts_with(op.as_bytes()))
                    .map_or(1, |op| op.len());
                i = lexer.push(TokenKind::Punct, i, i + length);
            }
        }
    }
    if in_code_comment {
        return Err(LexError("an unterminated executable comment".to_owned()));
    }
    lexer.finish(bytes.len());
    Ok(lexer.statements)
}

/// Whether `byte` can be part of an unquoted name (any byte of a non-ASCII character can).
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

struct Lexer<'a> {
    text: &'a str,
    statements: Vec<Statement>,
    tokens: Vec<Token>,
    /// Where the current statement starts.
    start: usize,
}

impl Lexer<'_> {
    fn finish(&mut self, end: usize) {
        let tokens = std::mem::take(&mut self.tokens);
        if tokens.is_empty() {
            return;
        }
        let raw = self.text.get(self.start..end).unwrap_or_default();
        let leading = raw.len() - raw.trim_start().len();
        let trailing = raw.len() - raw.trim_end().len();
        let span = (self.start + leading)..(end - trailing).max(self.start + leading);
        let next = (end + 1).min(self.text.len());
        self.statements.push(Statement { span, tokens, next });
    }

    fn push(&mut self, kind: TokenKind, start: usize, end: usize) -> usize {
        let value = self.text.get(start..end).unwrap_or_default().to_owned();
        self.push_value(kind, value, start, end);
        end
    }

    fn push_value(&mut self, kind: TokenKind, value: String, start: usize, end: usize) {
        self.tokens.push(Token {
            kind,
            value,
            span: start..end,
        });
    }

    fn string(&mut self, bytes: &[u8], at: usize, escapes: bool) -> Result<usize, LexError> {
        let quote = bytes.get(at).copied().unwrap_or(b'\'');
        let (value, after) = quoted(bytes, at, quote, escapes)?;
        self.push_value(TokenKind::Str, value, at, after);
        Ok(after)
    }

    fn quoted_name(&mut self, bytes: &[u8], at: usize, quote: u8) -> Result<usize, LexError> {
        let (value, after) = quoted(bytes, at, quote, false)?;
        self.push_value(TokenKind::QuotedIdent, value, at, after);
        Ok(after)
    }

    /// `@name`, `@'name'`, `` @`name` ``, `@"name"` (the quoted text read as a string or an
    /// identifier, as after any other character); a lone `@` is punctuation.
    fn user_variable(
        &mut self,
        bytes: &[u8],
        at: usize,
        mode: &SqlMode,
    ) -> Result<usize, LexError> {
        match bytes.get(at + 1) {
            Some(&quote @ (b'\'' | b'"' | b'`')) => {
                let is_string = quote == b'\'' || (quote == b'"' && !mode.ansi_quotes);
                let escapes = is_string && !mode.no_backslash_escapes;
                let (value, after) = quoted(bytes, at + 1, quote, escapes)?;
                self.push_value(TokenKind::UserVar, value, at, after);
                Ok(after)
            }
            Some(&byte) if is_name_byte(byte) || byte == b'.' => {
                let end = scan(bytes, at + 1, |b| is_name_byte(b) || b == b'.');
                let value = self.text.get(at + 1..end).unwrap_or_default().to_owned();
                self.push_value(TokenKind::UserVar, value, at, end);
                Ok(end)
            }
            _ => Ok(self.push(TokenKind::Punct, at, at + 1)),
        }
    }

    /// A run starting with a digit (or `.digit`): a number when it reads as one, else a name,
    /// as the server reads it (checked: `1e1a` and `1.5a` are a number and the alias `a`,
    /// `123abc` and `0x1g` are names).
    fn number(&mut self, bytes: &[u8], at: usize) -> usize {
        let run_end = scan(bytes, at, is_name_byte);
        let run = self.text.get(at..run_end).unwrap_or_default();
        let lower = run.to_ascii_lowercase();
        let is_radix = |prefix: &str, digit: fn(char) -> bool| {
            lower
                .strip_prefix(prefix)
                .is_some_and(|digits| !digits.is_empty() && digits.chars().all(digit))
        };
        if is_radix("0x", |c| c.is_ascii_hexdigit()) || is_radix("0b", |c| matches!(c, '0' | '1')) {
            return self.push(TokenKind::Number, at, run_end);
        }
        let digits_end = scan(bytes, at, |b| b.is_ascii_digit());
        let exponent = |from: usize| {
            let sign = usize::from(matches!(bytes.get(from + 1), Some(b'+' | b'-')));
            (matches!(bytes.get(from), Some(b'e' | b'E'))
                && bytes.get(from + 1 + sign).is_some_and(u8::is_ascii_digit))
            .then(|| scan(bytes, from + 1 + sign, |b| b.is_ascii_digit()))
        };
        if digits_end < run_end {
            // Digits then name characters: a number with an exponent (`1e1a` is `1e1`
            // followed by the name `a`), otherwise a name (`123abc`).
            return match exponent(digits_end) {
                Some(end) => self.push(TokenKind::Number, at, end),
                None => self.push(TokenKind::Word, at, run_end),
            };
        }
        let mut end = run_end;
        if bytes.get(end) == Some(&b'.') {
            end = scan(bytes, end + 1, |b| b.is_ascii_digit());
        }
        if let Some(after) = exponent(end) {
            end = after;
        }
        self.push(TokenKind::Number, at, end)
    }

    fn word(&mut self, bytes: &[u8], at: usize) -> usize {
        let end = scan(bytes, at, is_name_byte);
        self.push(TokenKind::Word, at, end)
    }
}

/// The position of the first byte from `at` on that is not `accept`ed.
fn scan(bytes: &[u8], at: usize, accept: impl Fn(u8) -> bool) -> usize {
    bytes
        .get(at..)
        .unwrap_or_default()
        .iter()
        .position(|&b| !accept(b))
        .map_or(bytes.len(), |p| at + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str, mode: &str) -> Result<Vec<Vec<(TokenKind, String)>>, LexError> {
        let lexing = Lexing {
            mode: SqlMode::from_server_value(mode),
            server_version: 101119,
        };
        statements(text, &lexing).map(|statements| {
            statements
                .into_iter()
                .map(|s| s.tokens.into_iter().map(|t| (t.kind, t.value)).collect())
                .collect()
        })
    }

    fn values(text: &str, mode: &str) -> Vec<Vec<String>> {
        lex(text, mode)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.into_iter().map(|(_, v)| v).collect())
            .collect()
    }

    #[test]
    fn splits_and_comments() {
        assert_eq!(
            values("select 1; select 2;", ""),
            [["select", "1"], ["select", "2"]]
        );
        assert_eq!(values("select ';' # ;\n; -- ;", ""), [["select", ";"]]);
        assert_eq!(values("select 1--1", ""), [["select", "1", "-", "-", "1"]]);
        assert_eq!(
            values("select 1 /*! , 2 */", ""),
            [["select", "1", ",", "2"]]
        );
        assert_eq!(
            values("select 1 /*!50700 , 2 */ * /", ""),
            [["select", "1", "*", "/"]]
        );
        assert!(lex("select 1 /*! ; select 2 */", "").is_err());
        assert!(lex("select '", "").is_err());
    }

    /// MariaDB ends a line comment at a NUL byte and then fails on the NUL: the rest is not
    /// part of the comment (found by the MySQL differential fuzzer).
    #[test]
    fn a_nul_byte_ends_a_line_comment_and_is_refused() {
        assert!(lex("select 1;-- \0delete from canary", "").is_err());
        assert!(lex("select 1 # note\0\ndelete from canary", "").is_err());
        assert_eq!(values("select 1 # no nul here\n", ""), [["select", "1"]]);
        assert_eq!(values("select '\0' -- quoted\n", ""), [["select", "\0"]]);
    }

    #[test]
    fn quoting_follows_the_mode() {
        let text = r#"select 'a\'; drop table t; -- '"#;
        assert_eq!(lex(text, "").map(|s| s.len()), Ok(1));
        assert_eq!(lex(text, "NO_BACKSLASH_ESCAPES").map(|s| s.len()), Ok(2));
        let double = lex(r#"select "a""#, "ANSI_QUOTES").unwrap_or_default();
        assert_eq!(
            double,
            [[
                (TokenKind::Word, "select".to_owned()),
                (TokenKind::QuotedIdent, "a".to_owned())
            ]]
        );
    }

    #[test]
    fn literals_and_variables() {
        assert_eq!(
            values(
                "select 0x1f, 1e5, 1.5e-3, 1a, .5, @a.b, @'x y', @@session.x, ?",
                ""
            ),
            [[
                "select", "0x1f", ",", "1e5", ",", "1.5e-3", ",", "1a", ",", ".5", ",", "a.b", ",",
                "x y", ",", "@@", "session", ".", "x", ",", "?"
            ]]
        );
        assert!(lex("select x'4g'", "").is_err());
        assert_eq!(
            values("select 1e1a, 1e+1b, 1.5c, 123abc, 0x1g", ""),
            [[
                "select", "1e1", "a", ",", "1e+1", "b", ",", "1.5", "c", ",", "123abc", ",", "0x1g"
            ]]
        );
    }
}
