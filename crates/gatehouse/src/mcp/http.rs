//! The MCP tools over Streamable HTTP at `/mcp` on the admin listener, for agent runtimes that
//! reach tools over the network. Every request must carry a valid gatehouse token as
//! `Authorization: Bearer <token>` (401 otherwise, before any MCP processing); each tool call
//! then runs as that token's identity, through the gateway's own PostgreSQL listener, so
//! policy, masking and audit apply exactly as on stdio or psql.

use super::agent::Base;
use super::server::GatehouseMcp;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use gatehouse_core::SecretString;
use gatehouse_pipeline::Authenticator;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;
use tokio::sync::watch;

/// The `/mcp` route, ready to merge into the admin router.
/// Open MCP sessions (and their event streams) end when `shutdown` turns true, so that they
/// do not hold up the admin listener's graceful shutdown.
pub(crate) fn routes(base: Arc<Base>, mut shutdown: watch::Receiver<bool>) -> Router {
    // Every request is authenticated with a bearer token before rmcp sees it, which is what
    // the Host check guards unauthenticated local servers against (DNS rebinding); keep it
    // off so that a non-loopback admin listener serves agents by its real name.
    let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    let sessions_end = config.cancellation_token.clone();
    tokio::spawn(async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
        sessions_end.cancel();
    });
    let factory_base = Arc::clone(&base);
    let service = StreamableHttpService::new(
        move || Ok(GatehouseMcp::http(Arc::clone(&factory_base))),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new()
        .nest_service("/mcp", service)
        .route_layer(middleware::from_fn_with_state(base, require_token))
}

/// The token of `Authorization: Bearer <token>`, if there is one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Refuse requests without a valid gatehouse token with 401.
async fn require_token(State(base): State<Arc<Base>>, request: Request, next: Next) -> Response {
    let Some(token) = bearer(request.headers()) else {
        return unauthorized(
            "no gatehouse token: send `Authorization: Bearer <token>` (create one with `gatehouse keys create`)",
        );
    };
    let Some(store) = &base.store else {
        return unauthorized("this gateway has no store to verify tokens with");
    };
    match store.authenticate(&SecretString::new(token)).await {
        Ok(_) => next.run(request).await,
        Err(error) => {
            if let Some(audit) = &base.audit {
                crate::server::refused_token::record(audit, "/mcp", &error.to_string()).await;
            }
            unauthorized(&format!(
                "the gatehouse token was refused ({error}); it may be revoked or expired"
            ))
        }
    }
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"gatehouse\"")],
        axum::Json(serde_json::json!({"error": message, "code": "unauthenticated"})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::bearer;
    use axum::http::{HeaderMap, HeaderValue, header};

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(authorization) {
            headers.insert(header::AUTHORIZATION, value);
        }
        headers
    }

    #[test]
    fn only_a_bearer_token_is_taken() {
        assert_eq!(bearer(&headers("Bearer gh_x_y")).as_deref(), Some("gh_x_y"));
        assert_eq!(
            bearer(&headers("bearer  gh_x_y ")).as_deref(),
            Some("gh_x_y")
        );
        assert_eq!(bearer(&headers("Basic gh_x_y")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
