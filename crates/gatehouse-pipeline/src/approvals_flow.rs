//! How the pipeline turns a policy *hold* into an approval: find the approval bound to exactly
//! this request (approved → spend it and allow; pending → hold again with the same id), or
//! create a pending one. Also what waiting clients ask while held: the approval's state, and
//! withdrawing it.

use crate::{
    ApprovalBinding, ApprovalNeed, ApprovalRecord, ApprovalState, AuditEvent, AuditEventKind, Hold,
    Pipeline, PipelineError, SessionContext,
};
use gatehouse_core::Action;
use gatehouse_policy::ApprovalRequirement;
use rand::RngCore;

/// What exists for a held request.
pub(crate) enum Found {
    /// Approved and unexpired: spending it allows the request.
    Approved(ApprovalRecord),
    /// Waiting for reviewers; `created` when this request just asked for it.
    Pending {
        record: ApprovalRecord,
        created: bool,
    },
}

impl Pipeline {
    /// The approval a held `action` is bound to: an open one with exactly its binding, or a
    /// new pending one.
    pub(crate) async fn approval_for(
        &self,
        session: &SessionContext,
        action: &Action,
        need: &ApprovalRequirement,
        policy_version: &str,
        now: i64,
    ) -> Result<Found, String> {
        let Some(store) = &self.approvals else {
            return Err("approvals are not enabled on this gateway".to_owned());
        };
        let binding = binding_of(session, action, policy_version);
        if let Some(record) = store.find_open(&binding, now).await? {
            return Ok(match record.state {
                ApprovalState::Approved => Found::Approved(record),
                _ => Found::Pending {
                    record,
                    created: false,
                },
            });
        }
        let record = ApprovalRecord {
            id: new_approval_id(),
            state: ApprovalState::Pending,
            binding,
            need: ApprovalNeed {
                policy: need.policy.clone(),
                group: need.group.clone(),
                required: need.required,
                ttl_seconds: need.ttl_seconds,
            },
            requester_kind: session.identity.kind.as_str().to_owned(),
            requester_groups: session.identity.groups.clone(),
            session: Some(session.session_id.clone()),
            created_unix_ms: now,
            expires_unix_ms: now.saturating_add(self.pending_ttl_ms),
            updated_unix_ms: now,
            reviews: Vec::new(),
        };
        store.create(&record).await?;
        Ok(Found::Pending {
            record,
            created: true,
        })
    }

    /// Spend an approved approval on the request it is bound to; `false` when somebody else
    /// spent it first or it expired meanwhile.
    pub(crate) async fn spend(&self, id: &str, now: i64) -> Result<bool, String> {
        match &self.approvals {
            Some(store) => {
                store
                    .transition(id, ApprovalState::Approved, ApprovalState::Executed, now)
                    .await
            }
            None => Ok(false),
        }
    }

    /// One approval by id, for a client waiting on it.
    pub async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, PipelineError> {
        let Some(store) = &self.approvals else {
            return Ok(None);
        };
        store
            .get(id)
            .await
            .map_err(PipelineError::ApprovalsUnavailable)
    }

    /// Withdraw a pending approval because its requester gave up waiting (cancelled the
    /// statement); recorded in the audit log. `false` when it was no longer pending.
    pub async fn withdraw_approval(
        &self,
        session: &SessionContext,
        record: &ApprovalRecord,
        why: &str,
    ) -> Result<bool, PipelineError> {
        let Some(store) = &self.approvals else {
            return Ok(false);
        };
        let now = crate::now_unix_ms();
        let withdrawn = store
            .transition(
                &record.id,
                ApprovalState::Pending,
                ApprovalState::Cancelled,
                now,
            )
            .await
            .map_err(PipelineError::ApprovalsUnavailable)?;
        if withdrawn {
            let event = approval_event(
                session,
                record,
                "approval:cancel",
                format!("approval {} withdrawn: {why}", record.id),
                now,
            );
            self.audit
                .record(vec![event], crate::Durability::Windowed)
                .await
                .map_err(PipelineError::AuditUnavailable)?;
        }
        Ok(withdrawn)
    }
}

/// Exactly what an approval for `action` in `session` is bound to.
fn binding_of(session: &SessionContext, action: &Action, policy_version: &str) -> ApprovalBinding {
    let (statement, fingerprint, context) = match action.request() {
        Some(request) => (
            request.text().to_owned(),
            request.fingerprint().to_owned(),
            request.context().cloned(),
        ),
        None => (String::new(), String::new(), None),
    };
    ApprovalBinding {
        subject: session.identity.subject.clone(),
        acting_for: session.identity.acting_for.clone(),
        connection: session.connection.name.clone(),
        action: action.name().to_owned(),
        request: statement,
        fingerprint,
        policy_version: policy_version.to_owned(),
        context,
    }
}

/// A fresh approval id: `ap-` and 16 random hex characters.
pub fn new_approval_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("ap-{}", hex::encode(bytes))
}

/// The hold a pending `record` answers with.
pub(crate) fn hold_for(session: &SessionContext, record: &ApprovalRecord) -> Hold {
    let need = &record.need;
    let reviewers = if need.required == 1 {
        "a member".to_owned()
    } else {
        format!("{} members", need.required)
    };
    let approve_with = format!("gatehouse approvals approve {}", record.id);
    let message = format!(
        "`{}` on connection `{}` needs approval by {reviewers} of `{}` (policy `{}`): approval {} is pending until {}; a reviewer approves it with `{approve_with}`",
        record.binding.action,
        session.connection.name,
        need.group,
        need.policy,
        record.id,
        rfc3339(record.expires_unix_ms),
    );
    Hold {
        action: record.binding.action.clone(),
        approval: record.clone(),
        message,
        approve_with,
    }
}

/// An `approval` audit event about `record`, caused by the session's identity.
pub(crate) fn approval_event(
    session: &SessionContext,
    record: &ApprovalRecord,
    verb: &str,
    detail: String,
    now: i64,
) -> AuditEvent {
    AuditEvent {
        action: Some(verb.to_owned()),
        request: Some(record.binding.request.clone()),
        fingerprint: Some(record.binding.fingerprint.clone()),
        policies: vec![record.need.policy.clone()],
        detail: Some(detail),
        ..crate::pipeline::session_event(session, AuditEventKind::Approval, now)
    }
}

/// `2026-11-28T21:30:00Z`.
pub fn rfc3339(unix_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_ms.to_string())
}
