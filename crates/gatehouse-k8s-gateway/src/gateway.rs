//! What every Kubernetes client connection shares: the pipeline, the authenticator, the
//! configured connections with their upstreams and credentials, the live-session registry
//! revocations end sessions through, and the limits on what a request may carry.

use crate::connection::KubeConnection;
use gatehouse_core::{ConnectionInfo, Identity, SecretString};
use gatehouse_http::listener::{ClientConnection, HttpFrontend};
use gatehouse_http::upstream::Upstream;
use gatehouse_pipeline::{Authenticator, Pipeline};
use gatehouse_session::LiveSessions;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The Kubernetes adapter's shared state.
pub struct KubeGateway {
    pub pipeline: Pipeline,
    pub authenticator: Arc<dyn Authenticator>,
    /// The `kubernetes` connections clients may name.
    pub targets: HashMap<String, Arc<KubeTarget>>,
    pub live: Arc<LiveSessions>,
    pub limits: KubeLimits,
    /// How answers are masked for identities without `data:unmasked`.
    pub masking: crate::secrets::KubeMasking,
    /// Turns true when gatehouse shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// One `kubernetes` connection.
pub struct KubeTarget {
    pub info: Arc<ConnectionInfo>,
    pub upstream: Upstream,
    pub credential: UpstreamCredential,
    pub impersonation: Option<Impersonation>,
}

/// What gatehouse presents to the API server.
pub enum UpstreamCredential {
    /// `Authorization: Bearer` with this token.
    Bearer(SecretString),
    /// `Authorization: Bearer` with the token in this file, read for every request so that a
    /// rotated service-account token is used as soon as it is written.
    BearerFile(std::path::PathBuf),
    /// Nothing beyond TLS: a client certificate in the upstream's TLS configuration.
    ClientCertificate,
    /// Whatever a kubeconfig's exec credential plugin issues (a token, or a client
    /// certificate with an upstream of its own), kept until it expires or is refused.
    Exec(Arc<crate::exec_credential::ExecCredentials>),
    /// Nothing: the connection is served by agents, and the agent adds its own.
    AtAgent,
}

/// Impersonation: upstream requests carry `Impersonate-User` (the identity's subject) and an
/// `Impersonate-Group` per gatehouse group — mapped explicitly, or else prefixed, so that an
/// identity provider's group named `system:masters` never becomes cluster-admin.
#[derive(Debug, Clone, Default)]
pub struct Impersonation {
    /// Prepended to groups without an explicit mapping (`gatehouse:`).
    pub group_prefix: String,
    /// gatehouse group → cluster group.
    pub groups: BTreeMap<String, String>,
}

impl Impersonation {
    /// The user and groups the API server sees for `identity`.
    pub fn of(&self, identity: &Identity) -> (String, Vec<String>) {
        let groups = identity
            .groups
            .iter()
            .map(|group| match self.groups.get(group) {
                Some(mapped) => mapped.clone(),
                None => format!("{}{group}", self.group_prefix),
            })
            .collect();
        (identity.subject.clone(), groups)
    }
}

/// What one request may carry.
#[derive(Debug, Clone)]
pub struct KubeLimits {
    /// The largest request body gatehouse reads to decide on (kube-apiserver's own limit is
    /// 3 MiB).
    pub max_body_bytes: usize,
    /// Time a client has to send a request body.
    pub body_timeout: Duration,
    /// Hold a request that waits for approval open this long (`None`: answer at once).
    pub approval_wait: Option<Duration>,
}

impl Default for KubeLimits {
    fn default() -> Self {
        KubeLimits {
            max_body_bytes: 3 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            approval_wait: None,
        }
    }
}

/// The listener opens a [`KubeConnection`] per client connection.
pub struct KubeFrontend(pub Arc<KubeGateway>);

impl HttpFrontend for KubeFrontend {
    type Connection = KubeConnection;

    fn open(&self, client: ClientConnection) -> KubeConnection {
        KubeConnection::new(self.0.clone(), client)
    }
}

impl KubeGateway {
    /// Serve Kubernetes clients on `listener` (TLS with `acceptor`, which must offer the
    /// listener's ALPN protocols) until shutdown.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        acceptor: gatehouse_http::listener::TlsAcceptor,
        limits: gatehouse_http::listener::HttpLimits,
    ) {
        let shutdown = self.shutdown.clone();
        gatehouse_http::listener::serve(
            listener,
            acceptor,
            limits,
            Arc::new(KubeFrontend(self)),
            shutdown,
        )
        .await;
    }
}
