//! The reviewer HTTP API on the admin listener: `/v1/approvals` to list and show approvals,
//! and to approve or deny one, for chat bots, web UIs and reviewers on other machines than
//! the gateway's.
//!
//! It exists beside `gatehouse approvals` (which needs the store's files) and shares its one
//! code path ([`crate::server::reviews::store_review`]): the caller is the holder of the
//! gatehouse token sent as `Authorization: Bearer`, verified by the store exactly as the CLI
//! and the data path verify it, the store's rules decide (not the requester, in the
//! approving group, once per reviewer, a reason to deny), and every review is recorded in
//! the audit log as the same `approval:approve` / `approval:deny` event, caused by the
//! reviewer, before the API answers. Every answer is JSON; refusals say what to do.
//!
//! A caller sees the approvals it may review (it is in the approving group) and the ones it
//! asked for (so an agent can follow its own request); others are refused with 403.

use crate::server::reviews::{
    CheckpointAfter, ReviewFailure, ReviewRequest, append_expiries, approval_json,
    expiry_unrecorded, store_review,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_core::{Identity, SecretString};
use gatehouse_pipeline::{ApprovalRecord, AuthError, Authenticated, Authenticator, now_unix_ms};
use gatehouse_store::{AuditLog, ReviewVerdict, Store, StoreError};
use serde::Deserialize;
use std::net::SocketAddr;

/// Largest request body accepted (a review's JSON is a reason of a few lines).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the API handlers share: the gateway's store and its audit log.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub audit: AuditLog,
}

/// The `/v1/approvals` routes, ready to merge into the admin router.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/v1/approvals", get(list))
        .route("/v1/approvals/{id}", get(show))
        .route("/v1/approvals/{id}/approve", post(approve))
        .route("/v1/approvals/{id}/deny", post(deny))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A refusal or failure: its status and a JSON body `{"error": "...", "code": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "code": self.code });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
        }
        response
    }
}

/// A JSON answer for unknown paths under the admin listener.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_endpoint",
        "no such endpoint; the reviewer API is GET /v1/approvals[?pending=true], \
         GET /v1/approvals/ID, POST /v1/approvals/ID/approve, POST /v1/approvals/ID/deny",
    )
}

/// How to get a token, for every 401.
const TOKEN_HINT: &str = "send your own gatehouse token as `Authorization: Bearer <token>`; \
     create one with `gatehouse keys create --identity YOU --groups GROUP`";

/// The caller of `/v1/approvals`, from `Authorization: Bearer <token>`, verified by the store.
async fn caller(state: &ApiState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    bearer_caller(state, headers, "/v1/approvals").await
}

/// The caller of an admin API `endpoint`, from `Authorization: Bearer <token>`, verified by
/// the store like the CLI's and the data path's; a refused token is recorded.
pub(crate) async fn bearer_caller(
    state: &ApiState,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<Identity, ApiError> {
    bearer_credential(state, headers, endpoint)
        .await
        .map(|accepted| accepted.identity)
}

/// Like [`bearer_caller`], with the credential the caller presented (its id and expiry), for
/// endpoints that issue something bound to it.
pub(crate) async fn bearer_credential(
    state: &ApiState,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<Authenticated, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("no token: {TOKEN_HINT}"),
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("the Authorization header is not `Bearer <token>`: {TOKEN_HINT}"),
        ));
    };
    let verified = state
        .store
        .authenticate_credential(&SecretString::new(token))
        .await;
    if let Err(refused) = &verified
        && !matches!(refused, AuthError::StoreUnavailable(_))
    {
        crate::server::refused_token::record(&state.audit, endpoint, &refused.to_string()).await;
    }
    verified.map_err(|error| match error {
        AuthError::StoreUnavailable(reason) => {
            tracing::error!(%reason, endpoint, "admin API: cannot check a token against the store");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "cannot check your token against the store right now; try again shortly",
            )
        }
        refused => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token_refused",
            format!("your token was refused ({refused}); {TOKEN_HINT}"),
        ),
    })
}

/// Whether `caller` may see `record`: it reviews for the approving group, or it is on the
/// requesting side (asked, or is acted for).
fn visible(record: &ApprovalRecord, caller: &Identity) -> bool {
    let binding = &record.binding;
    let requesters: Vec<&str> = std::iter::once(binding.subject.as_str())
        .chain(binding.acting_for.iter().map(String::as_str))
        .collect();
    caller.groups.contains(&record.need.group)
        || std::iter::once(caller.subject.as_str())
            .chain(caller.acting_for.iter().map(String::as_str))
            .any(|name| requesters.contains(&name))
}

fn not_visible(record: &ApprovalRecord, caller: &Identity) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_approver",
        format!(
            "`{}` is not in group `{}`, whose members review approval `{}`, and did not ask \
             for it; use a key of yours that has the group (`gatehouse keys create --identity \
             {} --groups {}`)",
            caller.subject, record.need.group, record.id, caller.subject, record.need.group
        ),
    )
}

fn no_such_approval(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_approval",
        format!("no approval with id `{id}`; GET /v1/approvals lists the ones you can review"),
    )
}

fn store_failed(error: StoreError) -> ApiError {
    tracing::error!(%error, "approvals API: the store failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store_failed",
        "the store failed; nothing changed. Try again, and see the gateway's log if it persists",
    )
}

/// `?pending=true`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    pending: bool,
}

/// `GET /v1/approvals[?pending=true]`: the approvals the caller may see, newest first, each
/// in its state as of now. Expiries the listing stores are recorded in the audit log.
async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers).await?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!(
                "{}; the only parameter is `pending=true`",
                rejection.body_text()
            ),
        )
    })?;
    let now = now_unix_ms();
    let listed = state
        .store
        .list_approvals(query.pending, now)
        .await
        .map_err(store_failed)?;
    if !listed.expired.is_empty() {
        append_expiries(
            &state.audit,
            &listed.expired,
            Some(&caller),
            CheckpointAfter::Periodic,
        )
        .await
        .map_err(|error| {
            tracing::error!(error = %format!("{error:#}"), "approvals API: {}", expiry_unrecorded(&listed.expired));
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "audit_failed",
                format!("{}; see the gateway's log", expiry_unrecorded(&listed.expired)),
            )
        })?;
    }
    let items: Vec<serde_json::Value> = listed
        .approvals
        .iter()
        .filter(|record| visible(record, &caller))
        .map(|record| approval_json(record, now))
        .collect();
    Ok(axum::Json(serde_json::Value::from(items)).into_response())
}

/// `GET /v1/approvals/{id}`: one approval, in its state as of now.
async fn show(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers).await?;
    let record = state
        .store
        .approval(&id)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| no_such_approval(&id))?;
    if !visible(&record, &caller) {
        return Err(not_visible(&record, &caller));
    }
    Ok(axum::Json(approval_json(&record, now_unix_ms())).into_response())
}

/// The body of a review: `{"reason": "..."}` (optional to approve, required to deny).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    reason: Option<String>,
}

/// `POST /v1/approvals/{id}/approve`, body `{"reason": "..."}` optional.
async fn approve(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    review(&state, peer, &id, &headers, body, ReviewVerdict::Approve).await
}

/// `POST /v1/approvals/{id}/deny`, body `{"reason": "..."}` required.
async fn deny(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    review(&state, peer, &id, &headers, body, ReviewVerdict::Deny).await
}

async fn review(
    state: &ApiState,
    peer: SocketAddr,
    id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    verdict: ReviewVerdict,
) -> Result<Response, ApiError> {
    let reviewer = caller(state, headers).await?;
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!(
                "the body is larger than {MAX_BODY_BYTES} bytes; send only {{\"reason\": \"...\"}}"
            )
        } else {
            format!("cannot read the body: {}", rejection.body_text())
        };
        ApiError::new(status, "bad_body", message)
    })?;
    let parsed: ReviewBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReviewBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                format!("the body is not {{\"reason\": \"...\"}}: {error}"),
            )
        })?
    };
    let reason = parsed
        .reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    if verdict == ReviewVerdict::Deny && reason.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason_required",
            format!(
                "denying approval `{id}` needs a reason, which the requester sees; send \
                 {{\"reason\": \"...\"}}"
            ),
        ));
    }
    let record = store_review(
        &state.store,
        &state.audit,
        &reviewer,
        ReviewRequest {
            id,
            verdict,
            reason,
            source_address: Some(peer.ip().to_string()),
        },
        CheckpointAfter::Periodic,
    )
    .await
    .map_err(|failure| match failure {
        ReviewFailure::Refused(error) => refusal(error),
        ReviewFailure::Unrecorded(error) => {
            let message = format!("{error:#}");
            tracing::error!(approval = %id, reviewer = %reviewer.subject, "approvals API: {message}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "audit_failed", message)
        }
    })?;
    tracing::info!(
        approval = %record.id,
        reviewer = %reviewer.subject,
        state = record.state.as_str(),
        source = %peer.ip(),
        "approval {} through the HTTP API",
        match verdict {
            ReviewVerdict::Approve => "approved",
            ReviewVerdict::Deny => "denied",
        }
    );
    Ok(axum::Json(approval_json(&record, now_unix_ms())).into_response())
}

/// The store's refusal of a review as a status and what to do.
fn refusal(error: StoreError) -> ApiError {
    let (status, code) = match &error {
        StoreError::NoSuchApproval(id) => return no_such_approval(id),
        StoreError::ReasonRequired(id) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reason_required",
                format!(
                    "denying approval `{id}` needs a reason, which the requester sees; send \
                     {{\"reason\": \"...\"}}"
                ),
            );
        }
        StoreError::SelfReview { .. } => (StatusCode::FORBIDDEN, "self_review"),
        StoreError::NotApprover { .. } => (StatusCode::FORBIDDEN, "not_approver"),
        StoreError::ApprovalClosed { .. } => (StatusCode::CONFLICT, "not_pending"),
        StoreError::AlreadyApproved { .. } => (StatusCode::CONFLICT, "already_approved"),
        StoreError::ReviewContended(_) => (StatusCode::CONFLICT, "contended"),
        _ => return store_failed(error),
    };
    ApiError::new(status, code, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::visible;
    use gatehouse_core::Identity;
    use gatehouse_pipeline::{ApprovalBinding, ApprovalNeed, ApprovalRecord, ApprovalState};

    fn record() -> ApprovalRecord {
        ApprovalRecord {
            id: "ap-0000000000000001".into(),
            state: ApprovalState::Pending,
            binding: ApprovalBinding {
                subject: "agent-7".into(),
                acting_for: vec!["ana".into()],
                connection: "demo".into(),
                action: "sql:delete".into(),
                request: "DELETE FROM t".into(),
                fingerprint: "fp".into(),
                policy_version: "v".into(),
                context: None,
            },
            need: ApprovalNeed {
                policy: "p".into(),
                group: "admins".into(),
                required: 1,
                ttl_seconds: 60,
            },
            requester_kind: "machine".into(),
            requester_groups: vec![],
            session: None,
            created_unix_ms: 0,
            expires_unix_ms: 1,
            updated_unix_ms: 0,
            reviews: vec![],
        }
    }

    #[test]
    fn reviewers_and_requesters_see_an_approval_others_do_not() {
        let record = record();
        let who = |subject: &str, groups: &[&str]| {
            Identity::new(
                subject.to_owned(),
                gatehouse_core::IdentityKind::Human,
                groups.iter().map(|g| (*g).to_owned()).collect(),
            )
        };
        assert!(visible(&record, &who("ada", &["admins"])));
        assert!(visible(&record, &who("agent-7", &[])));
        assert!(visible(&record, &who("ana", &["readers"])));
        assert!(!visible(&record, &who("rita", &["readers"])));
    }
}
