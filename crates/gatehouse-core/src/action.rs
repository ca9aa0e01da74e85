//! What is being asked: the typed action a protocol adapter decodes a request into.
//!
//! Action names are stable: policies, audit events and documentation refer to them by the
//! strings returned from [`Action::name`].

use crate::Lineage;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The effect class of one SQL statement, strongest effect first when several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlKind {
    /// Reads data (plain `SELECT`, `COPY ... TO STDOUT`, `EXPLAIN` without `ANALYZE`).
    Select,
    Insert,
    /// Changes existing rows, or locks them for change (`SELECT ... FOR UPDATE`), or sequences.
    Update,
    Delete,
    /// Changes the schema (`CREATE`, `ALTER`, `DROP`, `TRUNCATE`, `SELECT INTO`, ...).
    Ddl,
    /// Changes privileges or roles (`GRANT`, `REVOKE`, `CREATE ROLE`, ...).
    Dcl,
    /// Changes the server or reaches outside the database (`ALTER SYSTEM`, `COPY ... PROGRAM`,
    /// `SET ROLE`, `LOAD`, `pg_read_file()`, `dblink_exec()`, ...).
    Admin,
    /// Session and transaction housekeeping with no data effect (`BEGIN`, `COMMIT`, `SHOW`,
    /// `SET` of an ordinary setting, `DEALLOCATE`, `DISCARD`, `LISTEN`).
    Session,
    /// Anything whose effect gatehouse cannot know: `DO`, `CALL`, `EXECUTE` of an unseen
    /// prepared statement, dynamic SQL, text that does not parse.
    Unknown,
}

impl SqlKind {
    /// The Cedar action name, e.g. `sql:select`.
    pub fn action_name(self) -> &'static str {
        match self {
            SqlKind::Select => "sql:select",
            SqlKind::Insert => "sql:insert",
            SqlKind::Update => "sql:update",
            SqlKind::Delete => "sql:delete",
            SqlKind::Ddl => "sql:ddl",
            SqlKind::Dcl => "sql:dcl",
            SqlKind::Admin => "sql:admin",
            SqlKind::Session => "sql:session",
            SqlKind::Unknown => "sql:unknown",
        }
    }

    /// Ordering by strength of effect, used to pick the strongest effect of a statement.
    pub fn severity(self) -> u8 {
        match self {
            SqlKind::Session => 0,
            SqlKind::Select => 1,
            SqlKind::Insert => 2,
            SqlKind::Update => 3,
            SqlKind::Delete => 4,
            SqlKind::Ddl => 5,
            SqlKind::Dcl => 6,
            SqlKind::Admin => 7,
            SqlKind::Unknown => 8,
        }
    }

    /// Every kind, in severity order; useful for documentation and exhaustive tests.
    pub const ALL: [SqlKind; 9] = [
        SqlKind::Session,
        SqlKind::Select,
        SqlKind::Insert,
        SqlKind::Update,
        SqlKind::Delete,
        SqlKind::Ddl,
        SqlKind::Dcl,
        SqlKind::Admin,
        SqlKind::Unknown,
    ];
}

/// One classified SQL statement: the unit a policy decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlStatement {
    /// The statement's text as the client sent it (one statement, not the whole message).
    pub text: String,
    pub kind: SqlKind,
    /// Relations read, lowercased, schema-qualified when the statement qualified them.
    pub reads: Vec<String>,
    /// Relations written (inserted into, updated, deleted from, created, altered, dropped).
    pub writes: Vec<String>,
    /// Functions called, lowercased, schema-qualified when the statement qualified them.
    pub functions: Vec<String>,
    /// Normalised fingerprint (constants stripped), stable across literal values.
    pub fingerprint: String,
    /// Why the statement got a stronger kind than its statement type suggests, if it did
    /// (e.g. "calls pg_read_file, which reads server files").
    pub reason: Option<String>,
    /// An `UPDATE` or `DELETE` (possibly nested, e.g. in a `WITH`) without a `WHERE` clause,
    /// or with one gatehouse can tell holds for every row (`WHERE true`, `WHERE 1 = 1`, ...),
    /// or a `MERGE` whose `UPDATE`/`DELETE` action reaches every target row (`ON true`): it
    /// changes every row of its table. Policies see it as `context.all_rows`. Not every
    /// all-rows condition can be told from the text.
    #[serde(default)]
    pub all_rows: bool,
    /// What the statement's meaning depends on besides its text, when gatehouse knows it:
    /// the parameter values bound to it and the session state its names resolve in. Audited
    /// with the statement, and part of what an approval binds to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Box<StatementContext>>,
    /// Where the statement's result values come from and which columns choose its rows, as
    /// far as its text shows; `None` when not analysed. Masking reads it; it is never
    /// serialized, so policies and audit events see the statement as before.
    #[serde(skip)]
    pub lineage: Option<Arc<Lineage>>,
}

/// The parameters and session state a statement runs with: the same text means something
/// else with other parameter values, another `search_path`, another role, or a temporary
/// table that shadows the relation it names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementContext {
    /// Parameter values bound to it, in order, as text (binary values as `\x` hex), masked
    /// where the session's results are masked; `None` for SQL NULL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Option<String>>,
    /// Session state names resolve in, as `(name, value)`: `search_path`, `role`, and
    /// `relation <name>` → its OID (empty when it does not exist).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<(String, String)>,
    /// SHA-256 (hex) of the exact parameter bytes and formats, and of `resolved`: equal
    /// digests mean the statement means the same thing.
    pub digest: String,
}

/// A typed request, decided by policy. Adapters decode bytes into these; nothing downstream of
/// the adapter sees bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Action {
    /// Opening a session on a connection.
    Connect,
    /// Seeing the connection's data without masking; asked once per session where masking
    /// is configured. Denied means masked.
    ViewUnmasked,
    /// One SQL statement.
    Sql(SqlStatement),
}

impl Action {
    /// The stable Cedar action name (`connect`, `sql:select`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::ViewUnmasked => "data:unmasked",
            Action::Sql(statement) => statement.kind.action_name(),
        }
    }
}
