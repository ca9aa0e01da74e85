//! The PostgreSQL listener: accepts clients, bounds how many and how long startup may take,
//! runs each session in its own task, and shuts down gracefully.

use crate::handshake::{self, Startup};
use crate::session;
use crate::wire::{self, Severity};
use crate::{PgError, PgGateway};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Serve PostgreSQL clients on `listener` until `shutdown` becomes true; then stop accepting,
/// give open sessions `shutdown_grace` to finish, and end the rest with SQLSTATE 57P01.
pub async fn serve(
    gateway: Arc<PgGateway>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(gateway.settings.max_sessions));
    // Clients refused for lack of a slot are refused politely (through TLS, after their
    // startup message), but at most this many at a time; beyond that they are just closed.
    let refusals = Arc::new(Semaphore::new(gateway.settings.max_sessions));
    let (terminate_tx, terminate_rx) = watch::channel(false);
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let gateway = gateway.clone();
                    let slots = slots.clone();
                    let refusals = refusals.clone();
                    let terminate = terminate_rx.clone();
                    sessions.spawn(async move {
                        handle(gateway, tcp, peer.ip(), slots, refusals, terminate).await;
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "accepting a PostgreSQL client failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
    let grace = gateway.settings.shutdown_grace;
    if !sessions.is_empty() {
        tracing::info!(
            open = sessions.len(),
            ?grace,
            "waiting for PostgreSQL sessions to finish"
        );
    }
    let drained = tokio::time::timeout(grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let _ = terminate_tx.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
    }
}

async fn handle(
    gateway: Arc<PgGateway>,
    mut tcp: TcpStream,
    peer: std::net::IpAddr,
    slots: Arc<Semaphore>,
    refusals: Arc<Semaphore>,
    terminate: watch::Receiver<bool>,
) {
    let slot = slots.try_acquire().ok();
    let refusal = match slot {
        Some(_) => None,
        None => match refusals.try_acquire() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let error = wire::error_response(
                    Severity::Fatal,
                    "53300",
                    handshake::TOO_MANY_SESSIONS,
                    None,
                    None,
                );
                let _ = tcp.write_all(&error).await;
                return;
            }
        },
    };
    let _ = tcp.set_nodelay(true);
    let startup = tokio::time::timeout(
        gateway.settings.handshake_timeout,
        handshake::accept(&gateway, Box::new(tcp), Some(peer), refusal.is_some()),
    )
    .await
    .unwrap_or(Err(PgError::Timeout(
        "the client did not finish connecting in time",
    )));
    let accepted = match startup {
        Ok(Startup::Client(accepted)) => accepted,
        Ok(Startup::Cancelled) => return,
        Err(error) => {
            // Debug-escaped: startup errors quote what the client sent (user, database).
            tracing::info!(%peer, error = ?error.to_string(), "PostgreSQL client refused during startup");
            return;
        }
    };
    if let Err(error) = session::run(&gateway, accepted, Some(peer), terminate).await {
        tracing::info!(%peer, error = ?error.to_string(), "PostgreSQL session ended with an error");
    }
}
