//! `gatehouse connect CONNECTION --http`: a plain HTTP endpoint on loopback for clients that
//! cannot set an `Authorization` header (a browser-less tool, a script with a fixed base URL,
//! an SDK configured with only a URL). Each request is sent on to the gateway's HTTP API
//! listener over verified TLS as `/c/CONNECTION/<path>` with the current token (read for
//! every request, so a refreshed one is used at once) as `Authorization: Bearer`; the answer
//! streams back as it comes. A header the client sent under that name is replaced: the token
//! decides who acts. Policy, masking, approvals and the audit log apply exactly as for a
//! direct client.

use anyhow::{Context, Result};
use bytes::Bytes;
use gatehouse_http::body::{ProxyBody, full, streamed};
use gatehouse_http::upstream::Upstream;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// What every local request is sent through.
pub struct HttpForwarder {
    upstream: Upstream,
    connection: String,
    token_file: Option<PathBuf>,
}

impl HttpForwarder {
    /// Forward to the gateway's HTTP API listener at `gateway` (`HOST:PORT`), verified with
    /// `ca_file`.
    pub fn new(
        gateway: &str,
        ca_file: &Path,
        connection: &str,
        token_file: Option<&Path>,
    ) -> Result<Self> {
        let ca = std::fs::read(ca_file).with_context(|| {
            format!(
                "cannot read the gateway's CA `{}` (--ca-file)",
                ca_file.display()
            )
        })?;
        let tls = gatehouse_http::upstream::client_tls(&ca, None)
            .with_context(|| format!("the gateway's CA `{}`", ca_file.display()))?;
        let upstream = Upstream::new(
            &format!("https://{gateway}"),
            Some(tls),
            Duration::from_secs(10),
        )
        .with_context(|| format!("--gateway {gateway}"))?;
        Ok(HttpForwarder {
            upstream,
            connection: connection.to_owned(),
            token_file: token_file.map(Path::to_path_buf),
        })
    }

    /// Serve local clients on `listener` until `stop` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                () = &mut stop => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a client");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let forwarder = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let forwarder = forwarder.clone();
                    async move { Ok::<_, Infallible>(forwarder.forward(request).await) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Some(Duration::from_secs(30)))
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(error) = served {
                    tracing::debug!(client = %peer, %error, "local client connection ended");
                }
            });
        }
    }

    async fn forward(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        let token = match crate::client::token::find(self.token_file.as_deref()).await {
            Ok(token) => token,
            Err(error) => {
                return local_error(
                    StatusCode::UNAUTHORIZED,
                    &format!(
                        "gatehouse connect has no token to add ({error:#}); run `gatehouse login`"
                    ),
                );
            }
        };
        let (mut parts, body) = request.into_parts();
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", |target| target.as_str());
        let uri = match self
            .upstream
            .uri(&format!("/c/{}{target}", self.connection))
        {
            Ok(uri) => uri,
            Err(error) => return local_error(StatusCode::BAD_REQUEST, &error.to_string()),
        };
        gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(header::HOST);
        let Ok(mut bearer) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return local_error(
                StatusCode::UNAUTHORIZED,
                "the stored token is not a valid header value; run `gatehouse login` again",
            );
        };
        bearer.set_sensitive(true);
        parts.headers.insert(header::AUTHORIZATION, bearer);
        parts.uri = uri;
        let request = Request::from_parts(parts, streamed(body));
        match self.upstream.send(request).await {
            Ok(answer) => {
                let (mut parts, body) = answer.into_parts();
                gatehouse_http::framing::strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, streamed(body))
            }
            Err(error) => local_error(
                StatusCode::BAD_GATEWAY,
                &format!("the gateway did not answer: {error}"),
            ),
        }
    }
}

/// An answer of `gatehouse connect` itself (not the gateway's), as a problem document.
fn local_error(status: StatusCode, detail: &str) -> Response<ProxyBody> {
    let problem = gatehouse_httpapi::Problem::new(
        status.as_u16(),
        "gatehouse connect could not forward the request",
        detail,
    );
    let mut response = Response::new(full(Bytes::from(problem.to_json())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(gatehouse_httpapi::PROBLEM_CONTENT_TYPE),
    );
    response
}
