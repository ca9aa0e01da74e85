//! The PostgreSQL listener: the shared listener ([`gatehouse_session::serve`]) with
//! PostgreSQL's startup: a bounded handshake, refusals in PostgreSQL's own terms, and each
//! session run in its own task.

use crate::handshake::{self, Startup};
use crate::session;
use crate::wire::{self, Severity};
use crate::{PgError, PgGateway};
use gatehouse_session::{ListenerLimits, Slot};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Serve PostgreSQL clients on `listener` until `shutdown` becomes true; then stop accepting,
/// give open sessions `shutdown_grace` to finish, and end the rest with SQLSTATE 57P01.
pub async fn serve(
    gateway: Arc<PgGateway>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    let limits = ListenerLimits {
        protocol: "PostgreSQL",
        max_sessions: gateway.settings.max_sessions,
        shutdown_grace: gateway.settings.shutdown_grace,
    };
    gatehouse_session::serve(listener, limits, shutdown, |tcp, peer, slot, terminate| {
        handle(gateway.clone(), tcp, peer.ip(), slot, terminate)
    })
    .await;
}

async fn handle(
    gateway: Arc<PgGateway>,
    mut tcp: TcpStream,
    peer: std::net::IpAddr,
    slot: Slot,
    terminate: watch::Receiver<bool>,
) {
    let refusing = match slot {
        Slot::Session(_) => false,
        Slot::Refusing(_) => true,
        Slot::Full => {
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
    };
    let _ = tcp.set_nodelay(true);
    let startup = tokio::time::timeout(
        gateway.settings.handshake_timeout,
        handshake::accept(&gateway, Box::new(tcp), Some(peer), refusing),
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
    // The slot is held until here: `slot` lives as long as this task.
    drop(slot);
}
