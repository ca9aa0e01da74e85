//! SQL classification for gatehouse: turns the text of a PostgreSQL query message into
//! [`SqlStatement`]s a policy can decide, one per statement.
//!
//! Statements are parsed with PostgreSQL's real grammar (the `pg_query` crate links the server's
//! parser), so comments, dollar quoting, `U&"..."` identifiers and string literals holding
//! semicolons are read exactly as the server will read them. Each statement gets the strongest
//! [`SqlKind`] of everything it does anywhere in its tree (a `DELETE` in a `WITH` makes a
//! `SELECT` a `Delete`), the relations it reads and writes, the functions it calls, and a
//! fingerprint. See the `classify` module for the rules and why they are what they are. Each
//! query also gets its column lineage (`SqlStatement::lineage`, see the `lineage` module):
//! what its result columns derive from and which columns choose its rows, for masking.
//!
//! - [`classify`]: one message to its statements.
//! - [`Classifier`]: the same behind a bounded, thread-safe cache, by full text and by
//!   template (the text with its literal values taken out, reused only where the parse tree
//!   proves the classification does not depend on them).
//! - [`PreparedStatements`]: per-session tracking so `EXECUTE p` is judged as what `p` was
//!   prepared as, and `FETCH c` as the query cursor `c` was declared for.
//! - [`conforming_strings_differential`]: finds text whose statements depend on
//!   `standard_conforming_strings`, which pg_query always reads as on.
//! - [`decode_client_text`] and [`encode_for_client`]: client text in any `client_encoding`
//!   ([`PgEncoding`]) read as the server reads it, and gatehouse's messages written for it.
//! - [`rule_effect`]: a rewrite rule's definition read as what its actions do, so a write
//!   that fires it can be decided as that too.

mod cache;
mod catalogs;
mod classify;
mod encoding;
mod facts;
mod fold;
mod functions;
mod lexing;
mod lineage;
mod literals;
mod prepared;
mod rules;
mod settings;
mod statements;
mod syntax_error;
mod template;
mod transaction_control;
mod walk;

pub use cache::Classifier;
pub use classify::{LEXES_DIFFERENTLY, UNPARSABLE};
pub use encoding::{EncodingError, PgEncoding, decode_client_text, encode_for_client};
pub use lexing::{LexDifference, conforming_strings_differential};
pub use prepared::PreparedStatements;
pub use rules::{RuleEffect, rule_effect};
pub use syntax_error::syntax_error_position;
pub use transaction_control::{TransactionControl, transaction_control};

#[cfg(doc)]
use gatehouse_core::SqlKind;
use gatehouse_core::SqlStatement;

/// Result of classifying one statement, plus what it does to the session's SQL-level prepared
/// statements and cursors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedStatement {
    pub statement: SqlStatement,
    pub prepared: Option<PreparedOp>,
}

/// What a statement does to the session's SQL-level prepared statements and cursors.
/// [`PreparedStatements::resolve`] acts on these; a protocol adapter may also use the names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreparedOp {
    /// `PREPARE name AS ...`; the statement's classification is the prepared statement's.
    Prepare { name: String },
    /// `EXECUTE name`; resolve it with [`PreparedStatements::resolve`].
    Execute { name: String },
    /// `DEALLOCATE name`, or `DEALLOCATE ALL` (`name: None`). Cursors are not affected.
    Deallocate { name: Option<String> },
    /// `DECLARE name CURSOR FOR ...`: creates a server-side portal called `name` (the
    /// statement's classification is the cursor query's, and
    /// [`PreparedStatements::resolve`] records it). Reported also so that a protocol adapter
    /// can keep names it generates for its own portals out of the client's reach.
    DeclareCursor { name: String },
    /// `FETCH` or `MOVE` of a named cursor, which runs the cursor's query as far as it goes;
    /// resolve it with [`PreparedStatements::resolve`]. The server resolves the name among
    /// *all* portals, including those created by the extended protocol's `Bind`, so an
    /// adapter must keep the names it generates out of reach (a `FETCH` of a bound,
    /// never-executed `DELETE ... RETURNING` portal would run it).
    UsesCursor { name: String },
    /// `CLOSE name`, or `CLOSE ALL` (`name: None`). Like `FETCH`, `CLOSE name` reaches any
    /// portal of that name.
    CloseCursor { name: Option<String> },
    /// `DISCARD ALL`: deallocates every prepared statement and closes every cursor.
    DiscardAll,
}

/// Classify a whole query message, which may hold several statements, in order.
///
/// Never panics and never hangs. Empty, whitespace-only and comment-only text gives an empty
/// `Vec`. Text that does not parse gives exactly one statement of kind [`SqlKind::Unknown`]
/// whose text is the whole input and whose reason starts with `"does not parse: "` followed by
/// the parser's message: one bad statement makes the whole message unknown, as the server
/// would reject the whole message. Text whose statements would end in other places with
/// `standard_conforming_strings` off is refused the same way (one `Unknown` statement holding
/// the whole input), with a reason that starts with [`LEXES_DIFFERENTLY`].
pub fn classify(sql: &str) -> Vec<ClassifiedStatement> {
    classify::classify_message(sql)
}
