//! Deciding one request of a protocol whose clients wait for their answer (HTTP APIs,
//! Kubernetes), and what a hold becomes. Without a wait the hold is the answer: the adapter
//! tells the client which approval to ask for, and running the same request after approval
//! runs it once. With a wait the request stays open until a reviewer decides (up to the wait):
//! approved, it is decided again (spending the approval) and permitted; denied, expired or timed
//! out, it is refused with the reason.

use gatehouse_core::Action;
use gatehouse_pipeline::{
    ApprovalState, Decision, Hold, Permit, Pipeline, ReviewVerdict, SessionContext, now_unix_ms,
};
use std::time::{Duration, Instant};

/// How often a waiting request looks at its approval.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// Why a request is not forwarded; each adapter answers it in its own protocol's terms.
#[derive(Debug)]
pub enum Refused {
    /// Policy refused it, or its approval ended without permitting it: the sentence to show.
    Denied(String),
    /// Held for approval, answered at once (no wait).
    Held(Box<Hold>),
    /// The decision could not be made and recorded, so nothing may be forwarded.
    Unrecorded(String),
}

/// The permit to forward `action`, or why not; with `wait`, a held request waits for its review.
pub async fn decide_or_wait(
    pipeline: &Pipeline,
    context: &SessionContext,
    action: Action,
    wait: Option<Duration>,
) -> Result<Permit, Refused> {
    let actions = [action];
    match pipeline.decide(context, &actions).await {
        Ok(Decision::Allow(permit)) => Ok(permit),
        Ok(Decision::Deny(denial)) => Err(Refused::Denied(denial.message)),
        Ok(Decision::Hold(hold)) => match wait {
            None => Err(Refused::Held(hold)),
            Some(wait) => wait_for_review(pipeline, context, &actions, *hold, wait).await,
        },
        Err(error) => Err(Refused::Unrecorded(error.to_string())),
    }
}

/// Hold the request open until its approval is decided or `wait` runs out.
async fn wait_for_review(
    pipeline: &Pipeline,
    context: &SessionContext,
    actions: &[Action],
    mut hold: Hold,
    wait: Duration,
) -> Result<Permit, Refused> {
    let deadline = Instant::now() + wait;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let current = match pipeline.approval(&hold.approval.id).await {
            Ok(Some(current)) => current,
            Ok(None) => {
                return Err(Refused::Denied(format!(
                    "approval {} no longer exists; send the request again to ask for a new one",
                    hold.approval.id
                )));
            }
            Err(error) => return Err(Refused::Unrecorded(error.to_string())),
        };
        match current.state_at(now_unix_ms()) {
            ApprovalState::Pending if Instant::now() >= deadline => {
                return Err(Refused::Denied(format!(
                    "approval {} is still pending after {} s of waiting; it stays pending — send the same request again once `{}` has been run",
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
                    Ok(Decision::Deny(denial)) => return Err(Refused::Denied(denial.message)),
                    Err(error) => return Err(Refused::Unrecorded(error.to_string())),
                }
            }
            ApprovalState::Denied => {
                let review = current
                    .reviews
                    .iter()
                    .rev()
                    .find(|review| review.verdict == ReviewVerdict::Deny);
                let who = review.map_or("a reviewer", |r| r.reviewer.as_str());
                let why = review
                    .and_then(|r| r.reason.as_deref())
                    .unwrap_or("no reason given");
                return Err(Refused::Denied(format!(
                    "approval {} was denied by `{who}`: {why}",
                    current.id
                )));
            }
            state => {
                return Err(Refused::Denied(format!(
                    "approval {} is {}; send the request again to ask for a new one",
                    current.id,
                    state.as_str()
                )));
            }
        }
    }
}
