//! The admin HTTP listener: liveness (`/healthz`), Prometheus metrics (`/metrics`) and the
//! reviewer API (`/v1/approvals`, see [`crate::http::approvals`]) and the MCP tools for AI agents
//! (`/mcp`, see [`crate::mcp`]), token exchange (`POST /v1/token`, see
//! [`crate::http::token`]) and the login metadata people's CLIs read (`GET /v1/login`, see
//! [`crate::http::login`]) and the policy reload (`POST /v1/policy/reload`, see
//! [`crate::http::policy`]) and session kills (`POST /v1/sessions/{id}/kill`, see
//! [`crate::http::sessions`]) and SSH certificates (`/v1/ssh`, see [`crate::http::ssh`]).

use crate::http::approvals::ApiState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn serve(
    listener: TcpListener,
    metrics: PrometheusHandle,
    approvals: ApiState,
    mcp: Router,
    token_exchange: Router,
    policy: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Ok(addr) = listener.local_addr()
        && !addr.ip().is_loopback()
    {
        tracing::warn!(
            "the admin listener {addr} is not on a loopback address and speaks plain HTTP: \
             reviewers' tokens sent to /v1/approvals cross the network unencrypted; put it \
             behind a TLS-terminating proxy, or listen on 127.0.0.1"
        );
    }
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/metrics",
            get(move || {
                let body = metrics.render();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
            }),
        )
        .merge(crate::http::approvals::routes(approvals))
        .merge(mcp)
        .merge(token_exchange)
        .merge(policy)
        .fallback(crate::http::approvals::not_found);
    let stop = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(error) = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await
    {
        tracing::error!(%error, "admin HTTP listener failed");
    }
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}
