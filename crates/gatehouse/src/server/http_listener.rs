//! What the HTTP-speaking listeners (Kubernetes, HTTP APIs) share: bound on their configured
//! address, TLS with the gateway's certificate offering HTTP/2 and HTTP/1.1 (ALPN), and served
//! by their adapter's gateway until shutdown.

use crate::config::ConnectionConfig;
use anyhow::{Context, Result, bail};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What every HTTP-speaking listener is built from, beside the configuration.
pub struct ListenerParts<'a> {
    pub pipeline: &'a gatehouse_pipeline::Pipeline,
    pub store: &'a gatehouse_store::Store,
    pub live: &'a Arc<gatehouse_session::LiveSessions>,
    pub server_tls: &'a Arc<rustls::ServerConfig>,
    pub shutdown: &'a tokio::sync::watch::Receiver<bool>,
    pub agents: Option<&'a Arc<gatehouse_tunnel::AgentHub>>,
}

impl ListenerParts<'_> {
    /// The agent hub that serves `connection`, when it names agents (`None`: the gateway
    /// reaches its target itself).
    pub fn agents_serving(
        &self,
        connection: &ConnectionConfig,
    ) -> Result<Option<Arc<gatehouse_tunnel::AgentHub>>> {
        match (self.agents, connection.agents.is_empty()) {
            (_, true) => Ok(None),
            (Some(hub), false) => Ok(Some(hub.clone())),
            (None, false) => bail!(
                "connection `{}` names agents but the agent listener is not running",
                connection.name
            ),
        }
    }

    /// The session services of the listener's gateway.
    pub fn session_services(&self) -> gatehouse_session::SessionServices {
        gatehouse_session::SessionServices {
            pipeline: self.pipeline.clone(),
            authenticator: Arc::new(self.store.clone()),
            live: self.live.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// An adapter's gateway as a listener serves it.
pub trait ServesHttp: Send + Sync + 'static {
    fn serve_on(
        self: Arc<Self>,
        listener: TcpListener,
        acceptor: gatehouse_http::listener::TlsAcceptor,
        limits: gatehouse_http::listener::HttpLimits,
    ) -> impl Future<Output = ()> + Send;
}

impl ServesHttp for gatehouse_k8s_gateway::KubeGateway {
    fn serve_on(
        self: Arc<Self>,
        listener: TcpListener,
        acceptor: gatehouse_http::listener::TlsAcceptor,
        limits: gatehouse_http::listener::HttpLimits,
    ) -> impl Future<Output = ()> + Send {
        self.serve(listener, acceptor, limits)
    }
}

impl ServesHttp for gatehouse_httpapi_gateway::HttpApiGateway {
    fn serve_on(
        self: Arc<Self>,
        listener: TcpListener,
        acceptor: gatehouse_http::listener::TlsAcceptor,
        limits: gatehouse_http::listener::HttpLimits,
    ) -> impl Future<Output = ()> + Send {
        self.serve(listener, acceptor, limits)
    }
}

/// A bound listener and the gateway that serves it.
pub struct HttpListener<G> {
    pub address: SocketAddr,
    listener: TcpListener,
    gateway: Arc<G>,
    acceptor: gatehouse_http::listener::TlsAcceptor,
    limits: gatehouse_http::listener::HttpLimits,
}

impl<G: ServesHttp> HttpListener<G> {
    /// Bind `listen` (`section` names the config key in errors: `[http] listen`) for `gateway`.
    pub async fn bind(
        listen: SocketAddr,
        section: &str,
        server_tls: &Arc<rustls::ServerConfig>,
        gateway: G,
        limits: gatehouse_http::listener::HttpLimits,
    ) -> Result<Self> {
        let listener = TcpListener::bind(listen).await.with_context(|| {
            format!(
                "cannot listen for {} clients on {listen} ([{section}] listen)",
                limits.protocol
            )
        })?;
        let mut tls = (**server_tls).clone();
        tls.alpn_protocols = gatehouse_http::listener::ALPN_PROTOCOLS
            .iter()
            .map(|protocol| protocol.to_vec())
            .collect();
        Ok(HttpListener {
            address: listener.local_addr()?,
            listener,
            gateway: Arc::new(gateway),
            acceptor: gatehouse_http::listener::TlsAcceptor::from(Arc::new(tls)),
            limits,
        })
    }

    /// Serve until shutdown.
    pub async fn serve(self) {
        self.gateway
            .serve_on(self.listener, self.acceptor, self.limits)
            .await;
    }
}
