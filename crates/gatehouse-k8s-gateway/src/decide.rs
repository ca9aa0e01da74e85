//! Deciding one request, and what a hold becomes. By default a held request answers at once
//! with a 403 `Status` naming the approval and the command that approves it; running the same
//! command after the approval runs it once. With the listener's wait mode on, the request
//! instead stays open until a reviewer decides (up to `[approvals] wait`): approved, it is
//! decided again (spending the approval) and forwarded; denied, expired or timed out, it is
//! refused with the reason.

use crate::answer::{self, Refusal};
use gatehouse_core::Action;
use gatehouse_k8s::StatusReason;
use gatehouse_pipeline::{
    ApprovalState, Decision, Hold, Permit, Pipeline, SessionContext, now_unix_ms,
};
use std::time::{Duration, Instant};

/// How often a waiting request looks at its approval.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// The permit to forward `action`, or gatehouse's answer instead.
pub async fn permit(
    pipeline: &Pipeline,
    context: &SessionContext,
    action: Action,
    wait: Option<Duration>,
) -> Result<Permit, Refusal> {
    let actions = [action];
    match pipeline.decide(context, &actions).await {
        Ok(Decision::Allow(permit)) => Ok(permit),
        Ok(Decision::Deny(denial)) => Err(answer::forbidden(&denial.message)),
        Ok(Decision::Hold(hold)) => match wait {
            None => Err(held(&hold)),
            Some(wait) => wait_for_review(pipeline, context, &actions, *hold, wait).await,
        },
        Err(error) => Err(unrecorded(&error)),
    }
}

fn held(hold: &Hold) -> Refusal {
    answer::forbidden(&format!(
        "{} Approval {} is pending; once approved (`{}`), run the same command again and it runs once.",
        hold.message, hold.approval.id, hold.approve_with
    ))
}

fn unrecorded(error: &dyn std::fmt::Display) -> Refusal {
    answer::status(
        StatusReason::ServiceUnavailable,
        &format!("the request could not be decided and recorded, so it was not forwarded: {error}"),
    )
}

/// Hold the request open until its approval is decided or `wait` runs out.
async fn wait_for_review(
    pipeline: &Pipeline,
    context: &SessionContext,
    actions: &[Action],
    mut hold: Hold,
    wait: Duration,
) -> Result<Permit, Refusal> {
    let deadline = Instant::now() + wait;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let current = match pipeline.approval(&hold.approval.id).await {
            Ok(Some(current)) => current,
            Ok(None) => {
                return Err(answer::forbidden(&format!(
                    "approval {} no longer exists; run the command again to ask for a new one",
                    hold.approval.id
                )));
            }
            Err(error) => return Err(unrecorded(&error)),
        };
        match current.state_at(now_unix_ms()) {
            ApprovalState::Pending if Instant::now() >= deadline => {
                return Err(answer::forbidden(&format!(
                    "approval {} is still pending after {} s of waiting; it stays pending — run the same command again once `{}` has been run",
                    current.id,
                    wait.as_secs(),
                    hold.approve_with
                )));
            }
            ApprovalState::Pending => {}
            ApprovalState::Approved | ApprovalState::Executed => {
                match pipeline.decide(context, actions).await {
                    Ok(Decision::Allow(permit)) => return Ok(permit),
                    Ok(Decision::Hold(again)) => hold = *again,
                    Ok(Decision::Deny(denial)) => return Err(answer::forbidden(&denial.message)),
                    Err(error) => return Err(unrecorded(&error)),
                }
            }
            ApprovalState::Denied => {
                let review = current
                    .reviews
                    .iter()
                    .rev()
                    .find(|review| review.verdict == gatehouse_pipeline::ReviewVerdict::Deny);
                let who = review.map_or("a reviewer", |r| r.reviewer.as_str());
                let why = review
                    .and_then(|r| r.reason.as_deref())
                    .unwrap_or("no reason given");
                return Err(answer::forbidden(&format!(
                    "approval {} was denied by `{who}`: {why}",
                    current.id
                )));
            }
            state => {
                return Err(answer::forbidden(&format!(
                    "approval {} is {}; run the command again to ask for a new one",
                    current.id,
                    state.as_str()
                )));
            }
        }
    }
}
