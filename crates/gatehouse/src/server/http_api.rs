//! The HTTP API listener `gatehouse serve` opens when a connection is `kind = "http"`: the
//! adapter's gateway built from the configuration (each connection's upstream, credential and
//! answer shaping; for a connection served by agents, the agent hub as its upstream), TLS with
//! the gateway's certificate offering HTTP/2 and HTTP/1.1.

use crate::config::http::HTTP;
use crate::config::setup::Setup;
use anyhow::{Context, Result};
use gatehouse_httpapi_gateway::{HttpApiGateway, HttpApiLimits};
use gatehouse_pipeline::Pipeline;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;

/// The bound listener and what serves it.
pub type HttpApiListener = crate::server::http_listener::HttpListener<HttpApiGateway>;

/// The listener, bound, when some connection is an HTTP one; `None` otherwise.
pub async fn prepare(
    setup: &Setup,
    pipeline: Pipeline,
    store: &gatehouse_store::Store,
    live: Arc<gatehouse_session::LiveSessions>,
    server_tls: &Arc<rustls::ServerConfig>,
    shutdown: watch::Receiver<bool>,
    agents: Option<Arc<gatehouse_tunnel::AgentHub>>,
) -> Result<Option<HttpApiListener>> {
    let config = &setup.config;
    let mut targets = HashMap::new();
    for connection in config.connections.iter().filter(|c| c.kind == HTTP) {
        let target = match (&agents, connection.agents.is_empty()) {
            (_, true) => connection.http_target(&config.base_dir, config.http.connect_timeout)?,
            (Some(hub), false) => connection.http_target_through_agents(hub.clone())?,
            (None, false) => anyhow::bail!(
                "connection `{}` names agents but the agent listener is not running",
                connection.name
            ),
        };
        targets.insert(connection.name.clone(), Arc::new(target));
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let masker = setup
        .masker(&gatehouse_mask::MaskConfig::default())
        .context("the masking of HTTP API answers")?;
    let host = config.http.host.trim().to_ascii_lowercase();
    let gateway = HttpApiGateway {
        services: gatehouse_session::SessionServices {
            pipeline,
            authenticator: Arc::new(store.clone()),
            live,
            shutdown,
        },
        targets,
        limits: HttpApiLimits {
            max_body_bytes: config.http.max_body_bytes,
            json_body_limit: config.http.json_body_limit,
            approval_wait: config
                .http
                .wait_for_approval
                .then_some(config.approvals.wait),
            ..HttpApiLimits::default()
        },
        masker: Arc::new(masker),
        host: (!host.is_empty()).then_some(host),
    };
    let listener = HttpApiListener::bind(
        config.http.listen,
        "http",
        server_tls,
        gateway,
        config.http.limits(),
    )
    .await?;
    Ok(Some(listener))
}
