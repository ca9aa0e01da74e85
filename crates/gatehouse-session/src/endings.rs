//! What ends a running session besides its client and its server: the gateway shutting down
//! (after the grace period), a revocation of its identity or credential, its credential's
//! expiry, and a replaced policy set that no longer lets it connect. An adapter selects on
//! [`Endings::wait`] beside its relay and tells its client the reason in its own protocol.

use crate::live::Registration;
use crate::woken::WokenOnly;
use gatehouse_core::Action;
use gatehouse_pipeline::{Decision, Pipeline, SessionContext};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Why a session was ended from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndedBy {
    /// The gateway is shutting down and the grace period is over.
    ShutDown,
    /// The identity or credential was revoked (the reason says which).
    Revoked(String),
    /// The credential the session was opened with expired.
    CredentialExpired,
    /// The policy set was replaced by one that no longer gives the session what it started
    /// with (the reason says what).
    PolicyWithdrawn(String),
}

/// The signals a session watches.
pub struct Endings<'a> {
    terminate: watch::Receiver<bool>,
    registration: Registration<'a>,
    expires_at_unix: Option<i64>,
    policy_changes: watch::Receiver<String>,
}

impl<'a> Endings<'a> {
    /// `policy_changes` must be subscribed before the session's first decision, so that a
    /// replacement after it is never missed.
    pub fn new(
        terminate: watch::Receiver<bool>,
        registration: Registration<'a>,
        expires_at_unix: Option<i64>,
        policy_changes: watch::Receiver<String>,
    ) -> Self {
        Endings {
            terminate,
            registration,
            expires_at_unix,
            policy_changes,
        }
    }

    /// Resolve when the session must end. On a policy replacement `still_allowed(version)`
    /// decides again what the session decided once (its `connect`, with
    /// [`connect_withdrawn`], and whatever else the adapter decided once); `Some(reason)` ends
    /// it.
    ///
    /// Adapters select on this beside their relay, which wakes the task for every message:
    /// the returned future looks at its signals only when one of them changed
    /// ([`WokenOnly`]).
    pub fn wait<F, Fut>(&mut self, still_allowed: F) -> impl Future<Output = EndedBy>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Option<String>>,
    {
        WokenOnly::new(self.wait_for_any(still_allowed))
    }

    async fn wait_for_any<F, Fut>(&mut self, still_allowed: F) -> EndedBy
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Option<String>>,
    {
        let policy = async {
            loop {
                if self.policy_changes.changed().await.is_err() {
                    // Nobody can replace the policy any more.
                    std::future::pending::<()>().await;
                }
                let version = self.policy_changes.borrow_and_update().clone();
                if let Some(reason) = still_allowed(version).await {
                    return reason;
                }
            }
        };
        tokio::select! {
            () = wait_for(&mut self.terminate) => EndedBy::ShutDown,
            reason = wait_for_reason(&mut self.registration.ended) => EndedBy::Revoked(reason),
            () = wait_until_unix(self.expires_at_unix) => EndedBy::CredentialExpired,
            reason = policy => EndedBy::PolicyWithdrawn(reason),
        }
    }
}

/// Decide `connect` again for `context` under policy `version`: why the session lost it, or
/// `None` while it still may connect. Failing to decide ends the session (fail closed).
pub async fn connect_withdrawn(
    pipeline: &Pipeline,
    context: &SessionContext,
    version: &str,
) -> Option<String> {
    match pipeline.decide(context, &[Action::Connect]).await {
        Ok(Decision::Allow(_)) => None,
        Ok(Decision::Deny(denial)) => Some(format!(
            "policy version {version} no longer permits this session: {}",
            denial.message
        )),
        Ok(Decision::Hold(hold)) => Some(format!(
            "policy version {version} makes this session need an approval: {}",
            hold.message
        )),
        Err(error) => Some(format!(
            "policy version {version} is in force but this session's access could not be decided again ({error}); gatehouse fails closed"
        )),
    }
}

/// Resolve with the reason once `reason` is set.
async fn wait_for_reason(reason: &mut watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(reason) = reason.borrow().clone() {
            return reason;
        }
        if reason.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Resolve at `deadline` (Unix seconds); never without one.
async fn wait_until_unix(deadline: Option<i64>) {
    let Some(deadline) = deadline else {
        return std::future::pending().await;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let deadline_ms = u128::try_from(deadline).unwrap_or(0).saturating_mul(1000);
    let left = u64::try_from(deadline_ms.saturating_sub(now)).unwrap_or(u64::MAX);
    tokio::time::sleep(Duration::from_millis(left)).await;
}

async fn wait_for(flag: &mut watch::Receiver<bool>) {
    while !*flag.borrow() {
        if flag.changed().await.is_err() {
            // The sender is gone: no shutdown will ever be signalled.
            std::future::pending::<()>().await;
        }
    }
}
