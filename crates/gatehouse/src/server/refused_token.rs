//! An audit event for a bearer token the HTTP APIs (`/v1/approvals`, `/mcp`) refused, so that
//! every token rejection is on record with its reason — as the PostgreSQL listener's are —
//! and never with the token.

use gatehouse_core::DecisionKind;
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, Durability};
use gatehouse_store::AuditLog;

/// Record that `endpoint` refused a bearer token because of `reason`. Batched, not fsynced:
/// a refusal lets nothing through, and a flood of bad tokens must not become one of fsyncs.
pub async fn record(audit: &AuditLog, endpoint: &str, reason: &str) {
    let event = AuditEvent::administrative(
        AuditEventKind::AuthFailure,
        AuditIdentity::anonymous(),
        format!("api:{endpoint}"),
        DecisionKind::Deny,
        Some(format!("refused a bearer token at {endpoint}: {reason}")),
    );
    if let Err(error) = audit.append(&[event], Durability::Windowed).await {
        tracing::error!(%error, endpoint, "cannot record a refused token in the audit log");
    }
}
