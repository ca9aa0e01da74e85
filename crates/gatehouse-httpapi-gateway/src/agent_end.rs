//! The agent's end of an HTTP API connection it serves: every tunnel session the gateway opens
//! for it (kind `http`) carries HTTP/1.1, which this end forwards to the target with the
//! agent's own credential — which therefore never reaches the gateway. The gateway has
//! already decided, audited and recorded each request; this end adds the credential, scrubs
//! it from the answer as it streams (the gateway does not know it), turns redirects to the
//! target's own origin into paths (which the gateway keeps on itself), and joins WebSocket
//! upgrades both ways.
//!
//! A request that arrives with the header the credential goes in (`Authorization`, or the
//! API-key header) is refused, not rewritten: the gateway never sends one for an agent-served
//! connection, so one arriving means a client's secret slipped through a gateway.

use crate::gateway::HttpTarget;
use crate::problem::{self, Refusal};
use crate::redirect::{self, Redirect};
use crate::scrub::Scrubber;
use gatehouse_http::agents::{AgentServed, AgentTargets};
use gatehouse_http::body::{ProxyBody, streamed};
use gatehouse_http::transformed::{ChunkTransform, TransformedBody};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The agent's HTTP API connections, opened for the gateway as HTTP/1.1 sessions.
pub type HttpTargets = AgentTargets<HttpTarget>;

/// The agent's HTTP API connections by name (their upstreams and credentials are the
/// agent's).
pub fn http_targets(targets: HashMap<String, Arc<HttpTarget>>) -> HttpTargets {
    AgentTargets::new(crate::HTTP.as_str(), "HTTP", targets)
}

impl AgentServed for HttpTarget {
    fn answer(
        self: Arc<Self>,
        connection: String,
        request: Request<Incoming>,
    ) -> Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>> {
        Box::pin(async move {
            match forward_for_gateway(&connection, &self, request).await {
                Ok(answer) => answer,
                Err(refusal) => refusal.into_response(),
            }
        })
    }
}

/// The gateway's request, with the agent's credential, to the target; its answer back.
async fn forward_for_gateway(
    connection: &str,
    target: &HttpTarget,
    mut request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Refusal> {
    let credential_header = target.credential.header_name();
    let carried = [Some(header::AUTHORIZATION), credential_header]
        .into_iter()
        .flatten()
        .find(|name| request.headers().contains_key(name));
    if let Some(name) = carried {
        tracing::warn!(%connection, header = %name, "refused a request from the gateway that carried a credential");
        return Err(problem::bad_request(&format!(
            "the agent serving connection `{connection}` refuses a request that carries a `{name}` header: the target's credential is the agent's own"
        )));
    }
    if let Some(why) = gatehouse_http::framing::ambiguous_framing(request.headers()) {
        return Err(problem::bad_request(why));
    }
    let path = request
        .uri()
        .path_and_query()
        .map(|path| path.as_str().to_owned())
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| problem::bad_request("the request has no path"))?;
    let uri = target
        .upstream
        .uri(&path)
        .map_err(|error| problem::bad_request(&error.to_string()))?;
    let upgrade = gatehouse_http::upgrade::requested_upgrade(request.headers())
        .map(|_| hyper::upgrade::on(&mut request));
    let presented = target.credential.present().await.map_err(|reason| {
        tracing::error!(%connection, %reason, "the agent's credential for this HTTP connection cannot be read");
        problem::unavailable("the agent's own credential for this connection cannot be read; the agent's operator is told in its log")
    })?;
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    gatehouse_http::framing::strip_hop_by_hop(&mut headers);
    if upgrade.is_some() {
        gatehouse_http::upgrade::restore_upgrade_headers(&mut headers, "websocket");
    }
    headers.remove(header::HOST);
    if let Some((name, value)) = &presented.header {
        headers.insert(name.clone(), value.clone());
    }
    let mut upstream_request = Request::new(streamed(body));
    *upstream_request.method_mut() = parts.method;
    *upstream_request.uri_mut() = uri;
    *upstream_request.headers_mut() = headers;
    let mut answered = target.upstream.send(upstream_request).await.map_err(|error| {
        tracing::warn!(%connection, target = target.upstream.shown(), %error, "HTTP target did not answer");
        problem::bad_gateway(&format!(
            "the target of connection `{connection}` did not answer the agent ({error})"
        ))
    })?;
    if let Some(gateway_side) = upgrade
        && answered.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        let target_side = hyper::upgrade::on(&mut answered);
        let (mut parts, _) = answered.into_parts();
        gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
        gatehouse_http::upgrade::restore_upgrade_headers(&mut parts.headers, "websocket");
        tokio::spawn(gatehouse_http::agents::join_upgraded(
            gateway_side,
            target_side,
        ));
        return Ok(Response::from_parts(parts, gatehouse_http::body::empty()));
    }
    let (mut parts, body) = answered.into_parts();
    gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
    let scrubber = Scrubber::new(&presented.secrets);
    crate::forward::scrub_headers(&mut parts.headers, scrubber.as_ref());
    own_redirects_as_paths(&mut parts.headers, target);
    let Some(scrubber) = scrubber else {
        return Ok(Response::from_parts(parts, streamed(body)));
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let transforms: Vec<Box<dyn ChunkTransform>> = vec![Box::new(scrubber)];
    let body = TransformedBody::new(body, transforms, Box::new(|_| {}));
    Ok(Response::from_parts(parts, ProxyBody::new(body)))
}

/// A `Location` on the target's own origin becomes its path (the gateway keeps it on itself);
/// any other passes on for the gateway to check.
fn own_redirects_as_paths(headers: &mut hyper::HeaderMap, target: &HttpTarget) {
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        let Some(location) = headers.get(&name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if !location.contains("://") {
            continue;
        }
        let rewritten = redirect::rewrite(
            location,
            target.upstream.origin(),
            target.upstream.base_path(),
            "",
            &[],
        );
        if let Redirect::To(path) = rewritten
            && let Ok(value) = HeaderValue::from_str(&path)
        {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::HttpCredential;
    use gatehouse_core::{ConnectionInfo, SecretString};
    use gatehouse_session::{OpenRequest, TargetConnector};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const AGENT_TOKEN: &str = "the-agents-own-token-42";

    /// A target on loopback that echoes the head it received as its body.
    async fn echoing_target() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 8192];
                    let read = tcp.read(&mut buffer).await.unwrap_or(0);
                    let head = buffer.get(..read).unwrap_or_default().to_vec();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
                        head.len()
                    );
                    let _ = tcp.write_all(answer.as_bytes()).await;
                    let _ = tcp.write_all(&head).await;
                });
            }
        });
        url
    }

    fn targets(url: &str) -> HttpTargets {
        let target = HttpTarget {
            info: Arc::new(ConnectionInfo {
                name: "api".to_owned(),
                kind: crate::HTTP,
                environment: "dev".to_owned(),
                tags: Vec::new(),
                description: String::new(),
            }),
            upstream: gatehouse_http::upstream::Upstream::new(url, None, Duration::from_secs(5))
                .unwrap(),
            credential: HttpCredential::Bearer(SecretString::new(AGENT_TOKEN)),
            json_rules: HttpTarget::json_rules("api", &[]).unwrap(),
            passthrough: Vec::new(),
            redirect_hosts: Vec::new(),
            policy_headers: Vec::new(),
        };
        http_targets(HashMap::from([("api".to_owned(), Arc::new(target))]))
    }

    async fn exchange(targets: &HttpTargets, request: &str) -> String {
        let session = OpenRequest {
            kind: "http".to_owned(),
            login_level: "admin".to_owned(),
            details: serde_json::json!({}),
        };
        let mut stream = targets.open("api", &session).await.unwrap().stream;
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn the_agent_adds_its_token_and_scrubs_it_from_the_answer() {
        let targets = targets(&echoing_target().await);
        let answer = exchange(
            &targets,
            "GET /things HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains("authorization: Bearer [gatehouse:credential]"),
            "{answer}"
        );
        assert!(!answer.contains(AGENT_TOKEN), "{answer}");
    }

    #[tokio::test]
    async fn a_request_carrying_a_credential_is_refused() {
        let targets = targets(&echoing_target().await);
        let answer = exchange(
            &targets,
            "GET /things HTTP/1.1\r\nhost: x\r\nauthorization: Bearer someone-elses\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains("refuses a request that carries"),
            "{answer}"
        );
        let session = OpenRequest {
            kind: "http".to_owned(),
            login_level: "admin".to_owned(),
            details: serde_json::json!({}),
        };
        assert!(targets.open("nope", &session).await.is_err());
    }
}
