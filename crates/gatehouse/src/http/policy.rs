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
use gatehouse_core::Identity;
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

/// The refusal for a caller in none of `admin_groups` (`[admin] groups`), whose members may
/// `what` (operator actions on the running gateway: reloading its policy, killing sessions).
pub(crate) fn refuse_non_admin(
    caller: &Identity,
    admin_groups: &[String],
    what: &str,
) -> Option<ApiError> {
    if caller
        .groups
        .iter()
        .any(|group| admin_groups.contains(group))
    {
        return None;
    }
    Some(ApiError::new(
        StatusCode::FORBIDDEN,
        "not_admin",
        format!(
            "`{}` is in none of the admin groups ({}), whose members may {what}; \
             use an admin's token (`gatehouse keys create --identity YOU --groups {}`){}",
            caller.subject,
            admin_groups.join(", "),
            admin_groups.first().map_or("admins", String::as_str),
            if what == "reload the policy" {
                " or send the gateway's process SIGHUP on its machine"
            } else {
                ""
            },
        ),
    ))
}

async fn reload(State(state): State<PolicyApi>, headers: HeaderMap) -> Response {
    let caller = match bearer_caller(&state.api, &headers, "/v1/policy/reload").await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    if let Some(refused) = refuse_non_admin(&caller, &state.admin_groups, "reload the policy") {
        return refused.into_response();
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
