//! The admin HTTP listener: liveness (`/healthz`) and Prometheus metrics (`/metrics`).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub async fn serve(
    listener: TcpListener,
    metrics: PrometheusHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Router::new().route("/healthz", get(healthz)).route(
        "/metrics",
        get(move || {
            let body = metrics.render();
            async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
        }),
    );
    let stop = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(%error, "admin HTTP listener failed");
    }
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}
