//! MariaDB/MySQL statement classification for gatehouse: turns the text of a `COM_QUERY` or
//! `COM_STMT_PREPARE` into [`SqlStatement`]s that the same `sql:*` policies that govern
//! PostgreSQL can decide, one per statement.
//!
//! No parser outside the server is the server's parser, so nothing here pretends to parse
//! MariaDB's grammar. A lexer reads the text exactly as MariaDB's lexer does under the
//! session's [`SqlMode`] (string and identifier quoting, `ANSI_QUOTES`,
//! `NO_BACKSLASH_ESCAPES`, comments, and executable comments `/*! ... */`, `/*!50700 ... */`,
//! `/*M! ... */` whose content the server runs), splits a multi-statement message where the
//! server splits it, and an allowlist of statement forms whose effect is known gives each
//! statement its kind. Anything outside the allowlist is [`SqlKind::Unknown`].
//!
//! What it holds to, each checked against MariaDB 10.11 by `tests/server_agreement.rs`:
//! - A message is read one statement at a time, each under the `sql_mode` the statements
//!   before it set (`SET sql_mode = '...'` changes how the rest of the message is read).
//! - Text the server would reject while reading it (an unterminated quote or comment, a `;`
//!   inside executable-comment code, a NUL byte) makes the whole message one unknown
//!   statement.
//! - A statement's kind is the strongest effect anywhere in it: row locks, files written,
//!   calls to built-ins with effects, calls to anything that may be a stored function,
//!   statement keywords where a query has none (what an executable comment can slip in), and
//!   the server's own catalogues (`catalogs`).
//!
//! Modules, one concern each: `mode` (reading `@@sql_mode`), `comments` and `quotes` (the
//! lexer's rules for each), `lexer` (text to statements and tokens), `message` (statement
//! after statement under the mode in force), `statements` (the allowlist), `ddl` and `set`
//! (the two families with the most forms), `scan` (what a query reads and calls),
//! `functions` (which calls are known), `where_clause` (`all_rows`), `fingerprint`, and
//! `facts` (how effects combine).

mod catalogs;
mod comments;
mod ddl;
mod facts;
mod fingerprint;
mod functions;
mod lexer;
mod message;
mod mode;
mod quotes;
mod scan;
mod set;
mod statements;
mod token;
mod where_clause;

pub use token::{LexError, Statement, Token, TokenKind};

/// The reason of a `LOAD DATA LOCAL INFILE` / `LOAD XML LOCAL INFILE` statement (kind
/// `Admin`): an adapter refuses it whatever policy says, since it would make the server ask
/// for a file of the client's machine.
pub const LOCAL_INFILE: &str =
    "LOAD ... LOCAL INFILE makes the server ask the client for a file of its machine";

#[cfg(doc)]
use gatehouse_core::SqlKind;
use gatehouse_core::SqlStatement;

use crate::facts::Facts;

/// The `sql_mode` flags that change how MariaDB reads text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SqlMode {
    /// `"..."` quotes an identifier, not a string.
    pub ansi_quotes: bool,
    /// A backslash in a string is an ordinary character.
    pub no_backslash_escapes: bool,
    /// `||` is concatenation, not `OR` (no lexing effect, but a different expression).
    pub pipes_as_concat: bool,
    /// `ORACLE` (or a mode that implies it): the server switches to another grammar, which
    /// gatehouse does not read; every statement is unknown.
    pub oracle: bool,
    /// `IGNORE_SPACE`: spaces between a built-in function's name and its `(` are allowed
    /// (without it, `count (x)` names no built-in and may call a stored function).
    pub ignore_space: bool,
}

/// What the server's lexer assumes besides the mode: the version executable comments are
/// compared with (`/*!50700 ...*/` runs on servers at version ≥ 5.07.00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexing {
    pub mode: SqlMode,
    /// The server's version as MariaDB numbers it for executable comments: `101119` for
    /// 10.11.19.
    pub server_version: u32,
}

/// A change to the session's state that the adapter must follow (or refuse) for the
/// statements after this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// `USE db`: names now resolve in `db`.
    UseDatabase(String),
    /// `SET NAMES x`, `SET CHARACTER SET x`, `SET character_set_client = x`: the client's
    /// character set (lowercase name as written).
    ClientCharset(String),
    /// `SET [SESSION] sql_mode = '...'`: the new mode's text when the statement names it
    /// literally.
    SqlMode(String),
    /// `SET sql_mode = <expression>` (`(SELECT CONCAT(@@sql_mode, ',PIPES_AS_CONCAT'))`, as
    /// sqlx sends at connect, or `DEFAULT`): only the server knows the new mode, so the rest
    /// of the message is `Unknown`, and an adapter may allow the statement only where the
    /// server reports the mode it ends up with (session tracking) before the next message is
    /// read.
    SqlModeFromServer,
    /// `PREPARE name FROM '...'`: a prepared statement of the session, classified as its text.
    Prepare { name: String },
    /// `EXECUTE name [USING ...]`: resolve it to what `name` was prepared as.
    Execute { name: String },
    /// `DEALLOCATE PREPARE name` / `DROP PREPARE name`.
    Deallocate { name: String },
}

/// One classified statement of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub statement: SqlStatement,
    /// What it changes in the session, when the adapter must follow it.
    pub session: Option<SessionChange>,
}

/// Classify a whole message, which may hold several statements (multi-statements), in order.
///
/// Never panics. Empty and comment-only text gives an empty `Vec`. Text the lexer cannot read
/// the way the server would (an unterminated quote or comment) gives one `Unknown` statement
/// holding the whole text. Statements after a `SET sql_mode = '...'` are read under the new
/// mode, as the server reads them.
pub fn classify(text: &str, lexing: &Lexing) -> Vec<Classified> {
    match message::read(text, lexing) {
        Ok(reads) => reads
            .into_iter()
            .map(|read| {
                let text = text.get(read.statement.span.clone()).unwrap_or_default();
                classified(
                    text,
                    fingerprint::fingerprint(&read.statement.tokens, read.facts.literals_matter),
                    read.facts,
                )
            })
            .collect(),
        Err(error) => vec![whole_text_unknown(
            text,
            &format!("cannot be read as the server reads it: {error}"),
        )],
    }
}

/// The statements of `text` with their tokens, as MariaDB's lexer reads them under
/// `lexing` (and, after a `SET sql_mode` in the message, under the new mode): what
/// [`classify`] works on, public for differential tests against a server. A statement read
/// under `ORACLE` has no tokens.
pub fn lex(text: &str, lexing: &Lexing) -> Result<Vec<Statement>, LexError> {
    message::read(text, lexing).map(|reads| reads.into_iter().map(|read| read.statement).collect())
}

fn whole_text_unknown(text: &str, reason: &str) -> Classified {
    classified(text.trim(), String::new(), Facts::unknown(reason))
}

fn classified(text: &str, fingerprint: String, mut facts: Facts) -> Classified {
    facts.finish();
    Classified {
        statement: SqlStatement {
            text: text.to_owned(),
            kind: facts.kind,
            reads: facts.reads,
            writes: facts.writes,
            functions: facts.functions,
            fingerprint,
            reason: facts.reason,
            all_rows: facts.all_rows,
            context: None,
            lineage: None,
        },
        session: facts.session,
    }
}

/// The MariaDB built-in functions gatehouse knows (lowercase): calls to any other name are
/// unknown. Public so tests can check each against a server.
pub fn known_builtins() -> impl Iterator<Item = &'static str> {
    functions::known_builtins()
}

/// Whether a client character set is one whose multi-byte characters can end in a byte that
/// is a backslash or a quote (`big5`, `cp932`, `gbk`, `gb18030`, `sjis`): such text is read
/// differently by a lexer that does not know the set, so these are refused for everyone.
/// Names are MariaDB's (`utf8`, `utf8mb3`, `utf8mb4`, `latin1`, ...), any case.
pub fn charset_is_refused(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "big5" | "cp932" | "gbk" | "gb18030" | "sjis"
    )
}
