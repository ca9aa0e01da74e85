//! `POST /v1/sessions/{id}/kill` on the admin listener: end one live session now, for
//! `gatehouse sessions kill ID` and incident tooling. Only the running gateway knows its live
//! sessions, so this is an admin API call rather than a store write. The caller is the holder
//! of a gatehouse token (`Authorization: Bearer`) in one of `[admin] groups`, as for the policy
//! reload. The session ends as a revocation ends one (its client told why in its protocol:
//! "ended by CALLER: REASON"), and the kill is recorded (fsynced) as a `session_kill` audit
//! event naming who killed which session and why. 200 when the session was ended; 404 when no
//! live session has that id.

use crate::http::approvals::{ApiError, ApiState, bearer_caller};
use crate::http::policy::refuse_non_admin;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_core::DecisionKind;
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, Durability};
use gatehouse_session::LiveSessions;
use serde::Deserialize;
use std::sync::Arc;

/// Longest reason accepted, in characters (it is sent to the client and audited).
const MAX_REASON: usize = 500;
/// Longest session id accepted (ids are `s-` and 16 hex characters).
const MAX_ID: usize = 64;

/// What the kill endpoint needs.
#[derive(Clone)]
pub struct SessionsApi {
    pub api: ApiState,
    pub live: Arc<LiveSessions>,
    /// Groups whose members may kill sessions (`[admin] groups`).
    pub admin_groups: Vec<String>,
}

pub fn routes(state: SessionsApi) -> Router {
    Router::new()
        .route("/v1/sessions/{id}/kill", post(kill))
        .with_state(state)
}

/// The optional body: why the session is ended.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillRequest {
    #[serde(default)]
    reason: Option<String>,
}

async fn kill(
    State(state): State<SessionsApi>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let caller = match bearer_caller(&state.api, &headers, "/v1/sessions/kill").await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    if let Some(refused) = refuse_non_admin(&caller, &state.admin_groups, "kill sessions") {
        return refused.into_response();
    }
    let request: KillRequest = if body.is_empty() {
        KillRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(error) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the body must be `{{\"reason\": \"...\"}}` or empty: {error}"),
                )
                .into_response();
            }
        }
    };
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|reason| !reason.is_empty());
    if let Some(reason) = reason
        && (reason.chars().count() > MAX_REASON || reason.chars().any(char::is_control))
    {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_reason",
            format!("the reason must be one line of at most {MAX_REASON} characters"),
        )
        .into_response();
    }
    if id.len() > MAX_ID || id.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '-')) {
        return not_live(&id);
    }
    let told = match reason {
        Some(reason) => format!("ended by {}: {reason}", caller.subject),
        None => format!("ended by {}", caller.subject),
    };
    if !state.live.end_session(&id, &told) {
        return not_live(&id);
    }
    let by = AuditIdentity {
        subject: caller.subject.clone(),
        kind: caller.kind.as_str().to_owned(),
        groups: caller.groups.clone(),
    };
    let mut event = AuditEvent::administrative(
        AuditEventKind::SessionKill,
        by,
        "session:kill",
        DecisionKind::Allow,
        Some(format!("killed session `{id}`: {told}")),
    );
    event.session = Some(id.clone());
    tracing::info!(session = %id, by = %caller.subject, reason = %told, "session killed by an operator");
    if let Err(error) = state.api.audit.append(&[event], Durability::Synced).await {
        // The session stays ended: ending access is the safe side of a failed record.
        tracing::error!(session = %id, %error, "a session kill could not be recorded in the audit log");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            format!(
                "session `{id}` was ended, but the kill could not be recorded in the audit log: {error}"
            ),
        )
        .into_response();
    }
    (
        StatusCode::OK,
        Json(serde_json::json!({
            "session": id,
            "killed": true,
            "reason": told,
        })),
    )
        .into_response()
}

fn not_live(id: &str) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_session",
        format!(
            "no live session `{id}` on this gateway (it may have ended already); \
             `gatehouse sessions list` shows recorded sessions, running ones without an end"
        ),
    )
    .into_response()
}
