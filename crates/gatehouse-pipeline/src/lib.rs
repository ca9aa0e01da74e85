//! The protocol-neutral enforcement pipeline every adapter runs requests through:
//! authenticate → decide → record → (adapter forwards) → (adapter masks the response).
//!
//! It exists so that no protocol adapter makes its own security decisions. Adapters decode
//! bytes into [`gatehouse_core::Action`]s and ask [`Pipeline::decide`]; only an allowed and
//! already-recorded request yields a [`Permit`], and adapters require a `Permit` to forward.
//! The crate knows no network framework, wire format or storage engine: authentication and
//! audit storage are traits ([`Authenticator`], [`AuditSink`]) implemented elsewhere.

mod approval;
mod approvals_flow;
mod audit;
mod audit_json;
mod auth;
mod change_sync;
pub mod client_detail;
mod decision;
mod decision_counters;
mod error;
mod grants;
mod pipeline;
mod policy_in_force;
mod recording;

pub use approval::{
    ApprovalBinding, ApprovalNeed, ApprovalRecord, ApprovalState, ApprovalStore, Review,
    ReviewVerdict,
};
pub use approvals_flow::{new_approval_id, rfc3339};
pub use audit::{AuditEvent, AuditEventKind, AuditIdentity, AuditOutcome, AuditSink, Durability};
pub use auth::{AuthError, Authenticated, Authenticator};
pub use change_sync::{ChangeScope, ChangeSync};
pub use decision::{Decision, Denial, Hold, Permit};
pub use error::PipelineError;
pub use grants::{AccessGrant, AccessGrants, GRANT_ACTION, grant_fingerprint};
pub use pipeline::{DEFAULT_PENDING_TTL, Pipeline, SessionContext, now_unix_ms};
pub use recording::{LIVE_FLUSH_INTERVAL, RequestResult, ResultColumn, SessionRecorder};

/// A boxed, sendable future: the return type of the pipeline's object-safe async traits.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
