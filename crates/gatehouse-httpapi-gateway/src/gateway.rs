//! What every HTTP API client connection shares: the session services, the configured `http`
//! connections with their upstreams and credentials, the masking engine, and the limits on
//! what a request may carry.

use crate::connection::HttpApiConnection;
use crate::credential::HttpCredential;
use crate::error::HttpApiGatewayError;
use gatehouse_core::ConnectionInfo;
use gatehouse_http::listener::{ClientConnection, HttpFrontend};
use gatehouse_http::upstream::Upstream;
use gatehouse_mask::{JsonMaskRules, JsonReplacement, Masker};
use gatehouse_session::SessionServices;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The HTTP API adapter's shared state.
pub struct HttpApiGateway {
    pub services: SessionServices,
    /// The `http` connections clients may name.
    pub targets: HashMap<String, Arc<HttpTarget>>,
    pub limits: HttpApiLimits,
    /// The detectors (and their strategies) answers are masked with.
    pub masker: Arc<Masker>,
    /// The gateway's own host name, lower-case: `CONNECTION.<host>` names a connection by host.
    /// `None`: connections are named by path prefix only.
    pub host: Option<String>,
}

/// One `http` connection.
pub struct HttpTarget {
    pub info: Arc<ConnectionInfo>,
    pub upstream: Upstream,
    pub credential: HttpCredential,
    /// What is masked in JSON answers for identities without `data:unmasked`: the connection's
    /// path rules, then the detectors on every other string and number.
    pub json_rules: Arc<JsonMaskRules>,
    /// Content types (lower-case media types, `type/*` allowed) passed to masked identities
    /// unmasked because they cannot be masked (images, archives).
    pub passthrough: Vec<String>,
    /// Hosts an answer may redirect to besides the target's own (`host` or `host:port`).
    pub redirect_hosts: Vec<String>,
    /// Request headers (lower-case names) policy sees in `context.headers`.
    pub policy_headers: Vec<String>,
}

impl HttpTarget {
    /// JSON masking rules for a connection: each of `paths` (`**.password`,
    /// `items[*].card`) replaced by `[REDACTED]`, every other value through the detectors.
    pub fn json_rules(
        connection: &str,
        paths: &[String],
    ) -> Result<Arc<JsonMaskRules>, HttpApiGatewayError> {
        let mut rules = JsonMaskRules::new().scan_unmatched(true);
        for path in paths {
            rules = rules
                .rule(path, JsonReplacement::Text("[REDACTED]".to_owned()))
                .map_err(|error| HttpApiGatewayError::InvalidMaskRule {
                    connection: connection.to_owned(),
                    rule: path.clone(),
                    reason: error.to_string(),
                })?;
        }
        Ok(Arc::new(rules))
    }
}

/// What one request may carry, and how much of it is kept.
#[derive(Debug, Clone)]
pub struct HttpApiLimits {
    /// The largest request body gatehouse reads (whole, to decide on its digest and fields).
    pub max_body_bytes: usize,
    /// Time a client has to send a request body.
    pub body_timeout: Duration,
    /// JSON request bodies up to this size are read for `json_keys`, `json_values` and
    /// GraphQL operations.
    pub json_body_limit: usize,
    /// Hold a request that waits for approval open this long (`None`: answer at once).
    pub approval_wait: Option<Duration>,
    /// Bytes of each request body kept in the session recording.
    pub recorded_body_bytes: usize,
    /// The longest line a masked text answer may have (a longer one ends the answer).
    pub max_text_line_bytes: usize,
}

impl Default for HttpApiLimits {
    fn default() -> Self {
        HttpApiLimits {
            max_body_bytes: 8 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            json_body_limit: 64 * 1024,
            approval_wait: None,
            recorded_body_bytes: 16 * 1024,
            max_text_line_bytes: 1024 * 1024,
        }
    }
}

/// The listener opens an [`HttpApiConnection`] per client connection.
struct HttpApiFrontend(Arc<HttpApiGateway>);

impl HttpFrontend for HttpApiFrontend {
    type Connection = HttpApiConnection;

    fn open(&self, client: ClientConnection) -> HttpApiConnection {
        HttpApiConnection::new(self.0.clone(), client)
    }
}

impl HttpApiGateway {
    /// Serve HTTP API clients on `listener` (TLS with `acceptor`, which must offer the
    /// listener's ALPN protocols) until shutdown.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        acceptor: gatehouse_http::listener::TlsAcceptor,
        limits: gatehouse_http::listener::HttpLimits,
    ) {
        let shutdown = self.services.shutdown.clone();
        gatehouse_http::listener::serve(
            listener,
            acceptor,
            limits,
            Arc::new(HttpApiFrontend(self)),
            shutdown,
        )
        .await;
    }
}
