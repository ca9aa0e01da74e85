//! The HTTP calls of `gatehouse login` and of token refresh, as an OpenID Connect public
//! client (no secret): discovery at the issuer, the IdP's token endpoint (authorization code
//! with PKCE, device code, refresh token), and the RFC 8693 exchange of the resulting ID token
//! (or a workload's JWT) at the gateway's `POST /v1/token`. ID tokens are only read here (for
//! the nonce); the gateway verifies them.

use crate::http::token::{GRANT_TYPE, JWT_TYPE};
use crate::http_client::{ACCEPT_JSON, HttpClient};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use hyper::Method;
use rand::RngCore;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Time allowed for one call to the IdP or the gateway.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for calls to the IdP (trusting `ca_file`, its `--idp-ca-file`) or to the gateway
/// (trusting the gateway's CA file), made once per login or refresh.
pub fn client(ca_file: Option<&Path>) -> Result<HttpClient> {
    HttpClient::new(ca_file, CALL_TIMEOUT)
}

/// `n` random bytes, base64url: PKCE verifiers, `state`, `nonce`.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636).
pub fn pkce_challenge(verifier: &str) -> String {
    use sha2::Digest;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A text field of a JSON answer.
pub fn text<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// GET `url` and parse the JSON answer (any status).
pub async fn get_json(http: &HttpClient, url: &str) -> Result<(u16, Value)> {
    let response = http.send(Method::GET, url, &ACCEPT_JSON, None).await?;
    let value = serde_json::from_slice(&response.body)
        .map_err(|_| anyhow!("`{url}` answered HTTP {} without JSON", response.status))?;
    Ok((response.status, value))
}

/// POST a form to `url` and parse the JSON answer (any status).
pub async fn post_form(http: &HttpClient, url: &str, form: &str) -> Result<(u16, Value)> {
    let body = Some((
        "application/x-www-form-urlencoded",
        Bytes::copy_from_slice(form.as_bytes()),
    ));
    let response = http.send(Method::POST, url, &ACCEPT_JSON, body).await?;
    let value = serde_json::from_slice(&response.body)
        .map_err(|_| anyhow!("`{url}` answered HTTP {} without JSON", response.status))?;
    Ok((response.status, value))
}

/// An OAuth error answer, as `error (description)`.
pub fn oauth_error(answer: &Value) -> String {
    let error = text(answer, "error").unwrap_or("error");
    match text(answer, "error_description") {
        Some(description) => format!("{error}: {description}"),
        None => error.to_owned(),
    }
}

/// The endpoints discovery names.
#[derive(Debug)]
pub struct Discovery {
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub device_authorization_endpoint: Option<String>,
}

/// Fetch `<issuer>/.well-known/openid-configuration`.
pub async fn discover(http: &HttpClient, issuer: &str) -> Result<Discovery> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let (status, document) = get_json(http, &url)
        .await
        .with_context(|| format!("cannot fetch the identity provider's discovery `{url}`"))?;
    if status != 200 {
        bail!("the identity provider's discovery `{url}` answered HTTP {status}");
    }
    if text(&document, "issuer") != Some(issuer) {
        bail!("discovery `{url}` names another issuer than `{issuer}`");
    }
    let endpoint = |name: &str| text(&document, name).map(str::to_owned);
    Ok(Discovery {
        authorization_endpoint: endpoint("authorization_endpoint"),
        token_endpoint: endpoint("token_endpoint")
            .ok_or_else(|| anyhow!("discovery `{url}` names no token_endpoint"))?,
        device_authorization_endpoint: endpoint("device_authorization_endpoint"),
    })
}

/// What the IdP's token endpoint gave a person's login or refresh.
#[derive(Debug)]
pub struct IdTokens {
    pub id_token: String,
    pub refresh_token: Option<String>,
}

/// Call the IdP's token endpoint with `form`: `Ok(Ok(tokens))`, or `Ok(Err(answer))` when the
/// IdP answered with an OAuth error (the device flow's `authorization_pending` among them).
pub async fn token_call(
    http: &HttpClient,
    token_endpoint: &str,
    form: &str,
) -> Result<Result<IdTokens, Value>> {
    let (status, answer) = post_form(http, token_endpoint, form)
        .await
        .with_context(|| {
            format!("cannot reach the identity provider's token endpoint `{token_endpoint}`")
        })?;
    if status != 200 {
        return Ok(Err(answer));
    }
    let id_token = text(&answer, "id_token").ok_or_else(|| {
        anyhow!(
            "the identity provider answered without an ID token; does `scopes` include \"openid\"?"
        )
    })?;
    Ok(Ok(IdTokens {
        id_token: id_token.to_owned(),
        refresh_token: text(&answer, "refresh_token").map(str::to_owned),
    }))
}

/// The (unverified) claims of an ID token: the gateway verifies it; the CLI checks the nonce.
pub fn id_token_claims(id_token: &str) -> Result<serde_json::Map<String, Value>> {
    Ok(gatehouse_identity::decode(id_token)
        .map_err(|e| anyhow!("the identity provider's ID token cannot be read: {e}"))?
        .claims)
}

/// A gatehouse token from the gateway.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
}

/// Exchange `subject` (a workload's JWT, or a person's ID token: `subject_type`
/// [`JWT_TYPE`] or [`crate::http::token::ID_TOKEN_TYPE`]) at `<api>/v1/token`.
pub async fn exchange(
    http: &HttpClient,
    api: &str,
    (subject, subject_type): (&str, &str),
    actor: Option<&str>,
) -> Result<Issued> {
    // Finished before the await: the serializer is not `Send`.
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", GRANT_TYPE)
            .append_pair("subject_token", subject)
            .append_pair("subject_token_type", subject_type);
        if let Some(actor) = actor {
            form.append_pair("actor_token", actor)
                .append_pair("actor_token_type", JWT_TYPE);
        }
        form.finish()
    };
    let url = format!("{api}/v1/token");
    let (status, answer) = post_form(http, &url, &body)
        .await
        .with_context(|| {
            format!(
                "cannot exchange at the gateway's token endpoint `{url}`; is --api the gateway's admin listener?"
            )
        })?;
    if status != 200 {
        bail!(
            "the gateway refused the exchange ({})",
            oauth_error(&answer)
        );
    }
    Ok(Issued {
        access_token: text(&answer, "access_token")
            .ok_or_else(|| anyhow!("the gateway's answer has no access_token"))?
            .to_owned(),
        expires_in: answer
            .get("expires_in")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    })
}
