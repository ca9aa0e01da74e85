//! What the `ssh_server` fuzz target drives: gatehouse's SSH server, with its production
//! settings, reading a client's bytes before anyone has logged in — the version exchange, key
//! exchange negotiation and packet framing every stranger on the network can reach. Logins
//! are all refused here: what follows a login is decided by the adapter's own code, which the
//! integration tests drive through real clients.

use crate::gateway::server_config;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A handler that refuses every login (russh's defaults).
struct Stranger;

impl russh::server::Handler for Stranger {
    type Error = russh::Error;
}

/// Serve one connection whose client sends `input` and then closes; returns when the server
/// has ended the connection.
pub async fn serve_stranger(host_key: russh::keys::PrivateKey, input: Vec<u8>) {
    let config = Arc::new(server_config(host_key, true));
    let (server_side, client_side) = tokio::io::duplex(64 * 1024);
    let (mut from_server, mut to_server) = tokio::io::split(client_side);
    let client = async move {
        let _ = to_server.write_all(&input).await;
        let _ = to_server.shutdown().await;
        let mut sink = Vec::new();
        let _ = from_server.read_to_end(&mut sink).await;
    };
    let server = async move {
        if let Ok(session) = russh::server::run_stream(config, server_side, Stranger).await {
            let _ = session.await;
        }
    };
    tokio::join!(client, server);
}
