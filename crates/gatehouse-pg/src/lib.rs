//! gatehouse's PostgreSQL adapter.
//!
//! It terminates the client's PostgreSQL connection (TLS, gatehouse token as the password),
//! opens the server connection through a [`Connector`] with the connection's own credentials,
//! and then relays the session. Every client message that could execute SQL is decoded into
//! typed actions and decided by the [`gatehouse_pipeline::Pipeline`] before a byte of it
//! reaches the server; everything else is relayed as opaque frames.
//!
//! Layout: `wire` (framing and the few messages decoded), `handshake` (client side of
//! startup), `upstream` + `connector` (server side), `logins` (which server login a session
//! gets), `session` (the relay and the decision points), `cancel` (cancel-key mapping),
//! `server` (the listener).

mod cancel;
mod column_lineage;
mod connection_settings;
mod connector;
mod encoding;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod logins;
mod masking;
mod rule_book;
mod server;
mod session;
mod startup_settings;
pub mod targets;
mod tls;
mod upstream;
pub mod wire;

pub use cancel::CancelRegistry;
pub use connection_settings::{ConnectionSettings, ConnectionSettingsInForce};
pub use connector::{
    BackendKey, BuiltinConnector, Connector, PgLogin, PgLogins, PgTarget, Stream, UpstreamSession,
};
pub use error::PgError;
pub use gatehouse_session::{LoginLevels, LoginRule};
pub use handshake::TOKEN_ONLY_USER;
pub use masking::ConnectionMasking;
pub use rule_book::RuleBook;
pub use server::serve;
pub use targets::{PgConnector, PostgresTargets};
pub use tls::{
    client_config_trusting, provider as tls_provider, trust_roots, upstream_client_config,
};
pub use upstream::UpstreamTls;

use gatehouse_pipeline::{Authenticator, Pipeline};
use gatehouse_sql::Classifier;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Limits and switches of the PostgreSQL listener.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// Refuse clients that do not start TLS. Off only by explicit configuration.
    pub require_tls: bool,
    /// Largest message accepted from a client (bytes); larger ends the session.
    pub max_client_message: usize,
    /// Largest message accepted from a server (bytes); a single row larger than this ends the
    /// session instead of being buffered.
    pub max_server_message: usize,
    /// Time a client has from TCP connect to finishing authentication.
    pub handshake_timeout: Duration,
    /// Concurrent client sessions; more are refused with SQLSTATE 53300.
    pub max_sessions: usize,
    /// Time open sessions get to finish after shutdown begins.
    pub shutdown_grace: Duration,
    /// How long a statement held for approval waits in the session before failing (the
    /// approval itself stays pending; sending the statement again picks it up).
    pub approval_wait: Duration,
}

impl Default for PgSettings {
    fn default() -> Self {
        PgSettings {
            require_tls: true,
            max_client_message: 16 * 1024 * 1024,
            max_server_message: 256 * 1024 * 1024,
            handshake_timeout: Duration::from_secs(10),
            max_sessions: 1024,
            shutdown_grace: Duration::from_secs(10),
            approval_wait: Duration::from_secs(300),
        }
    }
}

/// Everything a PostgreSQL session needs from the gateway, shared by all sessions.
pub struct PgGateway {
    pub pipeline: Pipeline,
    pub authenticator: Arc<dyn Authenticator>,
    pub connector: Arc<dyn Connector>,
    /// Which connections clients may name, their masking and result recording: replaceable
    /// while the gateway runs.
    pub connection_settings: ConnectionSettingsInForce,
    /// Which server login each connection's identities get; connections without an entry use
    /// their own login (level `admin`) for everyone.
    pub logins: HashMap<String, LoginLevels>,
    pub classifier: Arc<Classifier>,
    /// Client-facing TLS; `None` means the listener cannot offer TLS.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub settings: PgSettings,
    pub cancels: CancelRegistry,
    /// Open sessions, so revocations can end them.
    pub live: Arc<gatehouse_session::LiveSessions>,
    /// Each connection's rewrite rules, read from its catalog (connections whose credentials
    /// the gateway does not hold have none).
    pub rules: HashMap<String, Arc<RuleBook>>,
}
