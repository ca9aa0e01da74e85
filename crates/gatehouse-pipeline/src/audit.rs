//! Step 4 of the pipeline: the audit event written before a request is forwarded, and the
//! sink interface that stores it.

use crate::BoxFuture;
use serde::Serialize;

/// What an audit event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditEventKind {
    Connect,
    Disconnect,
    Statement,
}

impl AuditEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventKind::Connect => "connect",
            AuditEventKind::Disconnect => "disconnect",
            AuditEventKind::Statement => "statement",
        }
    }
}

/// One audit record. Holds no secrets and no response data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub time_unix_ms: i64,
    pub kind: AuditEventKind,
    pub session: String,
    pub subject: String,
    pub identity_kind: String,
    pub groups: Vec<String>,
    pub acting_for: Vec<String>,
    pub connection: String,
    pub source_address: Option<String>,
    /// Cedar action name; empty for disconnects.
    pub action: String,
    /// `allow` or `deny`; empty for disconnects.
    pub decision: String,
    pub policies: Vec<String>,
    pub statement: Option<String>,
    pub fingerprint: Option<String>,
    /// Free-form detail: the denial message, a disconnect reason.
    pub detail: Option<String>,
}

/// Durable storage for audit events. `record` resolves only once the events are stored; an
/// error means they are not, and the caller must not forward the request they describe.
pub trait AuditSink: Send + Sync {
    fn record(&self, events: Vec<AuditEvent>) -> BoxFuture<'_, Result<(), String>>;
}
