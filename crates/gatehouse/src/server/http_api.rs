//! The HTTP API listener `gatehouse serve` opens when a connection is `kind = "http"`: the
//! adapter's gateway built from the configuration (each connection's upstream, credential and
//! answer shaping; for a connection served by agents, the agent hub as its upstream), TLS with
//! the gateway's certificate offering HTTP/2 and HTTP/1.1.

use crate::config::http::HTTP;
use crate::config::setup::Setup;
use crate::server::http_listener::ListenerParts;
use anyhow::{Context, Result};
use gatehouse_httpapi_gateway::{HttpApiGateway, HttpApiLimits};
use std::collections::HashMap;
use std::sync::Arc;

/// The bound listener and what serves it.
pub type HttpApiListener = crate::server::http_listener::HttpListener<HttpApiGateway>;

/// The listener, bound, when some connection is an HTTP one; `None` otherwise.
pub async fn prepare(setup: &Setup, parts: &ListenerParts<'_>) -> Result<Option<HttpApiListener>> {
    let config = &setup.config;
    let mut targets = HashMap::new();
    for connection in config.connections.iter().filter(|c| c.kind == HTTP) {
        let target = match parts.agents_serving(connection)? {
            None => connection.http_target(&config.base_dir, config.http.connect_timeout)?,
            Some(hub) => connection.http_target_through_agents(hub)?,
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
        services: parts.session_services(),
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
        parts.server_tls,
        gateway,
        config.http.limits(),
    )
    .await?;
    Ok(Some(listener))
}
