//! The MySQL listener: accepts clients through the shared listener (session slots, the
//! shutdown drain), gives each its login within `login_time`, then runs its session.

use crate::{MysqlGateway, handshake, session};
use gatehouse_session::{ListenerLimits, Slot};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Serve MySQL clients on `listener` until `shutdown` becomes true.
pub async fn serve(
    gateway: Arc<MysqlGateway>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    let limits = ListenerLimits {
        protocol: "mysql",
        max_sessions: gateway.limits.max_sessions,
        shutdown_grace: gateway.limits.shutdown_grace,
    };
    gatehouse_session::serve(
        listener,
        limits,
        shutdown,
        move |client, peer, slot, terminate| {
            connection(gateway.clone(), client, peer, slot, terminate)
        },
    )
    .await;
}

async fn connection(
    gateway: Arc<MysqlGateway>,
    client: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    terminate: watch::Receiver<bool>,
) {
    let full = match slot {
        Slot::Session(_) => false,
        Slot::Refusing(_) => true,
        Slot::Full => return,
    };
    // Held until the session ends: the slot (or the place among the refused) stays taken.
    let _slot = slot;
    let _ = client.set_nodelay(true);
    let login = handshake::accept(&gateway, Box::new(client), Some(peer.ip()), full);
    let accepted = match tokio::time::timeout(gateway.limits.login_time, login).await {
        Ok(Ok(Some(accepted))) => accepted,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            tracing::info!(%peer, %error, "MySQL login failed");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "MySQL client did not log in within the login time");
            return;
        }
    };
    if let Err(error) = session::run(&gateway, accepted, Some(peer.ip()), terminate).await {
        tracing::info!(%peer, %error, "MySQL session failed");
    }
}
