//! Step 4 of the pipeline: the audit event written before a request is forwarded, and the
//! sink interface that stores it.
//!
//! The event's serde form is its stored encoding in audit format v2: the store writes exactly
//! these bytes and chains their MAC. Field names are protocol-neutral (`request` is the
//! request's canonical text, a SQL statement today; `status` what the target answered), empty
//! fields are left out, and events stored in format v1 (SQL names, every field present) read
//! into the same type through serde aliases. Add fields only as optional ones, so that stored
//! events keep reading. `gatehouse audit export` maps the names back to its stable columns.
use crate::BoxFuture;
use gatehouse_core::DecisionKind;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What an audit event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEventKind {
    Connect,
    Disconnect,
    /// A decided request (one SQL statement). Stored as `request` in format 2, `statement`
    /// in format 1.
    #[serde(alias = "statement")]
    Request,
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
    /// An operator ended a live session (`gatehouse sessions kill`): who, which, and why.
    SessionKill,
}

impl AuditEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventKind::Connect => "connect",
            AuditEventKind::Disconnect => "disconnect",
            AuditEventKind::Request => "request",
            AuditEventKind::Outcome => "outcome",
            AuditEventKind::KeyChange => "key_change",
            AuditEventKind::PolicyChange => "policy_change",
            AuditEventKind::AuditRead => "audit_read",
            AuditEventKind::RecordingChange => "recording_change",
            AuditEventKind::Approval => "approval",
            AuditEventKind::ToolCall => "tool_call",
            AuditEventKind::AuthFailure => "auth_failure",
            AuditEventKind::Agent => "agent",
            AuditEventKind::SessionKill => "session_kill",
        }
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditIdentity {
    pub subject: String,
    /// `human`, `machine`, `agent`, or `operator` for local administrative commands.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// What a forwarded request did, as the server reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditOutcome {
    /// Rows returned or affected, from the server's command tag; for Kubernetes the objects an
    /// answer carried (a list's items, a Table's rows, a watch's events); absent on error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// What the target answered on success, in its own words: PostgreSQL's command tag
    /// (`SELECT 3`, `INSERT 0 1`); an HTTP status line; an exit status.
    #[serde(
        default,
        alias = "command_tag",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    /// The target's error (for PostgreSQL `SQLSTATE: message`), when the request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From forwarding the request to its completion, in microseconds.
    pub duration_us: u64,
    /// Values masked in the response, per detector (`email`) and per column rule
    /// (`column:<rule>`): counts only, never values.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub masked: std::collections::BTreeMap<String, u64>,
    /// HTTP APIs: bytes of the request body forwarded, and of the answer's body sent to the
    /// client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<u64>,
}

/// One audit record. Holds no secrets and no response data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub time_unix_ms: i64,
    pub kind: AuditEventKind,
    /// Shared by every event of a session (see [`crate::SessionContext::audit_identity`]):
    /// two events per statement each copying the subject and groups was a tenth of building
    /// and storing them.
    pub identity: Arc<AuditIdentity>,
    /// The delegation chain when an agent acts for someone, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acting_for: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    /// Cedar action name (`sql:select`, `connect`) or the administrative verb (`keys:create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The request's canonical text, as decided and as an approval binds it: one SQL
    /// statement as the client sent it.
    #[serde(default, alias = "statement", skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The request's normalised form, stable across literal values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AuditOutcome>,
    /// For an outcome: the `seq` of the request event it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refers_to: Option<i64>,
    /// Free-form detail: the denial message, a disconnect reason, what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a request: what else its meaning depends on (parameter values, session state) and
    /// the digest of it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<gatehouse_core::StatementContext>,
}

impl AuditEvent {
    /// An event outside any session (an administrative change, a refused credential, an
    /// agent's comings and goings): who, what, the decision and why; everything else empty.
    pub fn administrative(
        kind: AuditEventKind,
        identity: impl Into<Arc<AuditIdentity>>,
        action: impl Into<String>,
        decision: DecisionKind,
        detail: Option<String>,
    ) -> AuditEvent {
        AuditEvent {
            time_unix_ms: crate::now_unix_ms(),
            kind,
            identity: identity.into(),
            acting_for: Vec::new(),
            session: None,
            connection: None,
            source_address: None,
            action: Some(action.into()),
            decision: Some(decision),
            policies: Vec::new(),
            request: None,
            fingerprint: None,
            outcome: None,
            refers_to: None,
            detail,
            context: None,
        }
    }
}

impl AuditIdentity {
    /// `identity` as audit events name it (whom it acts for is the event's own field).
    pub fn of(identity: &gatehouse_core::Identity) -> AuditIdentity {
        AuditIdentity {
            subject: identity.subject.clone(),
            kind: identity.kind.as_str().to_owned(),
            groups: identity.groups.clone(),
        }
    }

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
