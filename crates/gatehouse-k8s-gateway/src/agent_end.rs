//! The agent's end of a Kubernetes connection it serves: every tunnel session the gateway opens
//! for it (kind `kubernetes`) carries HTTP/1.1, which a small proxy here forwards to the API
//! server with the agent's TLS settings and the agent's credential — which therefore never
//! reaches the gateway. The gateway has already decided, audited and recorded each request and
//! chosen its impersonation headers; this end only adds the credential and joins 101 upgrades
//! (exec, attach, port-forward) both ways.
//!
//! A request that arrives with an `Authorization` header is refused, not rewritten: the
//! gateway never sends one for an agent-served connection, so one arriving means a client's
//! token slipped through a gateway and is not passed on or silently replaced.

use crate::answer::{self, Refusal};
use crate::forward::{present, switched_answer};
use crate::gateway::KubeTarget;
use gatehouse_http::agents::{AgentServed, AgentTargets};
use gatehouse_http::body::{ProxyBody, streamed};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The agent's Kubernetes connections, opened for the gateway as HTTP/1.1 sessions.
pub type KubeTargets = AgentTargets<KubeTarget>;

/// The agent's Kubernetes connections by name (their upstreams and credentials are the
/// agent's).
pub fn kube_targets(targets: HashMap<String, Arc<KubeTarget>>) -> KubeTargets {
    AgentTargets::new(gatehouse_k8s::KUBERNETES.as_str(), "Kubernetes", targets)
}

impl AgentServed for KubeTarget {
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

/// The gateway's request, with the agent's credential, to the API server; its answer back.
async fn forward_for_gateway(
    connection: &str,
    target: &KubeTarget,
    mut request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Refusal> {
    if request.headers().contains_key(header::AUTHORIZATION) {
        tracing::warn!(%connection, "refused a request from the gateway that carried a credential");
        return Err(answer::bad_request(&format!(
            "the agent serving connection `{connection}` refuses a request that carries an Authorization header: \
             the cluster's credential is the agent's own"
        )));
    }
    if let Some(why) = gatehouse_http::framing::ambiguous_framing(request.headers()) {
        return Err(answer::bad_request(why));
    }
    let path = request
        .uri()
        .path_and_query()
        .map(|path| path.as_str().to_owned())
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| answer::bad_request("the request has no path"))?;
    let uri = target
        .upstream
        .uri(&path)
        .map_err(|error| answer::bad_request(&error.to_string()))?;
    let upgrade = gatehouse_http::upgrade::requested_upgrade(request.headers())
        .map(|protocol| (protocol, hyper::upgrade::on(&mut request)));
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    gatehouse_http::framing::strip_hop_by_hop(&mut headers);
    if let Some((protocol, _)) = &upgrade {
        gatehouse_http::upgrade::restore_upgrade_headers(&mut headers, protocol);
    }
    headers.remove(header::HOST);
    let presented = present(target).await?;
    if let Some(token) = &presented.token {
        let value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            answer::status(
                gatehouse_k8s::StatusReason::InternalError,
                "the agent's token for this connection is not a valid header value",
            )
        })?;
        headers.insert(header::AUTHORIZATION, value);
    }
    let mut upstream_request = Request::new(streamed(body));
    *upstream_request.method_mut() = parts.method;
    *upstream_request.uri_mut() = uri;
    *upstream_request.headers_mut() = headers;
    let upstream = presented.upstream.as_ref().unwrap_or(&target.upstream);
    let answered = upstream.send(upstream_request).await.map_err(|error| {
        tracing::warn!(%connection, target = target.upstream.shown(), %error, "Kubernetes API server did not answer");
        answer::status(
            gatehouse_k8s::StatusReason::BadGateway,
            &format!("the API server of connection `{connection}` did not answer the agent ({error})"),
        )
    })?;
    if let Some((_, gateway_side)) = upgrade
        && answered.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        let (api_side, answer) = switched_answer(answered);
        tokio::spawn(gatehouse_http::agents::join_upgraded(
            gateway_side,
            api_side,
        ));
        return Ok(answer);
    }
    let (mut parts, body) = answered.into_parts();
    gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, streamed(body)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::gateway::UpstreamCredential;
    use gatehouse_core::{ConnectionInfo, SecretString};
    use gatehouse_session::{ConnectError, OpenRequest, TargetConnector};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A stand-in API server on loopback that answers every request 200 and hands the test
    /// each request head it received.
    async fn api_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (heads, received) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let heads = heads.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 8192];
                    let read = tcp.read(&mut buffer).await.unwrap_or(0);
                    let _ = heads.send(String::from_utf8_lossy(&buffer[..read]).into_owned());
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                        .await;
                });
            }
        });
        (url, received)
    }

    fn targets(url: &str) -> KubeTargets {
        let target = KubeTarget {
            info: Arc::new(ConnectionInfo {
                name: "cluster".to_owned(),
                kind: gatehouse_k8s::KUBERNETES,
                environment: "dev".to_owned(),
                tags: Vec::new(),
                description: String::new(),
            }),
            upstream: gatehouse_http::upstream::Upstream::new(url, None, Duration::from_secs(5))
                .unwrap(),
            credential: UpstreamCredential::Bearer(SecretString::new("agent-token")),
            impersonation: None,
        };
        kube_targets(HashMap::from([("cluster".to_owned(), Arc::new(target))]))
    }

    fn kubernetes_session() -> OpenRequest {
        OpenRequest {
            kind: "kubernetes".to_owned(),
            login_level: "admin".to_owned(),
            details: serde_json::json!({}),
        }
    }

    /// Send `request` on a new session of `cluster` and read the whole answer.
    async fn exchange(targets: &KubeTargets, request: &str) -> String {
        let opened = targets
            .open("cluster", &kubernetes_session())
            .await
            .unwrap();
        let mut stream = opened.stream;
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn the_agent_adds_its_own_token_and_passes_impersonation_on_as_it_is() {
        let (url, mut received) = api_server().await;
        let answer = exchange(
            &targets(&url),
            "GET /api/v1/pods HTTP/1.1\r\nhost: x\r\nimpersonate-user: ana\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let head = received.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /api/v1/pods http/1.1"), "{head}");
        assert!(head.contains("authorization: bearer agent-token"), "{head}");
        assert!(head.contains("impersonate-user: ana"), "{head}");
    }

    #[tokio::test]
    async fn a_request_carrying_a_credential_is_refused_and_nothing_reaches_the_api_server() {
        let (url, mut received) = api_server().await;
        let answer = exchange(
            &targets(&url),
            "GET /api/v1/secrets HTTP/1.1\r\nhost: x\r\nauthorization: Bearer someone-elses\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains("\"kind\":\"Status\"")
                && answer.contains("refuses a request that carries an Authorization header"),
            "{answer}"
        );
        assert!(
            received.try_recv().is_err(),
            "nothing reached the API server"
        );
    }

    #[tokio::test]
    async fn a_session_for_a_connection_or_kind_the_agent_does_not_serve_is_refused() {
        let targets = targets("http://127.0.0.1:9");
        let unknown = targets.open("prod", &kubernetes_session()).await;
        assert!(
            matches!(&unknown, Err(ConnectError::Unavailable(reason)) if reason == "this agent serves no Kubernetes connection `prod`")
        );
        let postgres = OpenRequest {
            kind: "postgres".to_owned(),
            ..kubernetes_session()
        };
        assert!(targets.open("cluster", &postgres).await.is_err());
    }
}
