//! Forwarding a decided request and shaping its answer: the path and query gatehouse decided
//! on, the client's headers minus what belongs to gatehouse (its token, hop-by-hop headers,
//! compression), the connection's credential in place of the token; the answer's head with the
//! credential scrubbed and redirects kept on the gateway, its body streamed through the
//! scrubber and, for identities that may not see data unmasked, the masking.

use crate::gateway::HttpTarget;
use crate::masking::{self, AnswerMasking};
use crate::problem::{self, Refusal};
use crate::redirect::{self, Redirect};
use crate::scrub::{SCRUBBED_HEADER, Scrubber};
use bytes::Bytes;
use gatehouse_http::body::{ProxyBody, full};
use gatehouse_http::listener::ConnectionCut;
use gatehouse_http::transformed::{ChunkTransform, OnEnd, TransformedBody};
use gatehouse_mask::Masker;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::Arc;

/// One decided request and what forwarding it needs.
pub struct Forward<'a> {
    pub target: &'a HttpTarget,
    pub parts: hyper::http::request::Parts,
    /// The path and query decided on.
    pub request_target: &'a str,
    pub body: Bytes,
    /// The masking engine, when this identity sees data masked.
    pub masker: Option<&'a Arc<Masker>>,
    pub max_text_line_bytes: usize,
    /// The client's routing prefix (`/c/NAME` or empty), for redirects.
    pub prefix: &'a str,
    /// A WebSocket upgrade, when the request asks for one.
    pub upgrade: Option<ClientUpgrade>,
}

/// The client's side of a WebSocket upgrade.
pub struct ClientUpgrade {
    pub on_upgrade: hyper::upgrade::OnUpgrade,
    pub cut: ConnectionCut,
    /// Where the relay's task goes, so the connection's end waits for it.
    pub relays: Relays,
    /// What records the frames, when the session is recorded.
    pub tap: Option<Arc<dyn gatehouse_http::upgrade::StreamTap>>,
}

/// The relays of a client connection's upgraded streams.
pub type Relays = Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>;

/// The answer's head, and its body still to be streamed through what it needs.
pub struct Answered {
    pub parts: hyper::http::response::Parts,
    pub body: hyper::body::Incoming,
    pub transforms: Vec<Box<dyn ChunkTransform>>,
}

/// What forwarding gave: an answer to stream, or an upgraded stream already joined.
pub enum Forwarded {
    Answer(Answered),
    Switched(Response<ProxyBody>),
}

impl Answered {
    /// The answer, its body calling `on_end` when it ends.
    pub fn into_response(self, on_end: OnEnd) -> Response<ProxyBody> {
        let body = TransformedBody::new(self.body, self.transforms, on_end);
        Response::from_parts(self.parts, ProxyBody::new(body))
    }
}

/// Forward and shape the answer; `Err` is gatehouse's own answer.
pub async fn forward(forward: Forward<'_>) -> Result<Forwarded, Refusal> {
    let target = forward.target;
    let uri = target
        .upstream
        .uri(forward.request_target)
        .map_err(|error| problem::bad_request(&error.to_string()))?;
    let presented = target.credential.present().await.map_err(|reason| {
        tracing::error!(connection = %target.info.name, %reason, "the HTTP connection's own credential cannot be read");
        problem::unavailable("the connection's own credential cannot be read, so nothing was sent; the operator is told in gatehouse's log")
    })?;
    let method = forward.parts.method.clone();
    let mut headers = forward.parts.headers;
    gatehouse_http::framing::strip_hop_by_hop(&mut headers);
    if forward.upgrade.is_some() {
        gatehouse_http::upgrade::restore_upgrade_headers(&mut headers, "websocket");
        // No extension (permessage-deflate): the frames stay readable for the recording.
        headers.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    }
    for name in [
        header::AUTHORIZATION,
        header::PROXY_AUTHORIZATION,
        header::HOST,
        header::CONTENT_LENGTH,
    ] {
        headers.remove(name);
    }
    // Answers are read uncompressed, so that the credential can be scrubbed from them and what
    // must be masked can be.
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    if let Some((name, value)) = &presented.header {
        headers.insert(name.clone(), value.clone());
    }
    let mut request = Request::new(full(forward.body));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    let answered = target.upstream.send(request).await.map_err(|error| match error {
        gatehouse_http::HttpProxyError::Unavailable(reason) => {
            tracing::warn!(connection = %target.info.name, %reason, "HTTP connection unavailable");
            problem::unavailable(&reason)
        }
        error => {
            tracing::warn!(target = target.upstream.shown(), %error, "HTTP target did not answer");
            problem::bad_gateway(&format!("the connection's target did not answer ({error})"))
        }
    })?;
    if let Some(upgrade) = forward.upgrade
        && answered.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        return Ok(Forwarded::Switched(switched(answered, upgrade)));
    }
    let (mut parts, body) = answered.into_parts();
    gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
    let scrubber = Scrubber::new(&presented.secrets);
    scrub_headers(&mut parts.headers, scrubber.as_ref());
    keep_redirect_on_gateway(&mut parts.headers, target, forward.prefix)?;
    let has_body = method != Method::HEAD
        && !matches!(
            parts.status,
            StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED
        );
    let mut transforms: Vec<Box<dyn ChunkTransform>> = Vec::new();
    if let Some(scrubber) = scrubber {
        transforms.push(Box::new(scrubber));
    }
    if let Some(masker) = forward.masker {
        let masking = masking::for_answer(
            &parts.headers,
            has_body,
            target,
            masker,
            forward.max_text_line_bytes,
        )?;
        if let AnswerMasking::Transform(transform) = masking {
            transforms.push(transform);
        }
    }
    if !transforms.is_empty() {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    Ok(Forwarded::Answer(Answered {
        parts,
        body,
        transforms,
    }))
}

/// Replace every answer header value that carries the credential.
pub(crate) fn scrub_headers(headers: &mut hyper::HeaderMap, scrubber: Option<&Scrubber>) {
    let Some(scrubber) = scrubber else {
        return;
    };
    for value in headers.values_mut() {
        if scrubber.finds_in(value.as_bytes()) {
            let scrubbed = scrubber.scrub(value.as_bytes());
            *value = HeaderValue::from_bytes(&scrubbed)
                .unwrap_or_else(|_| HeaderValue::from_static(SCRUBBED_HEADER));
        }
    }
}

/// A `Location` the client may follow: on the gateway, or to a host the connection lists.
fn keep_redirect_on_gateway(
    headers: &mut hyper::HeaderMap,
    target: &HttpTarget,
    prefix: &str,
) -> Result<(), Refusal> {
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(value) = headers.get(&name) else {
            continue;
        };
        let location = value.to_str().map_err(|_| {
            problem::bad_gateway("the target redirected to a location that is not text")
        })?;
        match redirect::rewrite(
            location,
            target.upstream.origin(),
            target.upstream.base_path(),
            prefix,
            &target.redirect_hosts,
        ) {
            Redirect::To(rewritten) => {
                let value = HeaderValue::from_str(&rewritten).map_err(|_| {
                    problem::bad_gateway(
                        "the target redirected to a location gatehouse cannot pass on",
                    )
                })?;
                headers.insert(name, value);
            }
            Redirect::Refused(why) => return Err(problem::bad_gateway(&why)),
        }
    }
    Ok(())
}

/// The upstream switched to WebSocket: answer the client the same and join the two upgraded
/// connections.
fn switched(
    mut answered: Response<hyper::body::Incoming>,
    upgrade: ClientUpgrade,
) -> Response<ProxyBody> {
    let upstream = hyper::upgrade::on(&mut answered);
    let (mut parts, _) = answered.into_parts();
    gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
    gatehouse_http::upgrade::restore_upgrade_headers(&mut parts.headers, "websocket");
    let relay =
        gatehouse_http::upgrade::relay(upgrade.on_upgrade, upstream, upgrade.cut, upgrade.tap);
    upgrade
        .relays
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(relay);
    Response::from_parts(parts, gatehouse_http::body::empty())
}
