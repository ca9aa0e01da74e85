//! Ends live sessions when what they were opened with is revoked: `gatehouse identities
//! revoke`, `gatehouse tokens revoke`, `gatehouse keys revoke` and `gatehouse agents revoke`
//! write to the store (often from another process), and this task polls the store's
//! revocation feed every second, so a revoked identity's sessions (or a revoked agent's
//! tunnels) end within about two seconds — not at the client's leisure.

use gatehouse_session::LiveSessions;
use gatehouse_store::{Revocation, Store};
use gatehouse_tunnel::AgentHub;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the store is asked for new revocations.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Revocations are looked up this far back on every poll (their times have second
/// resolution and may come from other processes' clocks); ending a session twice is harmless.
const LOOKBACK_SECS: i64 = 3;

/// Poll until `shutdown` becomes true.
pub async fn run(
    store: Store,
    live: Arc<LiveSessions>,
    hub: Option<Arc<AgentHub>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut since = gatehouse_identity::now_unix() - LOOKBACK_SECS;
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        let polled_at = gatehouse_identity::now_unix();
        match store.revocations_since(since).await {
            Ok(revocations) => {
                if failing {
                    tracing::info!("the revocation feed is readable again");
                    failing = false;
                }
                for revocation in &revocations {
                    apply(&live, hub.as_deref(), revocation);
                }
                since = polled_at - LOOKBACK_SECS;
            }
            Err(error) => {
                // Keep `since`: what was revoked meanwhile is found on the next good poll.
                if !failing {
                    tracing::error!(%error, "cannot read revocations from the store; live sessions of revoked identities keep running until it is readable again");
                    failing = true;
                }
            }
        }
    }
}

fn apply(live: &LiveSessions, hub: Option<&AgentHub>, revocation: &Revocation) {
    let (ended, what) = match revocation {
        Revocation::Identity { subject, reason } => {
            let text = with_reason(format!("identity `{subject}` was revoked"), reason);
            (live.end_identity(subject, &text), text)
        }
        Revocation::Credential { id, reason } => {
            let text = with_reason(format!("credential `{id}` was revoked"), reason);
            (live.end_credential(id, &text), text)
        }
        Revocation::Agent { name } => {
            let text = format!("agent `{name}` was revoked");
            let closed = hub.map_or(0, |hub| hub.close_agent(name, &text));
            if closed > 0 {
                tracing::info!(tunnels = closed, "{text}: closing its tunnels");
            }
            return;
        }
    };
    if ended > 0 {
        tracing::info!(sessions = ended, "{what}: ending its live sessions");
    }
}

fn with_reason(text: String, reason: &Option<String>) -> String {
    match reason {
        Some(reason) => format!("{text}: {reason}"),
        None => text,
    }
}
