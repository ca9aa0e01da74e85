//! What a recording holds: the events of one client session, in order. These types are the
//! NDJSON lines inside every chunk, so their serde shape *is* the format (see `FORMAT.md`).

use gatehouse_core::DecisionKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The most rows one [`EventKind::Rows`] event may carry; the writer refuses larger batches.
/// Split a large result into several `rows` events.
pub const MAX_ROWS_PER_EVENT: usize = 256;

/// One event, stamped with the microseconds since the session started.
///
/// Serialized as one JSON object: `{"at_us":12,"type":"request",...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingEvent {
    /// Microseconds since the session started; never decreases within a recording.
    pub at_us: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened, tagged by `type` in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    SessionStart(SessionStart),
    Request(Request),
    Approval(Approval),
    Result(QueryResult),
    Rows(ResultRows),
    SessionEnd(SessionEnd),
}

/// The first event: who connected to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStart {
    pub session: String,
    pub subject: String,
    /// `human` or `machine`.
    pub identity_kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Delegation chain, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acting_for: Vec<String>,
    pub connection: String,
    /// e.g. `postgres`.
    pub connection_kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// RFC 3339, UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub gatehouse_version: String,
}

/// A request and the policy decision on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Index of the request within the session, from 0; later events refer to it.
    pub request: u64,
    /// Cedar action, e.g. `sql:select`.
    pub action: String,
    pub decision: DecisionKind,
    /// Policies that determined the decision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Sequence number of the matching audit record, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}

/// A change in the approval of a held request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub request: u64,
    pub approval_id: String,
    /// e.g. `pending`, `approved`, `rejected`, `expired`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// What a request's execution returned: its shape and size, never its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResult {
    pub request: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
    pub rows: u64,
    pub bytes: u64,
    pub duration_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResultError>,
    /// Masked values by detector or rule name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub masked: BTreeMap<String, u64>,
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_oid: Option<u32>,
}

/// The error a request ended with, e.g. a PostgreSQL SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultError {
    pub code: String,
    pub message: String,
}

/// A batch of result rows, already masked, for connections that record results. At most
/// [`MAX_ROWS_PER_EVENT`] rows; `None` is SQL `NULL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRows {
    pub request: u64,
    pub rows: Vec<Vec<Option<String>>>,
}

/// The last event: why the session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnd {
    pub reason: String,
}
