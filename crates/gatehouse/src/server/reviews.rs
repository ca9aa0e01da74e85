//! Reviews of held requests and their audit events, shared by every surface that reviews
//! (`gatehouse approvals`, the reviewer HTTP API) or reports approvals (the webhooks): storing a
//! verdict and recording it, fsynced, before anyone is told it happened; recording expiries;
//! and the approval's words (`requester`, `needs`) and JSON shape.

use crate::server::operator::{format_time, operator_event};
use anyhow::Result;
use gatehouse_core::{Identity, SecretString};
use gatehouse_pipeline::{
    ApprovalRecord, ApprovalState, AuditEvent, AuditEventKind, AuditIdentity, AuthError,
    Authenticator, Durability, now_unix_ms,
};
use gatehouse_store::{AuditLog, ReviewVerdict, Store, StoreError};

/// The identity of the holder of `token`, verified by the store exactly as the data path
/// verifies it (unknown, malformed, expired and revoked tokens are refused).
pub(crate) async fn authenticate_reviewer(
    store: &Store,
    token: &SecretString,
) -> Result<Identity, AuthError> {
    store.authenticate(token).await
}

/// One verdict on one approval, from any surface (CLI, HTTP API).
pub(crate) struct ReviewRequest<'a> {
    pub id: &'a str,
    pub verdict: ReviewVerdict,
    pub reason: Option<String>,
    /// Where the review came from, for the audit event (the HTTP client's address).
    pub source_address: Option<String>,
}

/// Whether [`store_review`] also writes an audit checkpoint after its event: short-lived
/// commands do; the gateway's own log checkpoints periodically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointAfter {
    Write,
    Periodic,
}

/// Why a review did not go through (or went through unrecorded), for each surface to word.
#[derive(Debug)]
pub(crate) enum ReviewFailure {
    /// The store refused the review (no such approval, not pending, own request, not in the
    /// group, already approved, no reason, contended) or could not be queried; nothing changed.
    Refused(StoreError),
    /// The review is stored but its audit event could not be recorded (an approval that made
    /// the record `approved` was withdrawn again when possible; the message says which).
    Unrecorded(anyhow::Error),
}

/// Store `reviewer`'s verdict and record it, fsynced, in the audit log as an
/// `approval:approve` / `approval:deny` event caused by the reviewer. The one code path of
/// `gatehouse approvals approve|deny` and the reviewer HTTP API.
pub(crate) async fn store_review(
    store: &Store,
    log: &AuditLog,
    reviewer: &Identity,
    request: ReviewRequest<'_>,
    checkpoint: CheckpointAfter,
) -> Result<ApprovalRecord, ReviewFailure> {
    let record = store
        .review_approval(
            request.id,
            reviewer,
            request.verdict,
            request.reason,
            now_unix_ms(),
        )
        .await
        .map_err(ReviewFailure::Refused)?;
    let mut event = review_event(&record, reviewer, request.verdict);
    event.source_address = request.source_address;
    let recorded = async {
        log.append(&[event], Durability::Synced)
            .await
            .map_err(anyhow::Error::msg)?;
        if checkpoint == CheckpointAfter::Write {
            log.flush().await?;
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    if let Err(error) = recorded {
        // An approval nobody can see in the audit log must not be spendable.
        if record.state == ApprovalState::Approved {
            let withdrawn = store
                .transition_approval(
                    &record.id,
                    ApprovalState::Approved,
                    ApprovalState::Cancelled,
                    now_unix_ms(),
                )
                .await;
            if matches!(withdrawn, Ok(true)) {
                return Err(ReviewFailure::Unrecorded(error.context(format!(
                    "approval `{}` was cancelled again because your approval could not be \
                     recorded in the audit log; fix the audit log, then the requester must ask \
                     again",
                    record.id
                ))));
            }
        }
        return Err(ReviewFailure::Unrecorded(error.context(format!(
            "your review of `{}` is stored, but it could not be recorded in the audit log",
            record.id
        ))));
    }
    Ok(record)
}

/// What to say when the expiries a listing noticed could not be audited.
pub(crate) fn expiry_unrecorded(expired: &[ApprovalRecord]) -> String {
    let ids = expired
        .iter()
        .map(|record| record.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    format!("approvals {ids} expired, but their expiry could not be recorded in the audit log")
}

/// Append, fsynced, one `approval:expire` event per record a listing stored as expired,
/// caused by `noticed_by` (the HTTP API's caller) or else the local operator.
pub(crate) async fn append_expiries(
    log: &AuditLog,
    expired: &[ApprovalRecord],
    noticed_by: Option<&Identity>,
    checkpoint: CheckpointAfter,
) -> Result<()> {
    let events: Vec<AuditEvent> = expired
        .iter()
        .map(|record| {
            let detail = format!(
                "approval {} of {} expired: nobody decided it in time, or it was approved \
                 but not used before {}",
                record.id,
                requester(record),
                format_time(record.expires_unix_ms)
            );
            let mut event =
                operator_event(AuditEventKind::Approval, "approval:expire", Some(detail));
            if let Some(identity) = noticed_by {
                caused_by(&mut event, identity);
            }
            bind_event(&mut event, record);
            event
        })
        .collect();
    log.append(&events, Durability::Synced)
        .await
        .map_err(anyhow::Error::msg)?;
    if checkpoint == CheckpointAfter::Write {
        log.flush().await?;
    }
    Ok(())
}

/// Attribute `event` to `identity` (and whoever it acts for) instead of the local operator.
fn caused_by(event: &mut AuditEvent, identity: &Identity) {
    event.identity = AuditIdentity::of(identity).into();
    event.acting_for = identity.acting_for.clone();
}

/// The audit event for a stored review: caused by the reviewer, about the approval's binding.
fn review_event(
    record: &ApprovalRecord,
    reviewer: &Identity,
    verdict: ReviewVerdict,
) -> AuditEvent {
    let reason = record
        .reviews
        .iter()
        .rev()
        .find(|review| review.reviewer == reviewer.subject)
        .and_then(|review| review.reason.clone());
    let outcome = match record.state {
        ApprovalState::Approved => format!(
            "now approved, to be used once before {}",
            format_time(record.expires_unix_ms)
        ),
        ApprovalState::Denied => "now denied".to_owned(),
        _ => format!("{} so far, still pending", approvals_so_far(record)),
    };
    let detail = format!(
        "{} approval {} of {} (needs {}): {}; reason: {}",
        match verdict {
            ReviewVerdict::Approve => "approved",
            ReviewVerdict::Deny => "denied",
        },
        record.id,
        requester(record),
        needs(record),
        outcome,
        reason.as_deref().unwrap_or("none given"),
    );
    let action = match verdict {
        ReviewVerdict::Approve => "approval:approve",
        ReviewVerdict::Deny => "approval:deny",
    };
    let mut event = operator_event(AuditEventKind::Approval, action, Some(detail));
    caused_by(&mut event, reviewer);
    bind_event(&mut event, record);
    event
}

/// What the event is about: the approval's connection, statement, fingerprint and policy.
/// Like the pipeline's own approval events it carries no policy `decision`: it records a
/// change of the approval, not a decision on a request.
fn bind_event(event: &mut AuditEvent, record: &ApprovalRecord) {
    event.decision = None;
    event.connection = Some(record.binding.connection.clone());
    event.request = Some(record.binding.request.clone());
    event.fingerprint = Some(record.binding.fingerprint.clone());
    event.policies = vec![record.need.policy.clone()];
}

/// The record as JSON, with `state` as of `now` (an unspent approval past its expiry is
/// `expired` even before anybody stored that).
pub(crate) fn approval_json(record: &ApprovalRecord, now: i64) -> serde_json::Value {
    let mut value = serde_json::to_value(record).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("state".into(), record.state_at(now).as_str().into());
    }
    value
}

/// `agent-7`, or `agent-7 acting for ana` (outermost first).
pub(crate) fn requester(record: &ApprovalRecord) -> String {
    let binding = &record.binding;
    if binding.acting_for.is_empty() {
        binding.subject.clone()
    } else {
        format!(
            "{} acting for {}",
            binding.subject,
            binding.acting_for.join(" → ")
        )
    }
}

/// `2 of dba`, and while pending how many it has: `2 of dba (1 so far)`.
pub(crate) fn needs(record: &ApprovalRecord) -> String {
    let base = format!("{} of {}", record.need.required.max(1), record.need.group);
    if record.state == ApprovalState::Pending && !record.reviews.is_empty() {
        format!("{base} ({} so far)", approvals_so_far(record))
    } else {
        base
    }
}

pub(crate) fn approvals_so_far(record: &ApprovalRecord) -> usize {
    let mut names: Vec<&str> = record
        .reviews
        .iter()
        .filter(|review| review.verdict == ReviewVerdict::Approve)
        .map(|review| review.reviewer.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}
