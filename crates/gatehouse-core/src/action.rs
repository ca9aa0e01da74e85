//! What is being asked: the typed action a protocol adapter decodes a request into.
//!
//! Action names are stable: policies, audit events and documentation refer to them by the
//! strings returned from [`Action::name`].

use crate::request::{Effect, ProtocolRequest, ProtocolSchema};
use crate::{Attribute, Lineage};
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
/// the adapter sees bytes, and nothing but the adapter knows which protocol a request is.
#[derive(Debug, Clone)]
pub enum Action {
    /// Opening a session on a connection.
    Connect,
    /// Seeing the connection's data without masking; asked once per session where masking
    /// is configured. Denied means masked.
    ViewUnmasked,
    /// One request of a protocol (one SQL statement, ...).
    Request(Arc<dyn ProtocolRequest>),
}

impl Action {
    /// The action for one request of a protocol.
    pub fn of(request: impl ProtocolRequest) -> Action {
        Action::Request(Arc::new(request))
    }

    /// The stable Cedar action name (`connect`, `sql:select`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::ViewUnmasked => "data:unmasked",
            Action::Request(request) => request.action(),
        }
    }

    /// The protocol request, unless this is a session-level action.
    pub fn request(&self) -> Option<&dyn ProtocolRequest> {
        match self {
            Action::Connect | Action::ViewUnmasked => None,
            Action::Request(request) => Some(request.as_ref()),
        }
    }

    /// The adapter's own request type behind this action, if it is `T`.
    pub fn downcast_ref<T: ProtocolRequest>(&self) -> Option<&T> {
        self.request()?.downcast_ref::<T>()
    }

    /// What forwarding it does; session-level actions change nothing at the target.
    pub fn effect(&self) -> Effect {
        self.request()
            .map_or(Effect::SessionState, |request| request.effect())
    }
}

/// The SQL protocol's part of the Cedar schema.
pub const SQL_PROTOCOL: ProtocolSchema = ProtocolSchema {
    name: "sql",
    fragment: include_str!("../schema/sql.cedarschema"),
    request_actions: &[
        "sql:select",
        "sql:insert",
        "sql:update",
        "sql:delete",
        "sql:ddl",
        "sql:dcl",
        "sql:admin",
        "sql:session",
        "sql:unknown",
    ],
};

impl SqlKind {
    /// What a statement of this kind does to the database.
    pub fn effect(self) -> Effect {
        match self {
            SqlKind::Select => Effect::Read,
            SqlKind::Session => Effect::SessionState,
            SqlKind::Insert | SqlKind::Update | SqlKind::Delete => Effect::Write,
            SqlKind::Ddl | SqlKind::Dcl | SqlKind::Admin => Effect::Admin,
            SqlKind::Unknown => Effect::Unknown,
        }
    }
}

impl ProtocolRequest for SqlStatement {
    fn action(&self) -> &'static str {
        self.kind.action_name()
    }

    fn effect(&self) -> Effect {
        self.kind.effect()
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn context(&self) -> Option<&StatementContext> {
        self.context.as_deref()
    }

    /// `statement`, `fingerprint`, `reads`, `writes`, `tables` (both), `functions`, `all_rows`:
    /// the `SqlContext` of `schema/sql.cedarschema`.
    fn attributes(&self) -> Vec<(&'static str, Attribute)> {
        let tables = self.reads.iter().chain(&self.writes).cloned().collect();
        vec![
            ("statement", Attribute::String(self.text.clone())),
            ("fingerprint", Attribute::String(self.fingerprint.clone())),
            ("reads", Attribute::Set(self.reads.clone())),
            ("writes", Attribute::Set(self.writes.clone())),
            ("tables", Attribute::Set(tables)),
            ("functions", Attribute::Set(self.functions.clone())),
            ("all_rows", Attribute::Bool(self.all_rows)),
        ]
    }

    fn explanation(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}
