//! HTTP-speaking connections served by agents, both ends. At the gateway, the connection's
//! upstream is a pool of HTTP/1.1 connections, each one a tunnel session of the connection's
//! kind that an agent serving it opened ([`through_agents`]); the gateway's configuration holds
//! no target address or credential for it, and everything else (policy, masking, audit,
//! recording) happens at the gateway as for a directly served connection. At the agent, each
//! such session carries HTTP/1.1 requests that the adapter's handler forwards to the target
//! with the agent's credential ([`AgentTargets`], whose [`AgentServed`] target each adapter
//! writes), and 101 upgrades are joined both ways ([`join_upgraded`]).

use crate::body::ProxyBody;
use crate::upstream::{OpenedStream, StreamOpener, TargetUnavailable, Upstream};
use gatehouse_session::{ConnectError, OpenRequest, Opened, TargetConnector};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The upstream of connection `connection` (of `kind`), reached through the agents that serve
/// it (the tunnel's connector).
pub fn through_agents(kind: &str, connection: &str, agents: Arc<dyn TargetConnector>) -> Upstream {
    let opener = AgentSessions {
        agents,
        kind: kind.to_owned(),
        connection: connection.to_owned(),
    };
    Upstream::through(
        &format!("connection `{connection}` through its agents"),
        Arc::new(opener),
    )
}

/// Opens tunnel sessions to an agent serving `connection`.
struct AgentSessions {
    agents: Arc<dyn TargetConnector>,
    kind: String,
    connection: String,
}

impl StreamOpener for AgentSessions {
    fn open(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<OpenedStream, TargetUnavailable>> + Send + '_>> {
        Box::pin(async move {
            let request = OpenRequest {
                kind: self.kind.clone(),
                login_level: gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
                details: serde_json::json!({}),
            };
            let opened = self
                .agents
                .open(&self.connection, &request)
                .await
                .map_err(|error| TargetUnavailable(error.to_string()))?;
            if !opened.leftover.is_empty() {
                return Err(TargetUnavailable(format!(
                    "the agent serving connection `{}` sent bytes before any request",
                    self.connection
                )));
            }
            Ok(Box::new(opened.stream) as OpenedStream)
        })
    }
}

/// Bytes buffered between a tunnel session and the proxy serving it.
const SESSION_BUFFER: usize = 64 * 1024;

/// What an agent serves for one connection: the answer to each request from the gateway.
pub trait AgentServed: Send + Sync + 'static {
    /// The target's answer to `request` (with the agent's credential added), or the adapter's
    /// own refusal.
    fn answer(
        self: Arc<Self>,
        connection: String,
        request: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>;
}

/// An agent's connections of one kind, opened for the gateway as HTTP/1.1 sessions.
pub struct AgentTargets<T> {
    kind: &'static str,
    /// Names the protocol in refusals (`Kubernetes`, `HTTP`).
    protocol: &'static str,
    targets: HashMap<String, Arc<T>>,
}

impl<T: AgentServed> AgentTargets<T> {
    /// `targets` of `kind` by connection name (their upstreams and credentials are the
    /// agent's).
    pub fn new(
        kind: &'static str,
        protocol: &'static str,
        targets: HashMap<String, Arc<T>>,
    ) -> Self {
        AgentTargets {
            kind,
            protocol,
            targets,
        }
    }
}

impl<T: AgentServed> TargetConnector for AgentTargets<T> {
    fn kinds(&self) -> Vec<String> {
        vec![self.kind.to_owned()]
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Opened, ConnectError>> + Send + 'a>> {
        let target = self.targets.get(connection).cloned();
        Box::pin(async move {
            if request.kind != self.kind {
                return Err(ConnectError::Unavailable(format!(
                    "`{}` sessions are not opened by the {} connector",
                    request.kind, self.protocol
                )));
            }
            let Some(target) = target else {
                return Err(ConnectError::Unavailable(format!(
                    "this agent serves no {} connection `{connection}`",
                    self.protocol
                )));
            };
            let (session, proxy) = tokio::io::duplex(SESSION_BUFFER);
            tokio::spawn(serve_session(connection.to_owned(), proxy, target));
            Ok(Opened {
                stream: Box::new(session),
                details: serde_json::json!({}),
                leftover: Vec::new(),
            })
        })
    }

    fn signal<'a>(
        &'a self,
        connection: &'a str,
        _: &'a OpenRequest,
    ) -> Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send + 'a>> {
        Box::pin(async move {
            Err(ConnectError::Unavailable(format!(
                "{} connection `{connection}` takes no signals",
                self.protocol
            )))
        })
    }
}

/// Serve one tunnel session's HTTP/1.1 requests with `target` until the gateway closes it.
async fn serve_session<T: AgentServed>(
    connection: String,
    io: tokio::io::DuplexStream,
    target: Arc<T>,
) {
    let name = connection.clone();
    let service = hyper::service::service_fn(move |request| {
        let answer = target.clone().answer(connection.clone(), request);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    if let Err(error) = served {
        tracing::debug!(connection = %name, %error, "a session from the gateway ended");
    }
}

/// At the agent: copy both ways between the gateway's and the target's upgraded connections
/// until both are done (the gateway records the stream; the agent only carries it).
pub async fn join_upgraded(gateway: OnUpgrade, target: OnUpgrade) {
    match tokio::try_join!(gateway, target) {
        Ok((gateway, target)) => {
            let copied = tokio::io::copy_bidirectional(
                &mut TokioIo::new(gateway),
                &mut TokioIo::new(target),
            )
            .await;
            if let Err(error) = copied {
                tracing::debug!(%error, "an upgraded stream ended");
            }
        }
        Err(error) => tracing::debug!(%error, "an upgrade did not complete"),
    }
}
