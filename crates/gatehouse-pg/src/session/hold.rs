//! A statement that policy holds for approval: the client is told (a `NOTICE` with the
//! approval id and the command that approves it), the statement waits in the gateway, and
//! runs as soon as a reviewer approves — or fails with a clear error when a reviewer denies
//! it, it expires, the wait times out, or the client cancels (Ctrl-C), which withdraws it.
//! A client that hangs up while waiting (a program that took the approval id and left) leaves
//! the approval pending: sending the same statement again, later, picks it up.

use super::inbound::{Inbound, refusal_of};
use crate::wire::{self, Severity};
use bytes::Bytes;
use gatehouse_core::Action;
use gatehouse_pipeline::{ApprovalState, Decision, Hold, Permit, now_unix_ms, rfc3339};
use std::time::{Duration, Instant};
use tokio::io::AsyncRead;

/// How often a waiting statement looks at its approval.
const POLL_EVERY: Duration = Duration::from_millis(200);

impl<R: AsyncRead + Unpin> Inbound<'_, R> {
    /// Wait until `hold`'s approval is decided; then decide `actions` again (which spends the
    /// approval) or fail.
    pub(super) async fn wait_for_approval(
        &mut self,
        actions: &[Action],
        mut hold: Hold,
    ) -> Result<Permit, Bytes> {
        let wait = self.gateway.settings.approval_wait;
        let deadline = Instant::now() + wait;
        self.notify_held(&hold, wait);
        loop {
            let limit = self.gateway.settings.max_client_message;
            tokio::select! {
                () = tokio::time::sleep(POLL_EVERY) => {}
                changed = self.interrupted.changed() => {
                    if changed.is_ok() {
                        return Err(self.withdraw(&hold).await);
                    }
                }
                open = self.client.read_ahead(limit) => {
                    if !matches!(open, Ok(true)) || self.client.buffered_terminate() {
                        return Err(error(
                            "08006",
                            &format!("gatehouse: the client left; approval {} stays pending", hold.approval.id),
                            "send the same statement again once it is approved",
                        ));
                    }
                }
            }
            let current = match self.gateway.pipeline.approval(&hold.approval.id).await {
                Ok(Some(current)) => current,
                Ok(None) => {
                    return Err(error(
                        "55000",
                        &format!("gatehouse: approval {} no longer exists", hold.approval.id),
                        "send the statement again to ask for a new approval",
                    ));
                }
                Err(problem) => {
                    return Err(error(
                        "58000",
                        &format!("gatehouse: {problem}"),
                        "send the statement again when the gateway's store is healthy",
                    ));
                }
            };
            match current.state_at(now_unix_ms()) {
                ApprovalState::Pending if Instant::now() >= deadline => {
                    return Err(error(
                        "57014",
                        &format!(
                            "canceling statement: approval {} is still pending after {} s of waiting",
                            current.id,
                            wait.as_secs()
                        ),
                        &format!(
                            "it stays pending until {}; send the same statement again once `{}` has been run",
                            rfc3339(current.expires_unix_ms),
                            hold.approve_with
                        ),
                    ));
                }
                ApprovalState::Pending => {}
                ApprovalState::Approved | ApprovalState::Executed => {
                    let decided = self.gateway.pipeline.decide(self.context, actions).await;
                    match decided {
                        Ok(Decision::Hold(again)) if again.approval.id != hold.approval.id => {
                            // Policy changed meanwhile (or the approval was spent by a twin
                            // request): a new approval is needed.
                            self.notify_held(
                                &again,
                                deadline.saturating_duration_since(Instant::now()),
                            );
                            hold = *again;
                        }
                        Ok(Decision::Hold(_)) => {}
                        other => return refusal_of(self.context, other),
                    }
                }
                ApprovalState::Denied => {
                    let review =
                        current.reviews.iter().rev().find(|review| {
                            review.verdict == gatehouse_pipeline::ReviewVerdict::Deny
                        });
                    let (who, why) = review
                        .map(|review| {
                            (
                                review.reviewer.as_str(),
                                review.reason.as_deref().unwrap_or("no reason given"),
                            )
                        })
                        .unwrap_or(("a reviewer", "no reason given"));
                    return Err(error(
                        "42501",
                        &format!(
                            "gatehouse: permission denied: approval {} was denied by `{who}`: {why}",
                            current.id
                        ),
                        "talk to the reviewer, or change the statement",
                    ));
                }
                ApprovalState::Expired => {
                    return Err(error(
                        "42501",
                        &format!(
                            "gatehouse: permission denied: approval {} expired before it was used",
                            current.id
                        ),
                        "send the statement again to ask for a new approval",
                    ));
                }
                ApprovalState::Cancelled => {
                    return Err(error(
                        "57014",
                        &format!("canceling statement: approval {} was withdrawn", current.id),
                        "send the statement again to ask for a new approval",
                    ));
                }
            }
        }
    }

    /// Tell the client what it is waiting for.
    fn notify_held(&self, hold: &Hold, wait: Duration) {
        let notice = wire::error_response(
            Severity::Notice,
            "01000",
            &format!("gatehouse: {}", hold.message),
            Some(&hold.client_detail()),
            Some(&format!(
                "waiting up to {} s for the approval; cancel (Ctrl-C) withdraws the request",
                wait.as_secs()
            )),
        );
        self.shared.send_notice(notice);
    }

    /// The client cancelled: withdraw the approval and say so.
    async fn withdraw(&self, hold: &Hold) -> Bytes {
        let withdrawn = self
            .gateway
            .pipeline
            .withdraw_approval(
                self.context,
                &hold.approval,
                "the client cancelled the statement",
            )
            .await;
        if let Err(problem) = withdrawn {
            tracing::error!(session = %self.context.session_id, %problem, "approval could not be withdrawn");
        }
        error(
            "57014",
            &format!(
                "canceling statement due to user request; approval {} withdrawn",
                hold.approval.id
            ),
            "send the statement again to ask for a new approval",
        )
    }
}

fn error(sqlstate: &str, message: &str, hint: &str) -> Bytes {
    wire::error_response(Severity::Error, sqlstate, message, None, Some(hint))
}
