//! HTTP-speaking connections served by agents, both ends. At the gateway, the connection's
//! upstream is a pool of HTTP/1.1 connections, each one a tunnel session of the connection's
//! kind that an agent serving it opened ([`through_agents`]); the gateway's configuration holds
//! no target address or credential for it, and everything else (policy, masking, audit,
//! recording) happens at the gateway as for a directly served connection. At the agent, each
//! such session carries HTTP/1.1 requests that the adapter's handler forwards to the target
//! with the agent's credential ([`serve_session`]), and 101 upgrades are joined both ways
//! ([`join_upgraded`]).

use crate::body::ProxyBody;
use crate::upstream::{OpenedStream, StreamOpener, TargetUnavailable, Upstream};
use gatehouse_session::{OpenRequest, TargetConnector};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
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

/// At the agent: serve one tunnel session's HTTP/1.1 requests with `handle` until the gateway
/// closes it.
pub async fn serve_session<H, F>(connection: &str, io: tokio::io::DuplexStream, handle: H)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let handle = Arc::new(handle);
    let service = hyper::service::service_fn(move |request| {
        let answer = handle(request);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    if let Err(error) = served {
        tracing::debug!(%connection, %error, "a session from the gateway ended");
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
