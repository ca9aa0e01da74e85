//! gatehouse's MySQL/MariaDB adapter.
//!
//! It terminates the client's MySQL connection (TLS required; the gatehouse token is the
//! password; the database named at login is the gatehouse connection), opens the server
//! session through a [`gatehouse_session::TargetConnector`] with the connection's own
//! least-privileged login, and then relays the session one command at a time. Every command
//! that can run SQL is classified by `gatehouse-mysql-sql` and decided by the
//! [`gatehouse_pipeline::Pipeline`] (and so audited) before a byte of it reaches the server;
//! result rows, server errors and warnings are masked where the session is masked. Commands
//! gatehouse cannot decide are refused, never forwarded.
//!
//! Layout: `packets` (whole messages on a socket), `handshake` (the client's login),
//! `upstream` + `targets` + `tls` + `login` (the server side and the connector), `query`
//! (gatehouse's own statements), `session` (the relay and its decisions), `text` (client text
//! in its character set), `masking` (result sets of masked sessions), `refusal` (gatehouse's
//! own ERR packets), `server` (the listener); `fuzzing` drives the answer relay on in-memory
//! streams for the fuzz targets. The wire format itself is
//! `gatehouse-mysql-wire`'s; statement classification is `gatehouse-mysql-sql`'s.

#![forbid(unsafe_code)]

mod error;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod login;
mod masking;
mod packets;
mod query;
mod refusal;
mod server;
mod session;
mod targets;
mod text;
mod tls;
mod upstream;

pub use error::MysqlError;
pub use login::{MysqlLogin, UpstreamTls};
pub use server::serve;
pub use targets::{MysqlTargets, run_statements};

use gatehouse_core::ConnectionKind;
use gatehouse_mask::Masker;
use gatehouse_pipeline::{Authenticator, Pipeline};
use gatehouse_session::{LiveSessions, LoginLevels, TargetConnector};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The connection kind this adapter serves.
pub const MYSQL: ConnectionKind = ConnectionKind::new("mysql");

/// Limits of the MySQL listener.
#[derive(Debug, Clone)]
pub struct MysqlLimits {
    /// Concurrent client sessions; more are refused (ERR 1040).
    pub max_sessions: usize,
    /// Largest message accepted from a client or a server (bytes); larger ends the session.
    pub max_message: usize,
    /// Time a client has from TCP connect to finishing its login.
    pub login_time: Duration,
    /// Time open sessions get to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for MysqlLimits {
    fn default() -> Self {
        MysqlLimits {
            max_sessions: 1024,
            max_message: 64 * 1024 * 1024,
            login_time: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Everything a MySQL session needs from the gateway, shared by all sessions.
pub struct MysqlGateway {
    pub pipeline: Pipeline,
    pub authenticator: Arc<dyn Authenticator>,
    /// [`MysqlTargets`], or the same routed through agents.
    pub connector: Arc<dyn TargetConnector>,
    /// Connections clients may name (kind `mysql` only).
    pub connections: HashMap<String, Arc<gatehouse_core::ConnectionInfo>>,
    /// Which server login each connection's identities get; connections without an entry use
    /// their own login (level `admin`) for everyone.
    pub login_levels: HashMap<String, LoginLevels>,
    /// Connections whose results are masked (unless policy lets the identity see them
    /// unmasked); connections without an entry are not masked.
    pub masking: HashMap<String, Arc<Masker>>,
    /// Connections whose session recordings keep result rows.
    pub record_results: HashSet<String>,
    /// Client-facing TLS, which every client must use.
    pub tls: tokio_rustls::TlsAcceptor,
    /// Open sessions, so revocations can end them.
    pub live: Arc<LiveSessions>,
    pub limits: MysqlLimits,
}
