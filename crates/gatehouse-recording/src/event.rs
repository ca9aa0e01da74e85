//! What a recording holds: the events of one client session, in order. These types are the
//! NDJSON lines inside every chunk, so their serde shape *is* the format (see `FORMAT.md`).
//!
//! The envelope is protocol-neutral: every protocol shares the session, request, approval and
//! result kinds, and adds what it streams through the kinds made for it — terminal output for
//! shells and exec, HTTP exchanges, and [`ProtocolEvent`] for anything protocol-specific — so a
//! new protocol adds events, never a format version. Readers skip kinds they do not know.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
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
    Result(ResultSummary),
    Rows(ResultRows),
    Terminal(TerminalData),
    TerminalResize(TerminalResize),
    HttpExchange(HttpExchange),
    Protocol(ProtocolEvent),
    SessionEnd(SessionEnd),
    /// An event of a kind this version does not know (written by a newer gatehouse); read so
    /// that the rest of the recording stays readable, never written.
    #[serde(other)]
    Unrecognised,
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
    /// The canonical request text the audit log holds (a statement, a command line, a method
    /// and URL). Version 1 called it `statement`.
    #[serde(default, alias = "statement", skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Sequence number of the matching audit record, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}

/// A [`Request`] borrowing its strings, for [`crate::RecordingWriter::push_request`]: the same
/// fields, written as the same event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRef<'a> {
    pub request: u64,
    pub action: &'a str,
    pub decision: DecisionKind,
    pub policies: &'a [String],
    pub text: Option<&'a str>,
    pub fingerprint: Option<&'a str>,
    pub audit_seq: Option<i64>,
}

impl Request {
    /// This request's fields, borrowed.
    pub fn borrowed(&self) -> RequestRef<'_> {
        RequestRef {
            request: self.request,
            action: &self.action,
            decision: self.decision,
            policies: &self.policies,
            text: self.text.as_deref(),
            fingerprint: self.fingerprint.as_deref(),
            audit_seq: self.audit_seq,
        }
    }
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
pub struct ResultSummary {
    pub request: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
    pub rows: u64,
    pub bytes: u64,
    pub duration_us: u64,
    /// The protocol's completion status, e.g. a PostgreSQL command tag (`UPDATE 3`). Version 1
    /// called it `command_tag`.
    #[serde(
        default,
        alias = "command_tag",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResultError>,
    /// Masked values by detector or rule name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub masked: BTreeMap<String, u64>,
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ColumnAsRead")]
pub struct Column {
    pub name: String,
    /// The protocol's name for the column's type, e.g. `int8`, or `oid 16384` for a
    /// PostgreSQL type known only by its OID.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// A column as either version wrote it: version 1 had `type_name` and a PostgreSQL `type_oid`.
#[derive(Deserialize)]
struct ColumnAsRead {
    name: String,
    #[serde(default, rename = "type", alias = "type_name")]
    type_name: Option<String>,
    #[serde(default)]
    type_oid: Option<u32>,
}

impl From<ColumnAsRead> for Column {
    fn from(read: ColumnAsRead) -> Self {
        Column {
            name: read.name,
            type_name: read
                .type_name
                .or_else(|| read.type_oid.map(|oid| format!("oid {oid}"))),
        }
    }
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

/// Which stream of a terminal (an SSH shell, a Kubernetes exec) bytes travelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalStream {
    /// What the client typed or sent.
    Input,
    /// What the target printed.
    Output,
    /// The target's standard error, where the protocol keeps it apart.
    Error,
}

/// Bytes of a terminal stream, in the order they passed. UTF-8 is kept as text (`text`);
/// anything else as standard base64 (`base64`), so replays reproduce the exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalData {
    /// The request (the shell or exec) the stream belongs to.
    pub request: u64,
    pub stream: TerminalStream,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
}

impl TerminalData {
    /// The event for `bytes` on `stream`, as text when they are UTF-8.
    pub fn new(request: u64, stream: TerminalStream, bytes: &[u8]) -> Self {
        let (text, base64) = match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (None, Some(BASE64.encode(bytes))),
        };
        TerminalData {
            request,
            stream,
            text,
            base64,
        }
    }

    /// The bytes that passed; `None` when `base64` does not decode.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match (&self.text, &self.base64) {
            (Some(text), _) => Some(text.as_bytes().to_vec()),
            (None, Some(encoded)) => BASE64.decode(encoded).ok(),
            (None, None) => Some(Vec::new()),
        }
    }
}

/// The client resized its terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalResize {
    pub request: u64,
    pub columns: u16,
    pub rows: u16,
}

/// One HTTP request and its response, as the upstream saw them: never bodies, which are
/// masked and not kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    pub request: u64,
    pub method: String,
    /// Path and query exactly as sent upstream.
    pub target: String,
    pub status: u16,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub duration_us: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Masked values by detector or rule name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub masked: BTreeMap<String, u64>,
}

/// Something only one protocol has, named within it (`protocol` + `name`), with its own JSON
/// payload: the way an adapter records more than the shared kinds carry without a new format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolEvent {
    /// The request it belongs to, when it belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<u64>,
    /// The connection kind that wrote it, e.g. `postgres`.
    pub protocol: String,
    /// What happened, in the protocol's words, e.g. `notification`.
    pub name: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

/// The last event: why the session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionEnd {
    pub reason: String,
}
