//! Deciding one request (`gatehouse_session::approval_wait`) and what a refusal reads as in
//! Kubernetes' terms: a 403 `Status` for policy and for a hold (naming the approval and the
//! command that approves it — running the same command after the approval runs it once), a
//! 503 when the decision could not be recorded.

use crate::answer::{self, Refusal};
use gatehouse_core::Action;
use gatehouse_k8s::StatusReason;
use gatehouse_pipeline::{Permit, Pipeline, SessionContext};
use gatehouse_session::approval_wait::{Refused, decide_or_wait};
use std::time::Duration;

/// The permit to forward `action`, or gatehouse's answer instead.
pub async fn permit(
    pipeline: &Pipeline,
    context: &SessionContext,
    action: Action,
    wait: Option<Duration>,
) -> Result<Permit, Refusal> {
    decide_or_wait(pipeline, context, action, wait)
        .await
        .map_err(|refused| match refused {
            Refused::Denied(message) => answer::forbidden(&message),
            Refused::Held(hold) => answer::forbidden(&format!(
                "{} Approval {} is pending; once approved (`{}`), run the same command again and it runs once.",
                hold.message, hold.approval.id, hold.approve_with
            )),
            Refused::Unrecorded(error) => answer::status(
                StatusReason::ServiceUnavailable,
                &format!(
                    "the request could not be decided and recorded, so it was not forwarded: {error}"
                ),
            ),
        })
}
