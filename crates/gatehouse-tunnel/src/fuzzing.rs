//! Entry points for the coverage-guided fuzz targets in `fuzz/` (not API: hidden from the
//! documentation, may change at any time). They run each end of a tunnel over any byte
//! stream, as if TCP and TLS were already done, so a fuzzer can play the other end:
//!
//! - the gateway's end: [`admit`] runs the real admission ([`AgentHub`]'s HTTP/2 client
//!   handshake, `GET /v1/hello`, the hello's JSON, the route check, the authority, the
//!   verdict) within the real admission timeout, [`keep`] keeps an admitted tunnel as a live
//!   link, and [`open_session`] opens a session through it as [`crate::RoutedConnector`] does,
//!   also reporting the head of the agent's answer;
//! - the agent's end: [`serve_gateway`] serves a gateway's requests as a dialled tunnel does,
//!   and [`Welcome`] says whether a welcome verdict has been taken.
//!
//! The TLS configurations these need ([`hub`], [`agent_settings`]) are never used: the streams
//! handed in are already past TLS.

use crate::agent::serve_tunnel;
use crate::hub::{Admitted, admit_within, session_from_response};
use crate::{
    AgentAuthority, AgentHub, AgentSettings, ConnectedAgent, CredentialStore, TunnelError,
};
use gatehouse_core::SecretString;
use gatehouse_pg::targets::{self, POSTGRES_KIND};
use gatehouse_pg::{PgError, UpstreamSession};
use gatehouse_session::TargetConnector;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// A hub with `authority` and `routes` (connection → agents), whose TLS acceptor has no
/// certificate (it is never used here).
pub fn hub(
    authority: Arc<dyn AgentAuthority>,
    routes: HashMap<String, Vec<String>>,
) -> Result<Arc<AgentHub>, String> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_cert_resolver(Arc::new(NoCertificate));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    Ok(AgentHub::new(authority, acceptor, routes))
}

#[derive(Debug)]
struct NoCertificate;

impl rustls::server::ResolvesServerCert for NoCertificate {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }
}

/// An agent the hub admitted on a tunnel, not yet kept as a live link.
pub struct AdmittedTunnel(Admitted);

impl AdmittedTunnel {
    /// The agent as its hello described it.
    pub fn agent(&self) -> &ConnectedAgent {
        &self.0.agent
    }
}

/// The gateway's opening of a tunnel whose bytes are `io` (the agent's, past TLS): what
/// `AgentHub` does with an accepted connection after the TLS handshake, within the same
/// timeout. `None` when the agent was refused, broke the protocol or was too slow.
pub async fn admit<S>(hub: &AgentHub, io: S, peer: SocketAddr) -> Option<AdmittedTunnel>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    admit_within(hub.admit(io, peer), peer)
        .await
        .map(AdmittedTunnel)
}

/// Keep an admitted tunnel as a live link (sessions can be opened through it) until it ends,
/// `shutdown` becomes true or the agent is closed.
pub async fn keep(
    hub: &AgentHub,
    tunnel: AdmittedTunnel,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    hub.keep(tunnel.0, peer, shutdown).await;
}

/// The head of an agent's answer to a session request.
#[derive(Debug, Clone)]
pub struct SessionHead {
    pub status: u16,
    /// Every header, in order, repeated names included.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Open a session to `connection` as its login of `login_level` through a live link, as
/// `RoutedConnector::open` does for connections agents serve; also the head of the agent's
/// answer when there was one.
pub async fn open_session(
    hub: &AgentHub,
    connection: &str,
    login_level: &str,
    client_parameters: &[(String, String)],
) -> (Option<SessionHead>, Result<UpstreamSession, PgError>) {
    let request = targets::open_request(login_level, client_parameters);
    let requested = hub.request_session(connection, &request).await;
    let (agent, response, send) = match requested {
        Ok(requested) => requested,
        Err(error) => return (None, Err(targets::pg_error(error))),
    };
    let (parts, body) = response.into_parts();
    let head = SessionHead {
        status: parts.status.as_u16(),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
    };
    let opened = session_from_response(&agent, connection, POSTGRES_KIND, &parts, body, send)
        .await
        .map_err(targets::pg_error)
        .and_then(|opened| targets::upstream_session(connection, opened));
    (Some(head), opened)
}

/// Settings for an agent named `name` serving `connections` with their own logins (level
/// `admin`) through `connector`, whose TLS configuration trusts nothing (it is never used
/// here).
pub fn agent_settings(
    name: &str,
    connections: Vec<String>,
    connector: Arc<dyn TargetConnector>,
    credentials: Arc<dyn CredentialStore>,
    enrolment_token: Option<SecretString>,
) -> Result<AgentSettings, String> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let server_name =
        rustls::pki_types::ServerName::try_from("gateway.invalid").map_err(|e| e.to_string())?;
    Ok(AgentSettings {
        name: name.to_owned(),
        version: "fuzz".to_owned(),
        gateway: "gateway.invalid:4443".to_owned(),
        server_name,
        tls: Arc::new(tls),
        connector,
        connections,
        login_levels: Default::default(),
        enrolment_token,
        credentials,
        workload_token: None,
    })
}

/// Whether the agent's end of a tunnel has taken a welcome verdict.
#[derive(Clone, Default)]
pub struct Welcome(Arc<AtomicBool>);

impl Welcome {
    pub fn new() -> Self {
        Self::default()
    }

    /// A welcome verdict was taken (sessions and cancels are served from then on).
    pub fn received(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The agent's end of a tunnel whose bytes are `io` (the gateway's, past TLS): what a dialled
/// tunnel does after the TLS handshake, until the tunnel ends. `welcome` says when the
/// verdict welcomed the agent.
pub async fn serve_gateway<S>(
    settings: &Arc<AgentSettings>,
    io: S,
    welcome: &Welcome,
) -> Result<(), TunnelError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The fuzzed gateway never asks the agent to stop: a sender kept for the whole run.
    let (_keep, mut never) = tokio::sync::watch::channel(false);
    serve_tunnel(settings, io, welcome.0.clone(), &mut never).await
}
