//! The gateway's end of a Kubernetes connection served by agents: its upstream is a pool of
//! HTTP/1.1 connections, each one a tunnel session (kind `kubernetes`) that an agent serving
//! the connection opened (`gatehouse_http::agents`). The gateway's configuration holds no API
//! server address or credential for it; everything else (policy, impersonation, masking,
//! audit, recording) happens here exactly as for a directly served connection.

use crate::gateway::{Impersonation, KubeTarget, UpstreamCredential};
use gatehouse_core::ConnectionInfo;
use gatehouse_session::TargetConnector;
use std::sync::Arc;

impl KubeTarget {
    /// A connection served by agents, reached through `agents` (the tunnel's connector).
    pub fn through_agents(
        info: Arc<ConnectionInfo>,
        agents: Arc<dyn TargetConnector>,
        impersonation: Option<Impersonation>,
    ) -> KubeTarget {
        KubeTarget {
            upstream: gatehouse_http::agents::through_agents(
                gatehouse_k8s::KUBERNETES.as_str(),
                &info.name,
                agents,
            ),
            info,
            credential: UpstreamCredential::AtAgent,
            impersonation,
        }
    }
}
