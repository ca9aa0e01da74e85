//! Forwarding a decided request: the path and query gatehouse decided on, the client's
//! headers minus what belongs to gatehouse (its token, hop-by-hop headers, compression the
//! masking could not read), the connection's credential, impersonation when configured; and
//! the answer streamed back, masked first when it carries Secrets the identity may not see.

use crate::answer::{self, Refusal};
use crate::gateway::{KubeTarget, UpstreamCredential};
use crate::request::KubeRequest;
use crate::secrets;
use bytes::Bytes;
use gatehouse_core::{Identity, SecretString};
use gatehouse_http::body::{ProxyBody, full, streamed};
use gatehouse_pipeline::AuditOutcome;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::time::Instant;

/// One decided request and what forwarding it needs.
pub struct Forward<'a> {
    pub target: &'a KubeTarget,
    pub identity: &'a Identity,
    pub parts: hyper::http::request::Parts,
    /// Normalised path and query, as decided.
    pub upstream_target: &'a str,
    pub body: Bytes,
    pub request: &'a KubeRequest,
    /// How answers are masked for this identity; `None` when it may see them unmasked.
    pub masking: Option<&'a crate::secrets::KubeMasking>,
    /// An exec, attach or port-forward's upgrade (WebSocket, SPDY), when it asks for one.
    pub upgrade: Option<ClientUpgrade>,
}

/// The client's side of an upgrade: the protocol it asked for, its upgraded connection once
/// the answer is sent, what ends it, and what records it.
pub struct ClientUpgrade {
    pub protocol: String,
    pub on_upgrade: hyper::upgrade::OnUpgrade,
    pub cut: gatehouse_http::listener::ConnectionCut,
    pub tap: Option<std::sync::Arc<dyn gatehouse_http::upgrade::StreamTap>>,
    /// Where the relay's task goes, so the session's end waits for its streams.
    pub relays: Relays,
}

/// The relays of a client connection's upgraded streams.
pub type Relays = std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>;

/// Forward and answer; `Err` is gatehouse's own answer (the target could not be reached, or
/// its answer could not be masked).
pub async fn forward(forward: Forward<'_>) -> Result<Response<ProxyBody>, Refusal> {
    let target = forward.target;
    let uri = target
        .upstream
        .uri(forward.upstream_target)
        .map_err(|error| answer::bad_request(&error.to_string()))?;
    let masking = forward
        .masking
        .filter(|masking| masking.applies_to(forward.request.attributes()));
    let mut headers = forward.parts.headers;
    gatehouse_http::framing::strip_hop_by_hop(&mut headers);
    if let Some(upgrade) = &forward.upgrade {
        gatehouse_http::upgrade::restore_upgrade_headers(&mut headers, &upgrade.protocol);
    }
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    // Answers are read uncompressed, so that what must be masked can be.
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    if masking.is_some() {
        secrets::ask_for_json(&mut headers);
    }
    if let Some(impersonation) = &target.impersonation {
        let (user, groups) = impersonation.of(forward.identity);
        headers.insert("impersonate-user", header_value(&user)?);
        for group in groups {
            headers.append("impersonate-group", header_value(&group)?);
        }
    }
    let method = forward.parts.method;
    let send = |presented: Presented| {
        let mut headers = headers.clone();
        let mut request = Request::new(full(forward.body.clone()));
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri.clone();
        async move {
            if let Some(token) = &presented.token {
                headers.insert(header::AUTHORIZATION, bearer_header(token)?);
            }
            *request.headers_mut() = headers;
            let upstream = presented.upstream.as_ref().unwrap_or(&target.upstream);
            let answered = upstream.send(request).await.map_err(|error| match error {
                // Nothing was sent (the connection's agent is not connected): a 503 without
                // Retry-After, which client-go does not retry.
                gatehouse_http::HttpProxyError::Unavailable(reason) => {
                    tracing::warn!(connection = %target.info.name, %reason, "Kubernetes connection unavailable");
                    answer::status(gatehouse_k8s::StatusReason::ServiceUnavailable, &reason)
                }
                error => {
                tracing::warn!(target = target.upstream.shown(), %error, "Kubernetes API server did not answer");
                answer::status(
                    gatehouse_k8s::StatusReason::BadGateway,
                    &format!("the API server of this connection did not answer ({error})"),
                )
                }
            })?;
            Ok::<_, Refusal>((answered, presented.issued))
        }
    };
    let (mut answered, issued) = send(present(target).await?).await?;
    // A credential from an exec plugin that the API server does not accept is forgotten and
    // the request sent once more with a new one, as kubectl does; refused again, the next
    // request runs the plugin anew too.
    if answered.status() == StatusCode::UNAUTHORIZED
        && let (UpstreamCredential::Exec(plugin), Some(issued)) = (&target.credential, issued)
    {
        plugin.forget(&issued).await;
        let (again, issued) = send(present(target).await?).await?;
        if again.status() == StatusCode::UNAUTHORIZED
            && let Some(issued) = issued
        {
            plugin.forget(&issued).await;
        }
        answered = again;
    }
    if let Some(upgrade) = forward.upgrade
        && answered.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        return Ok(switched(answered, upgrade));
    }
    let (mut parts, body) = answered.into_parts();
    gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
    if let Some(masking) = masking {
        return secrets::masked_answer(parts, body, forward.request.attributes(), masking);
    }
    Ok(Response::from_parts(parts, streamed(body)))
}

/// The upstream switched protocols: answer the client the same (its upgrade headers kept)
/// and join the two upgraded connections.
fn switched(
    answered: Response<hyper::body::Incoming>,
    upgrade: ClientUpgrade,
) -> Response<ProxyBody> {
    let (upstream, answer) = switched_answer(answered);
    let relay =
        gatehouse_http::upgrade::relay(upgrade.on_upgrade, upstream, upgrade.cut, upgrade.tap);
    upgrade
        .relays
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(relay);
    answer
}

/// An upstream's 101: its upgraded connection to come, and the same answer for the one who
/// asked (hop-by-hop headers dropped, the upgrade's kept).
pub(crate) fn switched_answer(
    mut answered: Response<hyper::body::Incoming>,
) -> (hyper::upgrade::OnUpgrade, Response<ProxyBody>) {
    let upstream = hyper::upgrade::on(&mut answered);
    let (mut parts, _) = answered.into_parts();
    let protocol = parts.headers.get(header::UPGRADE).cloned();
    gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = protocol {
        parts.headers.insert(header::UPGRADE, protocol);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    }
    (
        upstream,
        Response::from_parts(parts, gatehouse_http::body::empty()),
    )
}

/// What a request presents to the API server: a bearer token, and the upstream to send on
/// when the credential is a client certificate an exec plugin issued.
pub(crate) struct Presented {
    pub(crate) token: Option<SecretString>,
    pub(crate) upstream: Option<gatehouse_http::upstream::Upstream>,
    /// The exec plugin's credential this is, to forget when the API server refuses it.
    issued: Option<crate::exec_credential::Issued>,
}

/// The connection's credential as it stands now.
pub(crate) async fn present(target: &KubeTarget) -> Result<Presented, Refusal> {
    let token = |token: SecretString| Presented {
        token: Some(token),
        upstream: None,
        issued: None,
    };
    match &target.credential {
        UpstreamCredential::Bearer(bearer) => Ok(token(bearer.clone())),
        UpstreamCredential::BearerFile(path) => match tokio::fs::read_to_string(path).await {
            Ok(text) => Ok(token(SecretString::new(text.trim()))),
            Err(error) => {
                tracing::error!(connection = %target.info.name, file = %path.display(), %error, "the Kubernetes connection's token file cannot be read");
                Err(answer::status(
                    gatehouse_k8s::StatusReason::ServiceUnavailable,
                    "the connection's own credential cannot be read; the operator is told in gatehouse's log",
                ))
            }
        },
        UpstreamCredential::ClientCertificate | UpstreamCredential::AtAgent => Ok(Presented {
            token: None,
            upstream: None,
            issued: None,
        }),
        UpstreamCredential::Exec(plugin) => match plugin.current().await {
            Ok(issued) => Ok(Presented {
                token: issued.token.clone(),
                upstream: issued.upstream.clone(),
                issued: Some(issued),
            }),
            Err(reason) => {
                tracing::error!(connection = %target.info.name, plugin = %plugin.program(), %reason, "the Kubernetes connection's exec credential plugin gave no credential");
                Err(answer::status(
                    gatehouse_k8s::StatusReason::ServiceUnavailable,
                    &format!(
                        "connection `{}`: the exec credential plugin of its kubeconfig gave no credential; the operator is told in gatehouse's log",
                        target.info.name
                    ),
                ))
            }
        },
    }
}

fn bearer_header(token: &SecretString) -> Result<HeaderValue, Refusal> {
    HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        answer::status(
            gatehouse_k8s::StatusReason::InternalError,
            "the connection's token is not a valid header value",
        )
    })
}

fn header_value(value: &str) -> Result<HeaderValue, Refusal> {
    HeaderValue::from_str(value).map_err(|_| {
        answer::forbidden(&format!(
            "`{value}` cannot be sent as an impersonation header"
        ))
    })
}

/// The audit outcome of a forwarded request: the HTTP status line, or gatehouse's own error.
pub fn outcome(forwarded: &Result<Response<ProxyBody>, Refusal>, started: Instant) -> AuditOutcome {
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let (status, error) = match forwarded {
        Ok(response) if response.status().is_success() || response.status().is_informational() => {
            (Some(status_line(response.status())), None)
        }
        Ok(response) => (None, Some(status_line(response.status()))),
        Err(response) => (
            None,
            Some(format!("gatehouse: {}", status_line(response.status()))),
        ),
    };
    AuditOutcome {
        rows: None,
        status,
        error,
        duration_us,
        masked: Default::default(),
        request_bytes: None,
        response_bytes: None,
    }
}

/// Whether the answer's objects are counted for its outcome: a successful JSON answer (a
/// Table is JSON too); logs, protobuf and upgrades have no objects to count.
pub fn counts_objects(response: &Response<ProxyBody>) -> bool {
    response.status().is_success()
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|text| text.trim_start().starts_with("application/json"))
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
}

/// The recording's `http_exchange` event for a forwarded request (bodies are never kept).
pub fn exchange(
    request: u64,
    method: &str,
    target: &str,
    forwarded: &Result<Response<ProxyBody>, Refusal>,
    request_bytes: u64,
    duration_us: u64,
) -> gatehouse_recording::EventKind {
    let (status, headers) = match forwarded {
        Ok(response) => (response.status(), Some(response.headers())),
        Err(refusal) => (refusal.status(), None),
    };
    let header = |name: header::HeaderName| {
        headers
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
    };
    gatehouse_recording::EventKind::HttpExchange(gatehouse_recording::HttpExchange {
        request,
        method: method.to_owned(),
        target: target.to_owned(),
        status: status.as_u16(),
        request_bytes,
        response_bytes: header(header::CONTENT_LENGTH)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        duration_us,
        content_type: header(header::CONTENT_TYPE).map(str::to_owned),
        masked: Default::default(),
    })
}
