//! The seam between an adapter and its targets, for every protocol: a connector opens a byte
//! stream to a named connection's target, authenticated with credentials only the connector
//! holds, from a kind-specific open request (for PostgreSQL: the client's startup parameters;
//! the kind's adapter encodes and decodes its `details`). The built-in connector dials
//! directly; the agent tunnel carries the same request to an agent near the target, whose
//! built-in connector opens it there. An adapter never knows which one it went through.

use gatehouse_pipeline::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream (plain TCP, TLS, an HTTP/2 stream of the tunnel).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for T {}

/// What opening (or signalling) a target needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRequest {
    /// The connection's kind (`postgres`): which of the connector's openers handles it.
    pub kind: String,
    /// The server login level to authenticate as (`admin`: the connection's own login).
    pub login_level: String,
    /// Everything else, in the kind's own terms.
    pub details: serde_json::Value,
}

/// An opened target session.
pub struct Opened {
    pub stream: Box<dyn Stream>,
    /// What the target said while opening, in the kind's own terms.
    pub details: serde_json::Value,
    /// Bytes the target sent after opening that belong to the session.
    pub leftover: Vec<u8>,
}

/// Why a target could not be opened or signalled; the message says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    /// The connector, an agent or the target refused or could not be reached.
    #[error("{0}")]
    Unavailable(String),
    /// An agent's or target's answer did not make sense.
    #[error("{0}")]
    Protocol(String),
}

/// Opens target sessions of the kinds it serves.
pub trait TargetConnector: Send + Sync {
    /// The connection kinds it opens (`postgres`).
    fn kinds(&self) -> Vec<String>;

    /// Open an authenticated session to `connection`'s target. A kind or login level the
    /// connector cannot serve is an error, never another login.
    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>>;

    /// Deliver a one-shot request about a session (PostgreSQL: a cancel request) to
    /// `connection`'s target.
    fn signal<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>>;
}

/// Connectors of different kinds as one (an agent serving PostgreSQL and Kubernetes
/// connections): each request goes to the first that opens its kind.
pub struct ByKind(Vec<std::sync::Arc<dyn TargetConnector>>);

impl ByKind {
    pub fn new(connectors: Vec<std::sync::Arc<dyn TargetConnector>>) -> Self {
        ByKind(connectors)
    }

    fn opener(&self, kind: &str) -> Result<&dyn TargetConnector, ConnectError> {
        self.0
            .iter()
            .find(|connector| connector.kinds().iter().any(|k| k == kind))
            .map(|connector| connector.as_ref())
            .ok_or_else(|| {
                ConnectError::Unavailable(format!("`{kind}` targets are not opened here"))
            })
    }
}

impl TargetConnector for ByKind {
    fn kinds(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|connector| connector.kinds())
            .collect()
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        match self.opener(&request.kind) {
            Ok(connector) => connector.open(connection, request),
            Err(error) => Box::pin(async move { Err(error) }),
        }
    }

    fn signal<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        match self.opener(&request.kind) {
            Ok(connector) => connector.signal(connection, request),
            Err(error) => Box::pin(async move { Err(error) }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;

    /// Opens `kind` targets by answering with its own name.
    struct Named(&'static str);

    impl TargetConnector for Named {
        fn kinds(&self) -> Vec<String> {
            vec![self.0.to_owned()]
        }

        fn open<'a>(
            &'a self,
            _: &'a str,
            _: &'a OpenRequest,
        ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
            Box::pin(async move {
                Ok(Opened {
                    stream: Box::new(tokio::io::duplex(1).0),
                    details: serde_json::json!(self.0),
                    leftover: Vec::new(),
                })
            })
        }

        fn signal<'a>(
            &'a self,
            _: &'a str,
            _: &'a OpenRequest,
        ) -> BoxFuture<'a, Result<(), ConnectError>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn request(kind: &str) -> OpenRequest {
        OpenRequest {
            kind: kind.to_owned(),
            login_level: "admin".to_owned(),
            details: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn each_kind_goes_to_its_own_connector_and_an_unknown_kind_to_none() {
        let both = ByKind::new(vec![
            Arc::new(Named("postgres")),
            Arc::new(Named("kubernetes")),
        ]);
        assert_eq!(both.kinds(), ["postgres", "kubernetes"]);
        for kind in ["postgres", "kubernetes"] {
            let opened = both.open("c", &request(kind)).await.unwrap();
            assert_eq!(opened.details, serde_json::json!(kind));
        }
        let unknown = both.open("c", &request("mysql")).await;
        assert!(
            matches!(&unknown, Err(ConnectError::Unavailable(reason)) if reason.contains("`mysql`"))
        );
        assert!(both.signal("c", &request("mysql")).await.is_err());
    }
}
