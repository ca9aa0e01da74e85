//! The seam between the adapter and the target: a connector opens an authenticated session
//! to a named connection's server. The built-in connector dials directly with credentials from
//! the gateway's configuration; a remote agent can implement the same trait later, and the
//! session code does not know which one it uses.

use crate::PgError;
use crate::upstream::{self, UpstreamTls};
use gatehouse_core::SecretString;
use gatehouse_pipeline::BoxFuture;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream (plain TCP or TLS).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

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
    /// Open an authenticated session to `connection`, passing the client's allowed startup
    /// parameters (application_name, client_encoding, ...).
    fn open<'a>(
        &'a self,
        connection: &'a str,
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

/// The connector built into `gatehouse serve`: dials targets directly.
pub struct BuiltinConnector {
    targets: HashMap<String, PgTarget>,
    connect_timeout: Duration,
    max_message: usize,
}

impl BuiltinConnector {
    pub fn new(
        targets: HashMap<String, PgTarget>,
        connect_timeout: Duration,
        max_message: usize,
    ) -> Self {
        BuiltinConnector {
            targets,
            connect_timeout,
            max_message,
        }
    }

    fn target(&self, connection: &str) -> Result<&PgTarget, PgError> {
        self.targets.get(connection).ok_or_else(|| {
            PgError::Upstream(format!(
                "connection `{connection}` has no PostgreSQL target configured"
            ))
        })
    }
}

impl Connector for BuiltinConnector {
    fn open<'a>(
        &'a self,
        connection: &'a str,
        client_parameters: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<UpstreamSession, PgError>> {
        Box::pin(async move {
            let target = self.target(connection)?;
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
            let target = self.target(connection)?;
            tokio::time::timeout(self.connect_timeout, upstream::cancel(target, key))
                .await
                .map_err(|_| PgError::Timeout("sending a cancel request to the server"))?
        })
    }
}
