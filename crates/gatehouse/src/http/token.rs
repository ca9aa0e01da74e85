//! `POST /v1/token` on the admin listener: OAuth 2.0 token exchange (RFC 8693) of a workload's
//! JWT — a CI job's OIDC token, a cloud workload identity, a client-credentials access token
//! from a configured `[[identity_providers]]` entry of kind `workload` — or of a person's OpenID
//! Connect ID token from a provider of kind `human` (what `gatehouse login` sends after the
//! person signed in) for a short-lived gatehouse token, accepted as the PostgreSQL password and
//! as the APIs' bearer token. The identity is a machine for a workload provider's token and a
//! human for a human provider's, with the groups its token carries at the time of the exchange
//! (so a refresh picks up group changes at the IdP).
//!
//! An optional `actor_token` (from any configured provider) names who the workload acts for:
//! its subject becomes the identity's delegation chain (`acting_for`), carried in the token and
//! in every audit event of its sessions. Every exchange, granted or refused, is an audit event
//! (`key_change`, action `token:exchange`) with the reason and never the token; a granted one
//! is fsynced before the token is returned. Errors are RFC 6749 JSON
//! (`{"error": "invalid_grant", "error_description": "..."}`).

use crate::config::ProviderKind;
use crate::server::identity::{Providers, Refusal, Verified};
use crate::server::rate_limit::RateLimiter;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gatehouse_core::DecisionKind;
use gatehouse_core::{Identity, IdentityKind};
use gatehouse_identity::{TokenClaims, TokenSigner};
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, Durability, now_unix_ms};
use gatehouse_store::{AuditLog, Store};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Largest request body (two JWTs and a few parameters).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the endpoint needs.
#[derive(Clone)]
pub struct TokenApi {
    inner: Arc<Inner>,
}

struct Inner {
    providers: Arc<Providers>,
    signer: TokenSigner,
    audit: AuditLog,
    /// For the revoked-identity list (`gatehouse identities revoke`).
    store: Store,
    ttl: Duration,
    limiter: RateLimiter,
}

impl TokenApi {
    pub fn new(
        providers: Arc<Providers>,
        signer: TokenSigner,
        audit: AuditLog,
        store: Store,
        ttl: Duration,
        exchanges_per_minute: u32,
    ) -> Self {
        TokenApi {
            inner: Arc::new(Inner {
                providers,
                store,
                limiter: RateLimiter::new(exchanges_per_minute),
                signer,
                audit,
                ttl,
            }),
        }
    }
}

pub fn routes(api: TokenApi) -> Router {
    Router::new()
        .route("/v1/token", post(exchange))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// An RFC 6749 error answer.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn bad(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        no_store(&mut response);
        response
    }
}

fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// What a refused exchange is recorded with (unverified claims are labelled as such).
struct Attempt {
    source: SocketAddr,
    issuer: Option<String>,
    subject: Option<String>,
}

async fn exchange(
    State(api): State<TokenApi>,
    ConnectInfo(source): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(wait) = api.inner.limiter.take(source.ip()) {
        metrics::counter!("gatehouse_token_exchanges_rate_limited_total").increment(1);
        let seconds = wait.as_secs().saturating_add(1);
        let mut response = OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "slow_down",
            description: format!(
                "too many token exchanges from {}: retry in {seconds} s ([tokens] exchanges_per_minute)",
                source.ip()
            ),
        }
        .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&seconds.to_string()).unwrap_or(HeaderValue::from_static("60")),
        );
        return response;
    }
    let mut attempt = Attempt {
        source,
        issuer: None,
        subject: None,
    };
    match run(&api, &headers, &body, &mut attempt).await {
        Ok(response) => response,
        Err(error) => {
            let detail = format!(
                "refused ({}): {}{}",
                error.error,
                error.description,
                match (&attempt.issuer, &attempt.subject) {
                    (Some(iss), Some(sub)) =>
                        format!("; unverified claims: iss `{iss}`, sub `{sub}`"),
                    (Some(iss), None) => format!("; unverified claims: iss `{iss}`"),
                    _ => String::new(),
                }
            );
            tracing::info!(source = %source, "token exchange {detail}");
            let identity = Identity::new("anonymous", IdentityKind::Machine, Vec::new());
            let event = event(&identity, source, DecisionKind::Deny, detail);
            if let Err(reason) = api.inner.audit.append(&[event], Durability::Windowed).await {
                tracing::error!(%reason, "cannot record a refused token exchange in the audit log");
            }
            error.into_response()
        }
    }
}

async fn run(
    api: &TokenApi,
    headers: &HeaderMap,
    body: &[u8],
    attempt: &mut Attempt,
) -> Result<Response, OAuthError> {
    let params = form_parameters(headers, body)?;
    let request = ExchangeRequest::from_parameters(&params)?;
    if api.inner.providers.is_empty() {
        return Err(OAuthError::bad(
            "invalid_grant",
            "this gateway has no [[identity_providers]] configured, so it accepts no tokens for exchange",
        ));
    }
    note_unverified(request.subject_token, attempt);
    let subject = validate(api, request.subject_token, "subject_token").await?;
    let actor = match request.actor_token {
        None => None,
        Some(token) => Some(validate(api, token, "actor_token").await?),
    };
    let kind = match subject.kind {
        ProviderKind::Workload => IdentityKind::Machine,
        ProviderKind::Human => IdentityKind::Human,
    };
    let mut identity = Identity::new(subject.subject.clone(), kind, subject.groups.clone());
    if let Some(actor) = &actor {
        identity.acting_for = vec![actor.subject.clone()];
    }
    refuse_revoked(api, &identity).await?;
    issue(api, &identity, &subject, actor.as_ref(), attempt.source).await
}

/// The form body's parameters, each given once (RFC 8693 sends
/// `application/x-www-form-urlencoded`).
fn form_parameters(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthError> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if form_type.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::bad(
            "invalid_request",
            "send the parameters as an application/x-www-form-urlencoded body (RFC 8693)",
        ));
    }
    let mut params: HashMap<String, String> = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(OAuthError::bad(
                "invalid_request",
                format!("the parameter `{name}` is given more than once"),
            ));
        }
    }
    Ok(params)
}

/// A token exchange request as RFC 8693 shapes it, its parameters checked.
struct ExchangeRequest<'a> {
    subject_token: &'a str,
    actor_token: Option<&'a str>,
}

impl<'a> ExchangeRequest<'a> {
    fn from_parameters(params: &'a HashMap<String, String>) -> Result<Self, OAuthError> {
        let param = |name: &str| {
            params
                .get(name)
                .map(String::as_str)
                .filter(|v| !v.is_empty())
        };
        match param("grant_type") {
            Some(GRANT_TYPE) => {}
            None => {
                return Err(OAuthError::bad(
                    "invalid_request",
                    format!("`grant_type` is missing; use grant_type={GRANT_TYPE}"),
                ));
            }
            Some(_) => {
                return Err(OAuthError::bad(
                    "unsupported_grant_type",
                    format!("only token exchange is supported: grant_type={GRANT_TYPE}"),
                ));
            }
        }
        if let Some(requested) = param("requested_token_type")
            && requested != ACCESS_TOKEN_TYPE
        {
            return Err(OAuthError::bad(
                "invalid_request",
                format!(
                    "gatehouse issues only `{ACCESS_TOKEN_TYPE}`; omit requested_token_type or ask for that"
                ),
            ));
        }
        let subject_token = param("subject_token").ok_or_else(|| {
            OAuthError::bad(
                "invalid_request",
                "`subject_token` is missing: send the workload's JWT (e.g. the CI job's OIDC token) or a person's ID token",
            )
        })?;
        check_type(param("subject_token_type"), "subject_token_type")?;
        let actor_token = param("actor_token");
        if actor_token.is_some() {
            check_type(param("actor_token_type"), "actor_token_type")?;
        } else if param("actor_token_type").is_some() {
            return Err(OAuthError::bad(
                "invalid_request",
                "`actor_token_type` is given without `actor_token`",
            ));
        }
        Ok(ExchangeRequest {
            subject_token,
            actor_token,
        })
    }
}

/// `token` (the request's `which`) verified by a configured workload or human provider.
async fn validate(api: &TokenApi, token: &str, which: &str) -> Result<Verified, OAuthError> {
    api.inner
        .providers
        .validate(token, &[ProviderKind::Workload, ProviderKind::Human])
        .await
        .map_err(|r| refusal(which, r))
}

/// Refuse an identity revoked on this gateway (and fail closed when that cannot be read).
async fn refuse_revoked(api: &TokenApi, identity: &Identity) -> Result<(), OAuthError> {
    match api.inner.store.revoked_subject_of(identity).await {
        Ok(None) => Ok(()),
        Ok(Some(revoked)) => Err(OAuthError::bad(
            "invalid_grant",
            format!(
                "the identity `{revoked}` is revoked on this gateway (`gatehouse identities list`); no token is issued"
            ),
        )),
        Err(error) => {
            tracing::error!(%error, "cannot read the revoked identities; refusing the exchange");
            Err(OAuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "the gateway cannot check revocations right now; try again later"
                    .to_owned(),
            })
        }
    }
}

/// Sign a gatehouse token for `identity`, record the grant (fsynced) and only then hand the
/// token out.
async fn issue(
    api: &TokenApi,
    identity: &Identity,
    subject: &Verified,
    actor: Option<&Verified>,
    source: SocketAddr,
) -> Result<Response, OAuthError> {
    let now = now_unix_ms() / 1000;
    let ttl = i64::try_from(api.inner.ttl.as_secs()).unwrap_or(900);
    let claims = TokenClaims::new(identity, Some(subject.provider.clone()), now, ttl);
    let token = api.inner.signer.sign(&claims).map_err(|e| OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: e.to_string(),
    })?;
    let detail = granted_detail(subject, actor, &claims);
    // The grant is on disk before the token leaves: no token without its record.
    api.inner
        .audit
        .append(&[event(identity, source, DecisionKind::Allow, detail)], Durability::Synced)
        .await
        .map_err(|reason| {
            tracing::error!(%reason, "cannot record a token exchange; refusing it");
            OAuthError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                error: "temporarily_unavailable",
                description: "the audit log cannot record the exchange, so no token is issued; try again later".to_owned(),
            }
        })?;
    tracing::info!(subject = %identity.subject, provider = %subject.provider, jti = %claims.jti, "token exchange granted");
    let body = serde_json::json!({
        "access_token": token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": ttl,
    });
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    no_store(&mut response);
    Ok(response)
}

fn check_type(value: Option<&str>, name: &str) -> Result<(), OAuthError> {
    match value {
        Some(JWT_TYPE | ID_TOKEN_TYPE) => Ok(()),
        None => Err(OAuthError::bad(
            "invalid_request",
            format!("`{name}` is missing; use {name}={JWT_TYPE}"),
        )),
        Some(other) => Err(OAuthError::bad(
            "invalid_request",
            format!(
                "`{name}` `{other}` is not accepted; gatehouse exchanges JWTs: {name}={JWT_TYPE}"
            ),
        )),
    }
}

fn refusal(which: &str, refusal: Refusal) -> OAuthError {
    match refusal {
        Refusal::Invalid(error) => {
            OAuthError::bad("invalid_grant", format!("{which} refused: {error}"))
        }
        Refusal::Unavailable(reason) => OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: format!("{which} cannot be checked now: {reason}; try again later"),
        },
    }
}

/// Remember the token's unverified `iss` and `sub`, to say in the audit log who tried.
fn note_unverified(token: &str, attempt: &mut Attempt) {
    if let Ok(jws) = gatehouse_identity::decode(token) {
        let text = |claim: &str| {
            jws.claims
                .get(claim)
                .and_then(|v| v.as_str())
                .map(|s| s.chars().take(200).collect::<String>())
        };
        attempt.issuer = text("iss");
        attempt.subject = text("sub");
    }
}

fn granted_detail(subject: &Verified, actor: Option<&Verified>, claims: &TokenClaims) -> String {
    let mut detail = format!(
        "issued gatehouse token jti {} (expires {}) for {} `{}` from identity provider `{}` (its token expires {})",
        claims.jti,
        gatehouse_pipeline::rfc3339(claims.exp.saturating_mul(1000)),
        kind_name(subject.kind),
        subject.subject,
        subject.provider,
        gatehouse_pipeline::rfc3339(subject.expires_at.saturating_mul(1000)),
    );
    if let Some(actor) = actor {
        detail.push_str(&format!(
            ", acting for `{}` ({} identity provider `{}`)",
            actor.subject,
            kind_name(actor.kind),
            actor.provider
        ));
    }
    detail
}

fn kind_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Human => "human",
        ProviderKind::Workload => "workload",
    }
}

fn event(
    identity: &Identity,
    source: SocketAddr,
    decision: DecisionKind,
    detail: String,
) -> AuditEvent {
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
            "token:exchange",
            decision,
            Some(detail),
        )
    }
}
