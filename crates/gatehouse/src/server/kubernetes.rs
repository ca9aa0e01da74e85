//! The Kubernetes listener `gatehouse serve` opens when a connection is `kind = "kubernetes"`:
//! the adapter's gateway built from the configuration (each connection's upstream, credential
//! and impersonation; for a connection served by agents, the agent hub as its upstream), TLS
//! with the gateway's certificate offering HTTP/2 and HTTP/1.1.

use crate::config::kubernetes::KUBERNETES;
use crate::config::setup::Setup;
use crate::server::http_listener::ListenerParts;
use anyhow::{Context, Result};
use gatehouse_k8s_gateway::{KubeGateway, KubeLimits};
use std::collections::HashMap;
use std::sync::Arc;

/// The bound listener and what serves it.
pub type KubernetesListener = crate::server::http_listener::HttpListener<KubeGateway>;

/// The listener, bound, when some connection is a Kubernetes one; `None` otherwise.
pub async fn prepare(
    setup: &Setup,
    parts: &ListenerParts<'_>,
) -> Result<Option<KubernetesListener>> {
    let config = &setup.config;
    let mut targets = HashMap::new();
    for connection in config.connections.iter().filter(|c| c.kind == KUBERNETES) {
        let target = match parts.agents_serving(connection)? {
            None => connection.kube_target(&config.base_dir, config.kubernetes.connect_timeout)?,
            Some(hub) => gatehouse_k8s_gateway::KubeTarget::through_agents(
                Arc::new(connection.info()),
                hub,
                connection.impersonation(),
            ),
        };
        targets.insert(connection.name.clone(), Arc::new(target));
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let masker = setup
        .masker(&gatehouse_mask::MaskConfig::default())
        .context("the masking of Kubernetes answers")?;
    let masking = gatehouse_k8s_gateway::KubeMasking::new(Arc::new(masker))
        .map_err(|error| anyhow::anyhow!("the masking of Kubernetes answers: {error}"))?;
    let services = parts.session_services();
    let gateway = KubeGateway {
        masking,
        pipeline: services.pipeline,
        authenticator: services.authenticator,
        targets,
        live: services.live,
        limits: KubeLimits {
            max_body_bytes: config.kubernetes.max_body_bytes,
            approval_wait: config
                .kubernetes
                .wait_for_approval
                .then_some(config.approvals.wait),
            ..KubeLimits::default()
        },
        shutdown: services.shutdown,
    };
    let listener = KubernetesListener::bind(
        config.kubernetes.listen,
        "kubernetes",
        parts.server_tls,
        gateway,
        config.kubernetes.limits(),
    )
    .await?;
    Ok(Some(listener))
}
