//! The approval tools: `approval_status` reads an approval from the store (like `gatehouse
//! approvals show`) and can long-poll until it is decided; `run_approved` runs exactly the
//! statement an approval is bound to, through the gateway, which spends it. Agents see their
//! own approvals, and reviewers (members of the approving group) theirs to review.

use super::agent::{Agent, ToolError};
use super::gateway::run_sql;
use gatehouse_core::Identity;
use gatehouse_pipeline::{ApprovalRecord, ApprovalState, GRANT_ACTION, now_unix_ms, rfc3339};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The longest `approval_status` waits, well under typical MCP client timeouts.
pub(crate) const MAX_WAIT_SECONDS: u64 = 50;
/// How often a waiting `approval_status` looks again.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// `approval_status`: the approval's state now, or once it is no longer pending (at most
/// `wait_seconds`, capped at [`MAX_WAIT_SECONDS`]).
pub(crate) async fn status(
    agent: &Agent,
    approval_id: &str,
    wait_seconds: u64,
) -> Result<Value, ToolError> {
    let identity = agent.identity().await?;
    let deadline = Instant::now() + Duration::from_secs(wait_seconds.min(MAX_WAIT_SECONDS));
    loop {
        let record = visible(agent, &identity, approval_id).await?;
        let now = now_unix_ms();
        let state = record.state_at(now);
        if state != ApprovalState::Pending || Instant::now() >= deadline {
            return Ok(describe(&record, state, &identity));
        }
        tokio::time::sleep(POLL_EVERY.min(deadline.saturating_duration_since(Instant::now())))
            .await;
    }
}

/// `run_approved`: run the approval's statement on its connection through the gateway.
pub(crate) async fn run(
    agent: &Agent,
    approval_id: &str,
    max_rows: usize,
) -> Result<Value, ToolError> {
    let identity = agent.identity().await?;
    let record = visible(agent, &identity, approval_id).await?;
    if record.binding.subject != identity.subject {
        return Err(ToolError::new(format!(
            "approval {approval_id} was asked for by `{}`, not by you (`{}`); only the requester can run it",
            record.binding.subject, identity.subject
        )));
    }
    if record.binding.action == GRANT_ACTION {
        return Err(ToolError::new(format!(
            "approval {approval_id} is an access grant, not a statement; once it is approved its rights apply to \
             every query on `{}` until it expires — just use query",
            record.binding.connection
        )));
    }
    match record.state_at(now_unix_ms()) {
        ApprovalState::Approved => {}
        ApprovalState::Pending => {
            return Err(ToolError::new(format!(
                "approval {approval_id} is still pending (needs {} of `{}`); call approval_status with wait_seconds to wait for it",
                record.need.required.max(1),
                record.need.group
            )));
        }
        state => {
            return Err(ToolError::new(format!(
                "approval {approval_id} is {} and cannot be run; send the statement with query again to ask for a new approval",
                state.as_str()
            )));
        }
    }
    let mut result = run_sql(
        agent,
        &record.binding.connection,
        &record.binding.request,
        max_rows,
    )
    .await?;
    if let Some(object) = result.as_object_mut() {
        object.insert("approval_id".into(), approval_id.into());
        object.insert("statement".into(), record.binding.request.clone().into());
    }
    Ok(result)
}

/// The approval, if `identity` may see it: the requester or a member of the approving group.
/// Others are told it does not exist, so ids of other people's requests reveal nothing.
async fn visible(
    agent: &Agent,
    identity: &Identity,
    approval_id: &str,
) -> Result<ApprovalRecord, ToolError> {
    let found = agent
        .store()?
        .approval(approval_id)
        .await
        .map_err(|error| ToolError::new(format!("the approvals could not be read: {error}")))?;
    match found {
        Some(record)
            if record.binding.subject == identity.subject
                || identity.groups.contains(&record.need.group) =>
        {
            Ok(record)
        }
        _ => Err(ToolError::new(format!(
            "there is no approval `{approval_id}` that you may see; use the approval_id that query, run_approved or \
             request_access returned (`ap-` and 16 hex characters)"
        ))),
    }
}

fn describe(record: &ApprovalRecord, state: ApprovalState, identity: &Identity) -> Value {
    let mine = record.binding.subject == identity.subject;
    let next = match state {
        ApprovalState::Pending => format!(
            "waiting for {} of `{}`; call approval_status again with wait_seconds to wait",
            record.need.required.max(1),
            record.need.group
        ),
        ApprovalState::Approved if record.binding.action == GRANT_ACTION => format!(
            "the grant is in force on `{}` until {}; use query",
            record.binding.connection,
            rfc3339(record.expires_unix_ms)
        ),
        ApprovalState::Approved if mine => format!(
            "approved; call run_approved with approval_id {} before {}",
            record.id,
            rfc3339(record.expires_unix_ms)
        ),
        ApprovalState::Approved => "approved; the requester may run it once".to_owned(),
        ApprovalState::Denied => {
            "denied by a reviewer (see reviews); change the statement or talk to the reviewer"
                .to_owned()
        }
        ApprovalState::Expired => {
            "expired; send the statement with query again to ask for a new approval".to_owned()
        }
        ApprovalState::Cancelled => "withdrawn; send the statement again to ask anew".to_owned(),
        ApprovalState::Executed => "already run; an approval is used once".to_owned(),
    };
    let reviews: Vec<Value> = record
        .reviews
        .iter()
        .map(|review| {
            json!({
                "reviewer": review.reviewer,
                "verdict": review.verdict,
                "reason": review.reason,
                "at": rfc3339(review.time_unix_ms),
            })
        })
        .collect();
    json!({
        "approval_id": record.id,
        "state": state.as_str(),
        "connection": record.binding.connection,
        "action": record.binding.action,
        "statement": record.binding.request,
        "requester": record.binding.subject,
        "acting_for": record.binding.acting_for,
        "needs": {
            "group": record.need.group,
            "required": record.need.required.max(1),
            "policy": record.need.policy,
        },
        "reviews": reviews,
        "expires_at": rfc3339(record.expires_unix_ms),
        "next": next,
    })
}
