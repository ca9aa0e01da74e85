//! Reading a whole message the way the server runs it: statement after statement, each read
//! under the `sql_mode` in force when the server reaches it.
//!
//! MariaDB parses each statement of a multi-statement message only after running the one
//! before, so `SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\'; DROP TABLE t; -- '` runs
//! the `DROP` (checked against the server in `tests/server_agreement.rs`), and text after a
//! mode change is never read under the old mode. So statements are read one at a time, each
//! under the mode set by the statements before it; under `ORACLE` the rest is one unknown
//! statement, and so is the rest after a statement that may set the mode or the client
//! character set to what gatehouse cannot read (`SET sql_mode = @m`, `SET NAMES gbk`,
//! `EXECUTE s`). Text that cannot be read anywhere makes the whole message unknown.

use crate::facts::Facts;
use crate::statements::classify_tokens;
use crate::token::{LexError, Statement};
use crate::{Lexing, SessionChange, SqlMode, catalogs, lexer};

/// One statement of a message and what classification found in it.
pub struct Read {
    pub statement: Statement,
    pub facts: Facts,
}

pub fn read(text: &str, lexing: &Lexing) -> Result<Vec<Read>, LexError> {
    let mut reads = Vec::new();
    let mut current = *lexing;
    let mut offset = 0;
    loop {
        let rest = text.get(offset..).unwrap_or_default();
        if rest.trim_start().is_empty() {
            return Ok(reads);
        }
        if current.mode.oracle {
            reads.push(rest_unknown(
                text,
                offset,
                "sql_mode ORACLE switches the server to a grammar gatehouse does not read",
            ));
            return Ok(reads);
        }
        let Some(mut statement) = lexer::first_statement(rest, &current)? else {
            return Ok(reads);
        };
        shift(&mut statement, offset);
        let mut facts = classify_tokens(&statement.tokens, text, &current, 0);
        catalogs::check(&mut facts);
        if let Some(SessionChange::SqlMode(value)) = &facts.session {
            current.mode = SqlMode::from_server_value(value);
        }
        offset = statement.next;
        let unreadable_after = facts.unreadable_after;
        reads.push(Read { statement, facts });
        if unreadable_after {
            if !text
                .get(offset..)
                .unwrap_or_default()
                .trim_start()
                .is_empty()
            {
                reads.push(rest_unknown(
                    text,
                    offset,
                    "follows a statement that may change sql_mode or the client character set to what gatehouse cannot read",
                ));
            }
            return Ok(reads);
        }
    }
}

/// The text from `offset` on as one unknown statement.
fn rest_unknown(text: &str, offset: usize, reason: &str) -> Read {
    let rest = text.get(offset..).unwrap_or_default();
    let leading = rest.len() - rest.trim_start().len();
    let span = (offset + leading)..(offset + rest.trim_end().len()).max(offset + leading);
    Read {
        statement: Statement {
            span,
            tokens: Vec::new(),
            next: text.len(),
        },
        facts: Facts::unknown(reason),
    }
}

/// Moves a statement read from `text[offset..]` to positions in `text`.
fn shift(statement: &mut Statement, offset: usize) {
    statement.span = (statement.span.start + offset)..(statement.span.end + offset);
    statement.next += offset;
    for token in &mut statement.tokens {
        token.span = (token.span.start + offset)..(token.span.end + offset);
    }
}
