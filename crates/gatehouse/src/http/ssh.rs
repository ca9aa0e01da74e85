//! `GET /v1/ssh` and `POST /v1/ssh/certificate` on the admin listener, for `gatehouse ssh-cert`
//! and `gatehouse ssh-config`: OpenSSH logs in with no prompt only with a key it holds, so the
//! holder of a gatehouse token trades it here for a short-lived OpenSSH user certificate signed
//! by gatehouse's user CA, naming their identity and bound to the credential they presented
//! (the SSH listener checks that credential again at every login, so revoking it refuses the
//! certificate too). The certificate ends when the token does, or after `[ssh]
//! certificate_validity`, whichever comes first. Every issuance is an audit event (identity,
//! key fingerprint, validity; never the token), fsynced before the certificate is returned.
//!
//! `GET /v1/ssh` says where the SSH listener is, its host key (what clients pin), the user
//! CA's public key and the SSH connections the caller's policy lets it `connect` to.

use crate::http::approvals::{ApiError, ApiState, bearer_credential};
use crate::server::ssh::SshIssuer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_core::{Action, DecisionKind};
use gatehouse_pipeline::{
    AuditEvent, AuditEventKind, AuditIdentity, Authenticated, Durability, now_unix_ms, rfc3339,
};
use gatehouse_policy::PolicyRequest;
use gatehouse_ssh_gateway::keys::{parse_public_key, public_key_line};
use russh::keys::ssh_key::HashAlg;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest request body (one public key line; RSA keys of 16384 bits fit).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the `/v1/ssh` endpoints need: the store (callers' tokens) and the SSH listener's
/// issuer, `None` when no connection is `kind = "ssh"`.
#[derive(Clone)]
pub struct SshApi {
    pub api: ApiState,
    pub issuer: Option<Arc<SshIssuer>>,
}

pub fn routes(state: SshApi) -> Router {
    Router::new()
        .route("/v1/ssh", get(describe))
        .route("/v1/ssh/certificate", post(certificate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The issuer, or why there is none.
fn issuer(state: &SshApi) -> Result<&SshIssuer, ApiError> {
    state.issuer.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_ssh",
            "this gateway has no SSH connection (no [[connections]] entry with `kind = \"ssh\"`), \
             so it has no SSH listener and issues no SSH certificates",
        )
    })
}

/// `GET /v1/ssh`.
async fn describe(State(state): State<SshApi>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = bearer_credential(&state.api, &headers, "/v1/ssh").await?;
    let issuer = issuer(&state)?;
    let policy = issuer.pipeline.policy();
    let now_ms = now_unix_ms();
    let mut connections = Vec::new();
    for connection in &issuer.connections {
        let identity = issuer
            .pipeline
            .identity_with_grants(&caller.identity, &connection.name)
            .await;
        let verdict = policy.decide(&PolicyRequest {
            identity: &identity,
            connection,
            action: &Action::Connect,
            source_address: None,
            now_unix_seconds: now_ms / 1000,
        });
        if verdict.allowed {
            connections.push(connection.name.clone());
        }
    }
    Ok(axum::Json(serde_json::json!({
        "listen": issuer.listen.to_string(),
        "host_key": public_key_line(&issuer.host_key),
        "user_ca": public_key_line(issuer.logins.authority()),
        "connections": connections,
        "identity": caller.identity.subject,
    }))
    .into_response())
}

/// The body of `POST /v1/ssh/certificate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateRequest {
    public_key: String,
}

/// `POST /v1/ssh/certificate`, body `{"public_key": "ssh-ed25519 AAAA..."}`.
async fn certificate(
    State(state): State<SshApi>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let accepted = bearer_credential(&state.api, &headers, "/v1/ssh/certificate").await?;
    let issuer = issuer(&state)?;
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "bad_body",
            format!(
                "cannot read the body ({}); send {{\"public_key\": \"ssh-ed25519 AAAA...\"}}",
                rejection.body_text()
            ),
        )
    })?;
    let request: CertificateRequest = serde_json::from_slice(&body).map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_body",
            format!("the body is not {{\"public_key\": \"ssh-ed25519 AAAA...\"}}: {error}"),
        )
    })?;
    let public_key = parse_public_key(&request.public_key).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_public_key",
            "`public_key` is not an OpenSSH public key line (`ssh-ed25519 AAAA...`, as in a \
             .pub file); `gatehouse ssh-cert` makes one for you",
        )
    })?;
    let certificate = issuer
        .logins
        .issue(&accepted, &public_key, issuer.longest)
        .map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "cannot_issue",
                format!("no certificate issued: {error}"),
            )
        })?;
    let fingerprint = public_key.fingerprint(HashAlg::Sha256).to_string();
    let valid_after = seconds(certificate.valid_after());
    let valid_before = seconds(certificate.valid_before());
    let detail = format!(
        "issued SSH user certificate `{}` (serial {}) for key {fingerprint}, valid {} to {}, \
         principal `{}`",
        certificate.key_id(),
        certificate.serial(),
        rfc3339(valid_after.saturating_mul(1000)),
        rfc3339(valid_before.saturating_mul(1000)),
        accepted.identity.subject,
    );
    let event = issued_event(&accepted, peer, detail);
    if let Err(error) = state.api.audit.append(&[event], Durability::Synced).await {
        tracing::error!(%error, "SSH certificate not issued: its audit event could not be recorded");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "the gateway cannot record the issuance in its audit log right now, so it issues \
             no certificate; try again shortly",
        ));
    }
    let line = certificate
        .to_openssh()
        .map_err(|error| {
            tracing::error!(%error, "an issued SSH certificate could not be encoded");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot_issue",
                "the certificate could not be encoded; see the gateway's log",
            )
        })?
        .trim_end()
        .to_owned();
    tracing::info!(
        identity = %accepted.identity.subject,
        key = %fingerprint,
        source = %peer.ip(),
        "issued an SSH certificate"
    );
    Ok(axum::Json(serde_json::json!({
        "certificate": line,
        "key_id": certificate.key_id(),
        "serial": certificate.serial(),
        "principal": accepted.identity.subject,
        "fingerprint": fingerprint,
        "valid_after": rfc3339(valid_after.saturating_mul(1000)),
        "valid_before": rfc3339(valid_before.saturating_mul(1000)),
        "valid_before_unix": valid_before,
        "user_ca": public_key_line(issuer.logins.authority()),
    }))
    .into_response())
}

fn seconds(unix: u64) -> i64 {
    i64::try_from(unix).unwrap_or(i64::MAX / 1000)
}

/// The audit event of an issued certificate: who, from where, which key, how long.
fn issued_event(accepted: &Authenticated, source: SocketAddr, detail: String) -> AuditEvent {
    let identity = &accepted.identity;
    let who = AuditIdentity {
        subject: identity.subject.clone(),
        kind: identity.kind.as_str().to_owned(),
        groups: identity.groups.clone(),
    };
    AuditEvent {
        acting_for: identity.acting_for.clone(),
        source_address: Some(source.to_string()),
        ..AuditEvent::administrative(
            AuditEventKind::KeyChange,
            who,
            "ssh_certificate:issue",
            DecisionKind::Allow,
            Some(detail),
        )
    }
}
