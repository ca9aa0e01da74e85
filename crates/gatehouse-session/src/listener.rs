//! A protocol's listener: accepts clients, gives each a session slot (or a place among the
//! clients being told there is none), runs each in its own task, and on shutdown stops
//! accepting, gives open sessions a grace period, then tells the rest to end.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

/// How many sessions a listener runs and how it stops.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    /// What the listener serves, for log lines (`PostgreSQL`).
    pub protocol: &'static str,
    /// Concurrent sessions; more clients are refused.
    pub max_sessions: usize,
    /// Time open sessions get to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

/// A client's place: a session slot, or one among the clients being refused politely (told
/// why in the protocol's own terms), or none at all (close it after at most a line).
pub enum Slot {
    Session(OwnedSemaphorePermit),
    Refusing(OwnedSemaphorePermit),
    Full,
}

/// How long sessions told to end get to do so after the grace period.
const TERMINATE_WAIT: Duration = Duration::from_secs(2);

/// Serve clients on `listener` with `handle(client, peer, slot, terminate)` until `shutdown`
/// becomes true; `terminate` becomes true when the grace period is over.
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: ListenerLimits,
    mut shutdown: watch::Receiver<bool>,
    handle: H,
) where
    H: Fn(TcpStream, SocketAddr, Slot, watch::Receiver<bool>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_sessions));
    // Clients refused for lack of a slot are refused politely, but at most this many at a
    // time; beyond that they are just closed.
    let refusals = Arc::new(Semaphore::new(limits.max_sessions));
    let (terminate_tx, terminate_rx) = watch::channel(false);
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    let slot = match slots.clone().try_acquire_owned() {
                        Ok(permit) => Slot::Session(permit),
                        Err(_) => match refusals.clone().try_acquire_owned() {
                            Ok(permit) => Slot::Refusing(permit),
                            Err(_) => Slot::Full,
                        },
                    };
                    sessions.spawn(handle(client, peer, slot, terminate_rx.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, protocol = limits.protocol, "accepting a client failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    let grace = limits.shutdown_grace;
    if !sessions.is_empty() {
        tracing::info!(
            open = sessions.len(),
            ?grace,
            protocol = limits.protocol,
            "waiting for sessions to finish"
        );
    }
    let drained = tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let _ = terminate_tx.send(true);
        let _ = tokio::time::timeout(TERMINATE_WAIT, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
    }
}
