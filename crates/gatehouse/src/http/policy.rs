//! `POST /v1/policy/reload` on the admin listener: reload the policy files into the running
//! gateway, for `gatehouse policy reload` and for deployment tooling. The caller is the holder
//! of a gatehouse token (`Authorization: Bearer`) in one of `[admin] groups`; the reload is
//! recorded as caused by them. 200 with the version in force when the new set is in force;
//! 422 with the validation errors when it was refused and the old set stays.

use crate::http::approvals::{ApiError, ApiState, bearer_caller};
use crate::server::policy_reload::{PolicyReloader, ReloadRefused};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_pipeline::AuditIdentity;
use std::sync::Arc;

/// What the reload endpoint needs.
#[derive(Clone)]
pub struct PolicyApi {
    pub api: ApiState,
    pub reloader: Arc<PolicyReloader>,
    /// Groups whose members may reload (`[admin] groups`).
    pub admin_groups: Vec<String>,
}

pub fn routes(state: PolicyApi) -> Router {
    Router::new()
        .route("/v1/policy/reload", post(reload))
        .with_state(state)
}

async fn reload(State(state): State<PolicyApi>, headers: HeaderMap) -> Response {
    let caller = match bearer_caller(&state.api, &headers, "/v1/policy/reload").await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    if !caller
        .groups
        .iter()
        .any(|group| state.admin_groups.contains(group))
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "not_admin",
            format!(
                "`{}` is in none of the admin groups ({}), whose members may reload the policy; \
                 use an admin's token (`gatehouse keys create --identity YOU --groups {}`) or send \
                 the gateway's process SIGHUP on its machine",
                caller.subject,
                state.admin_groups.join(", "),
                state.admin_groups.first().map_or("admins", String::as_str),
            ),
        )
        .into_response();
    }
    let by = AuditIdentity {
        subject: caller.subject.clone(),
        kind: caller.kind.as_str().to_owned(),
        groups: caller.groups.clone(),
    };
    match state.reloader.reload(by, "admin API").await {
        Ok(reloaded) => (StatusCode::OK, Json(reloaded)).into_response(),
        Err(refused @ ReloadRefused::Invalid { .. }) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy",
            refused.to_string(),
        )
        .into_response(),
        Err(refused @ ReloadRefused::InvalidConfiguration { .. }) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_configuration",
            refused.to_string(),
        )
        .into_response(),
        Err(refused @ ReloadRefused::Unrecorded(_)) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            refused.to_string(),
        )
        .into_response(),
    }
}
