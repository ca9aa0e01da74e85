//! The seam between the adapter and the target: a connector opens an authenticated session
//! to a named connection's server, logged in as the server login of the session's level. The
//! built-in connector dials directly with credentials from the gateway's configuration; the
//! agent tunnel implements the same trait, and the session code does not know which one it
//! uses.

use crate::PgError;
use crate::upstream::{self, UpstreamTls};
use gatehouse_core::SecretString;
use gatehouse_pipeline::BoxFuture;
use std::collections::HashMap;
use std::time::Duration;

pub use gatehouse_session::Stream;

/// A server's cancellation key (`BackendKeyData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendKey {
    pub process_id: i32,
    pub secret: i32,
}

/// An authenticated server session, ready for queries.
pub struct UpstreamSession {
    pub stream: Box<dyn Stream>,
    /// `ParameterStatus` values the server reported during startup.
    pub parameters: Vec<(String, String)>,
    pub key: Option<BackendKey>,
    /// Bytes the server sent after its first `ReadyForQuery` (normally none).
    pub leftover: bytes::BytesMut,
}

/// Opens sessions to targets and forwards cancel requests to them.
pub trait Connector: Send + Sync {
    /// Open an authenticated session to `connection` as its server login of `login_level`
    /// (`admin`: the connection's own login), passing the client's allowed startup parameters
    /// (application_name, client_encoding, ...). A level the connector has no login for is
    /// an error, never another login.
    fn open<'a>(
        &'a self,
        connection: &'a str,
        login_level: &'a str,
        client_parameters: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<UpstreamSession, PgError>>;

    /// Ask the server of `connection` to cancel the query running under `key`.
    fn cancel<'a>(
        &'a self,
        connection: &'a str,
        key: BackendKey,
    ) -> BoxFuture<'a, Result<(), PgError>>;
}

/// Where and how to reach one PostgreSQL target. The password never leaves the connector.
#[derive(Debug, Clone)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Option<SecretString>,
    pub tls: UpstreamTls,
}

/// One server login of a connection: ready to dial, or known to be unusable (a session of
/// its level then fails with `reason`, which says what to do, rather than use another login).
#[derive(Debug, Clone)]
pub enum PgLogin {
    Ready(PgTarget),
    Unavailable { reason: String },
}

impl PgLogin {
    /// The target, when the login is usable.
    pub fn target(&self) -> Option<&PgTarget> {
        match self {
            PgLogin::Ready(target) => Some(target),
            PgLogin::Unavailable { .. } => None,
        }
    }
}

/// The server logins of each connection, by login level.
#[derive(Debug, Clone, Default)]
pub struct PgLogins {
    by_connection: HashMap<String, HashMap<String, PgLogin>>,
}

impl PgLogins {
    pub fn insert(&mut self, connection: &str, level: &str, login: PgLogin) {
        self.by_connection
            .entry(connection.to_owned())
            .or_default()
            .insert(level.to_owned(), login);
    }

    fn login(&self, connection: &str, level: &str) -> Result<&PgTarget, PgError> {
        match self.levels(connection)?.get(level) {
            Some(PgLogin::Ready(target)) => Ok(target),
            Some(PgLogin::Unavailable { reason }) => Err(PgError::Upstream(reason.clone())),
            None => Err(PgError::Upstream(format!(
                "connection `{connection}` has no server login of level `{level}`; \
                 add a [[connections.logins]] entry with level = \"{level}\" to it"
            ))),
        }
    }

    /// A login to reach `connection`'s server with, for a cancel request (which carries no
    /// credentials: every login of a connection reaches the same server).
    fn any(&self, connection: &str) -> Result<&PgTarget, PgError> {
        let levels = self.levels(connection)?;
        levels
            .get(gatehouse_core::ADMIN_LOGIN_LEVEL)
            .and_then(PgLogin::target)
            .or_else(|| levels.values().find_map(PgLogin::target))
            .ok_or_else(|| {
                PgError::Upstream(format!(
                    "connection `{connection}` has no usable server login"
                ))
            })
    }

    fn levels(&self, connection: &str) -> Result<&HashMap<String, PgLogin>, PgError> {
        self.by_connection.get(connection).ok_or_else(|| {
            PgError::Upstream(format!(
                "connection `{connection}` has no PostgreSQL target configured"
            ))
        })
    }
}

/// The connector built into `gatehouse serve` (and `gatehouse agent`): dials targets
/// directly, logging in as the login of the session's level.
pub struct BuiltinConnector {
    logins: PgLogins,
    connect_timeout: Duration,
    max_message: usize,
}

impl BuiltinConnector {
    pub fn new(logins: PgLogins, connect_timeout: Duration, max_message: usize) -> Self {
        BuiltinConnector {
            logins,
            connect_timeout,
            max_message,
        }
    }
}

impl Connector for BuiltinConnector {
    fn open<'a>(
        &'a self,
        connection: &'a str,
        login_level: &'a str,
        client_parameters: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<UpstreamSession, PgError>> {
        Box::pin(async move {
            let target = self.logins.login(connection, login_level)?;
            let opening = upstream::open(target, client_parameters, self.max_message);
            tokio::time::timeout(self.connect_timeout, opening)
                .await
                .map_err(|_| {
                    PgError::Upstream(format!(
                        "the server of connection `{connection}` ({}:{}) did not complete the connection within {:?}",
                        target.host, target.port, self.connect_timeout
                    ))
                })?
        })
    }

    fn cancel<'a>(
        &'a self,
        connection: &'a str,
        key: BackendKey,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        Box::pin(async move {
            let target = self.logins.any(connection)?;
            tokio::time::timeout(self.connect_timeout, upstream::cancel(target, key))
                .await
                .map_err(|_| PgError::Timeout("sending a cancel request to the server"))?
        })
    }
}
