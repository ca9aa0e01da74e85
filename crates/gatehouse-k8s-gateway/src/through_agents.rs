//! The gateway's end of a Kubernetes connection served by agents: its upstream is a pool of
//! HTTP/1.1 connections, each one a tunnel session (kind `kubernetes`) that an agent serving
//! the connection opened. The gateway's configuration holds no API server address or
//! credential for it; everything else (policy, impersonation, masking, audit, recording)
//! happens here exactly as for a directly served connection.

use crate::gateway::{Impersonation, KubeTarget, UpstreamCredential};
use gatehouse_core::ConnectionInfo;
use gatehouse_http::upstream::{OpenedStream, StreamOpener, TargetUnavailable, Upstream};
use gatehouse_session::{OpenRequest, TargetConnector};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

impl KubeTarget {
    /// A connection served by agents, reached through `agents` (the tunnel's connector).
    pub fn through_agents(
        info: Arc<ConnectionInfo>,
        agents: Arc<dyn TargetConnector>,
        impersonation: Option<Impersonation>,
    ) -> KubeTarget {
        let opener = AgentSessions {
            agents,
            connection: info.name.clone(),
        };
        KubeTarget {
            upstream: Upstream::through(
                &format!("connection `{}` through its agents", info.name),
                Arc::new(opener),
            ),
            info,
            credential: UpstreamCredential::AtAgent,
            impersonation,
        }
    }
}

/// Opens tunnel sessions to an agent serving `connection`.
struct AgentSessions {
    agents: Arc<dyn TargetConnector>,
    connection: String,
}

impl StreamOpener for AgentSessions {
    fn open(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<OpenedStream, TargetUnavailable>> + Send + '_>> {
        Box::pin(async move {
            let request = OpenRequest {
                kind: gatehouse_k8s::KUBERNETES.as_str().to_owned(),
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
