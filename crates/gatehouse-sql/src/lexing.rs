//! Detecting text that PostgreSQL splits into different tokens depending on
//! `standard_conforming_strings`.
//!
//! pg_query always lexes as the server does with `standard_conforming_strings = on`: in a
//! `'...'` literal a backslash is an ordinary character. A session can turn the setting off
//! (`SET`, `set_config`, a role or database default), and then the server reads `'...'` like
//! `E'...'`, where `\'` is a quote inside the literal. The same text can then hold different
//! statements for the server and for gatehouse: `SELECT 'x\' , $$' ; DELETE FROM t; -- $$` is
//! one `SELECT` of a string and a dollar-quoted string with the setting on, and a `SELECT` and a
//! `DELETE` with it off. Text whose tokens are the same either way means the same statements
//! either way, whatever the session's setting; text whose tokens differ is refused, with
//! [`LexDifference::explanation`] telling the user how to write it unambiguously.

pub(crate) mod scanner;

use scanner::{Scanner, Token, TokenKind};

/// Where and how the two readings of a text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexDifference {
    /// Byte offset of the `'...'` literal that the two readings end in different places.
    pub offset: usize,
    /// What differs and what to write instead, fit for an error message: lowercase, no
    /// trailing period.
    pub explanation: String,
}

/// Lex `sql` as PostgreSQL does with `standard_conforming_strings` on and with it off, and
/// report the first place where the token boundaries differ, or `None` when they are the same
/// (a literal's value may still differ, as `'C:\path'` does: that changes data, not
/// statements). A literal, comment or quoted name that one reading leaves unterminated and the
/// other closes is a difference too.
///
/// Linear in the length of `sql`; never panics. Text without a backslash is `None` at once: a
/// backslash is the only character the setting changes.
pub fn conforming_strings_differential(sql: &str) -> Option<LexDifference> {
    if !sql.as_bytes().contains(&b'\\') {
        return None;
    }
    first_difference(sql)
}

/// [`conforming_strings_differential`] without the shortcut for text without a backslash.
fn first_difference(sql: &str) -> Option<LexDifference> {
    let mut standard = Scanner::new(sql, true);
    let mut escaping = Scanner::new(sql, false);
    loop {
        match (standard.next(), escaping.next()) {
            (None, None) => return None,
            (one, other) if one != other => return Some(LexDifference::between(one, other)),
            _ => {}
        }
    }
}

impl LexDifference {
    /// The difference between the first tokens that are not the same, read with
    /// `standard_conforming_strings` on and off. Only a `'...'` literal reads differently, so
    /// both tokens start at that literal.
    fn between(standard: Option<Token>, escaping: Option<Token>) -> Self {
        let offset = match (standard, escaping) {
            (Some(one), Some(other)) => one.start.min(other.start),
            (Some(only), None) | (None, Some(only)) => only.start,
            (None, None) => 0,
        };
        let unterminated =
            |token: Option<Token>| token.is_some_and(|token| token.kind == TokenKind::Unterminated);
        let what = match (unterminated(standard), unterminated(escaping)) {
            (true, false) => {
                "is unterminated when standard_conforming_strings is on and complete when it is off"
            }
            (false, true) => {
                "is unterminated when standard_conforming_strings is off and complete when it is on"
            }
            _ => "ends in a different place when standard_conforming_strings is off",
        };
        LexDifference {
            offset,
            explanation: format!(
                "a '...' string literal with a backslash in it {what}; write E'...' for a \
                 backslash escape, or double the quote"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn differs(sql: &str) -> bool {
        conforming_strings_differential(sql).is_some()
    }

    #[test]
    fn the_penetration_test_input_differs_at_its_first_literal() {
        let sql = "SELECT 'x\\' , $$' ; DELETE FROM canary WHERE id = 6; -- $$";
        let difference = conforming_strings_differential(sql).unwrap();
        assert_eq!(difference.offset, 7);
        assert_eq!(
            difference.explanation,
            "a '...' string literal with a backslash in it ends in a different place when \
             standard_conforming_strings is off; write E'...' for a backslash escape, or double \
             the quote"
        );
    }

    #[test]
    fn a_backslash_before_a_closing_quote_differs() {
        let difference = conforming_strings_differential("SELECT 'x\\'").unwrap();
        assert_eq!(difference.offset, 7);
        assert!(difference.explanation.contains("unterminated when"));
        assert!(
            difference
                .explanation
                .contains("is off and complete when it is on")
        );
        let difference = conforming_strings_differential("SELECT '\\''").unwrap();
        assert!(
            difference
                .explanation
                .contains("is on and complete when it is off")
        );
        assert!(differs("SELECT 'a\\'' , 'b'"));
        assert!(differs("SELECT N'x\\' , 'y'"));
    }

    #[test]
    fn escaped_backslashes_and_ordinary_backslashes_do_not_differ() {
        for sql in [
            "SELECT 'a\\\\'",
            "SELECT 'C:\\path'",
            "SELECT * FROM t WHERE name LIKE 'a\\_b'",
            "SELECT 'a\\\\' , 'b'",
            "SELECT 'tab\\there', 1",
        ] {
            assert_eq!(conforming_strings_differential(sql), None, "{sql}");
        }
    }

    #[test]
    fn escape_strings_never_differ() {
        for sql in [
            "SELECT E'x\\' , $$' ; DELETE FROM t; -- $$'",
            "SELECT e'\\''",
            "SELECT E'\\\\' , E'\\x41\\101\\u0041'",
            "SELECT E'a'\n'\\'' , 1",
        ] {
            assert_eq!(conforming_strings_differential(sql), None, "{sql}");
        }
    }

    #[test]
    fn dollar_quotes_comments_and_names_hide_backslashes() {
        for sql in [
            "SELECT $$ 'x\\' $$",
            "SELECT $f$ \\' ' \\ $f$, 1",
            "SELECT 1 -- 'x\\'\n, 2",
            "SELECT 1 /* 'x\\' /* nested ' */ \\' */ , 2",
            "SELECT \"a\\\" , 'b'",
            "SELECT U&'\\0041'",
            "SELECT U&'d!0061t\\' UESCAPE '!'",
            "SELECT B'01' , X'\\'",
        ] {
            assert_eq!(conforming_strings_differential(sql), None, "{sql}");
        }
    }

    #[test]
    fn continued_literals_are_read_as_one() {
        assert!(differs("SELECT 'a'\n'b\\' , 'c'"));
        assert!(differs("SELECT 'a' -- comment\n  '\\'' , 'c'"));
        assert!(!differs("SELECT 'a'\n'b\\\\'"));
        assert!(!differs("SELECT E'a'\n'\\''"));
        // Without a newline between them the two are separate literals (a syntax error for the
        // server), and the second still reads differently.
        assert!(differs("SELECT 'a' '\\'' , 'c'"));
    }

    #[test]
    fn unterminated_under_both_settings_is_no_difference() {
        assert!(!differs("SELECT '\\"));
        assert!(!differs("SELECT $$ \\"));
        assert!(!differs("SELECT 1 /* \\"));
    }

    /// Inputs built to make a careless scanner rescan: any quadratic part would take minutes
    /// on them, not milliseconds.
    #[test]
    fn long_inputs_are_scanned_in_linear_time() {
        for piece in [
            "'a\\\\' ",
            "$a$ $b$a ",
            "/* /* \\",
            "'a'\n \t-- x\n",
            "\"\\\"\"",
            "E'\\'' ",
            "$$ $a$ $ab$ $",
        ] {
            let sql = format!("{}'\\'", piece.repeat(100_000));
            let started = std::time::Instant::now();
            let _ = conforming_strings_differential(&sql);
            assert!(started.elapsed().as_secs() < 5, "{piece:?}");
        }
    }

    /// Fragments that exercise every kind of token the scanner knows.
    const FRAGMENTS: &[&str] = &[
        "'", "\\", "\\'", "''", "E'", "e", "b'", "x'", "U&'", "U&\"", "n'", "\"", "$$", "$a$",
        "$1", "a$b", "--", "/*", "*/", "\n", " ", "\r", ";", "1", ".", "e5", "é", "-", "*", "/",
        "&", "u",
    ];

    fn text_from(pieces: Vec<usize>) -> String {
        pieces.into_iter().map(|piece| FRAGMENTS[piece]).collect()
    }

    proptest! {
        #[test]
        fn never_panics(sql in any::<String>(), pieces in prop::collection::vec(0..FRAGMENTS.len(), 0..40)) {
            let _ = conforming_strings_differential(&sql);
            let _ = conforming_strings_differential(&text_from(pieces));
        }

        #[test]
        fn text_without_a_backslash_never_differs(
            pieces in prop::collection::vec(0..FRAGMENTS.len(), 0..40)
        ) {
            let sql = text_from(pieces).replace('\\', "");
            prop_assert_eq!(first_difference(&sql), None);
        }

        #[test]
        fn tokens_cover_the_text_in_order(pieces in prop::collection::vec(0..FRAGMENTS.len(), 0..40)) {
            let sql = text_from(pieces);
            for standard_conforming_strings in [true, false] {
                let mut previous_end = 0;
                for token in Scanner::new(&sql, standard_conforming_strings) {
                    prop_assert!(previous_end <= token.start && token.start < token.end);
                    prop_assert!(token.end <= sql.len());
                    prop_assert!(sql.is_char_boundary(token.start) && sql.is_char_boundary(token.end));
                    previous_end = token.end;
                }
            }
        }
    }
}
