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

use gatehouse_core::{SqlKind, SqlStatement};

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
}

impl SqlMode {
    /// The mode a server reports as the value of `@@sql_mode` (a comma-separated list of
    /// flags, any case, combination modes such as `ANSI` included).
    pub fn from_server_value(value: &str) -> SqlMode {
        let _ = value;
        SqlMode::default()
    }
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
/// holding the whole text.
pub fn classify(text: &str, lexing: &Lexing) -> Vec<Classified> {
    let _ = lexing;
    vec![Classified {
        statement: SqlStatement {
            text: text.to_owned(),
            kind: SqlKind::Unknown,
            reads: Vec::new(),
            writes: Vec::new(),
            functions: Vec::new(),
            fingerprint: String::new(),
            reason: Some("not classified yet".to_owned()),
            all_rows: false,
            context: None,
            lineage: None,
        },
        session: None,
    }]
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
