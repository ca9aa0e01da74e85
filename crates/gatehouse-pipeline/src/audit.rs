//! Step 4 of the pipeline: the audit event written before a request is forwarded, and the
//! sink interface that stores it.
//!
//! The event's serde form is its canonical encoding: the store writes exactly these bytes and
//! chains their MAC, and `gatehouse audit export` prints these field names. Add fields only at
//! the end, optional, so that older events keep verifying.

use crate::BoxFuture;
use serde::{Deserialize, Serialize};

/// What an audit event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEventKind {
    Connect,
    Disconnect,
    /// A decided request (one SQL statement).
    Statement,
    /// What a forwarded statement did: rows affected or the error, and how long it took.
    Outcome,
    /// An API key created or revoked.
    KeyChange,
    /// The policy set in force changed (gatehouse started with a new version).
    PolicyChange,
    /// Somebody read the audit log (export, verify, tail).
    AuditRead,
    /// Session recordings deleted (retention or by hand).
    RecordingChange,
    /// An approval changed state (requested, approved, denied, expired, cancelled, executed).
    Approval,
    /// An AI agent called an MCP tool (recorded before the tool runs).
    ToolCall,
    /// A presented credential was refused (with the reason, never the credential).
    AuthFailure,
    /// A network-resident agent enrolled, connected, was refused, or disconnected.
    Agent,
}

impl AuditEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventKind::Connect => "connect",
            AuditEventKind::Disconnect => "disconnect",
            AuditEventKind::Statement => "statement",
            AuditEventKind::Outcome => "outcome",
            AuditEventKind::KeyChange => "key_change",
            AuditEventKind::PolicyChange => "policy_change",
            AuditEventKind::AuditRead => "audit_read",
            AuditEventKind::RecordingChange => "recording_change",
            AuditEventKind::Approval => "approval",
            AuditEventKind::ToolCall => "tool_call",
            AuditEventKind::AuthFailure => "auth_failure",
            AuditEventKind::Agent => "agent",
        }
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIdentity {
    pub subject: String,
    /// `human`, `machine`, `agent`, or `operator` for local administrative commands.
    pub kind: String,
    pub groups: Vec<String>,
}

/// What a forwarded request did, as the server reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditOutcome {
    /// Rows returned or affected, from the server's command tag; absent on error.
    pub rows: Option<u64>,
    /// The server's command tag (`SELECT 3`, `INSERT 0 1`).
    pub command_tag: Option<String>,
    /// The server's error (`SQLSTATE: message`), when the request failed.
    pub error: Option<String>,
    /// From forwarding the request to its completion, in microseconds.
    pub duration_us: u64,
    /// Values masked in the response, per detector (`email`) and per column rule
    /// (`column:<rule>`): counts only, never values.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub masked: std::collections::BTreeMap<String, u64>,
}

/// One audit record. Holds no secrets and no response data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub time_unix_ms: i64,
    pub kind: AuditEventKind,
    pub identity: AuditIdentity,
    /// The delegation chain when an agent acts for someone, outermost first.
    pub acting_for: Vec<String>,
    pub session: Option<String>,
    pub connection: Option<String>,
    pub source_address: Option<String>,
    /// Cedar action name (`sql:select`, `connect`) or the administrative verb (`keys:create`).
    pub action: Option<String>,
    /// `allow`, `deny` or `hold`.
    pub decision: Option<String>,
    pub policies: Vec<String>,
    pub statement: Option<String>,
    pub fingerprint: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// For an outcome: the `seq` of the statement event it completes.
    pub refers_to: Option<i64>,
    /// Free-form detail: the denial message, a disconnect reason, what changed.
    pub detail: Option<String>,
    /// For a statement: the parameter values and session state it ran with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<gatehouse_core::StatementContext>,
}

impl AuditEvent {
    /// An event outside any session (an administrative change, a refused credential, an
    /// agent's comings and goings): who, what, the decision and why; everything else empty.
    pub fn administrative(
        kind: AuditEventKind,
        identity: AuditIdentity,
        action: impl Into<String>,
        decision: &str,
        detail: Option<String>,
    ) -> AuditEvent {
        AuditEvent {
            time_unix_ms: crate::now_unix_ms(),
            kind,
            identity,
            acting_for: Vec::new(),
            session: None,
            connection: None,
            source_address: None,
            action: Some(action.into()),
            decision: Some(decision.to_owned()),
            policies: Vec::new(),
            statement: None,
            fingerprint: None,
            outcome: None,
            refers_to: None,
            detail,
            context: None,
        }
    }
}

impl AuditIdentity {
    /// Whoever presented a credential that was refused.
    pub fn anonymous() -> AuditIdentity {
        AuditIdentity {
            subject: "anonymous".to_owned(),
            kind: "machine".to_owned(),
            groups: Vec::new(),
        }
    }
}

/// How soon a stored event must also be on disk (fsynced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Before `record` returns: the request changes state, so its record must survive a
    /// power loss before the request is forwarded.
    Synced,
    /// Within the log's bounded window (10 ms by default): reads, refusals, session events.
    /// The event is already written (it survives the gateway being killed) when `record`
    /// returns.
    Windowed,
}

/// Durable storage for audit events. `record` resolves only once the events are stored (and,
/// for [`Durability::Synced`], fsynced) and yields the `seq` of the last one; an error means
/// they are not, and the caller must not forward the request they describe.
pub trait AuditSink: Send + Sync {
    fn record(
        &self,
        events: Vec<AuditEvent>,
        durability: Durability,
    ) -> BoxFuture<'_, Result<i64, String>>;

    /// Store events that gate nothing (statement outcomes) soon, in order: with the next
    /// `record` or within the log's window, whichever comes first. An error means the sink
    /// already knows it cannot store them.
    fn record_deferred(&self, events: Vec<AuditEvent>) -> Result<(), String>;
}
