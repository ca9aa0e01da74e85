//! The one HTTP client of gatehouse, so that framing, size limits, time limits and TLS trust
//! are decided in one place (by hyper) instead of by hand in each caller: identity (OIDC
//! discovery and JWKS), `gatehouse login` (the IdP's and the gateway's token endpoints),
//! `gatehouse policy reload` (the admin API) and the approval webhooks.
//!
//! One request per connection (`Connection: close`), HTTP/1.1 over tokio's `TcpStream`, or
//! over TLS with `https://`: a client trusts exactly the certificates of its CA file (gatehouse
//! ships no public roots) and builds that trust once, when it is made. Every exchange, from the
//! connect to the last byte of the body, has one time limit; bodies are read up to
//! [`MAX_BODY`]. A response that ends before its `Content-Length` or before its final chunk is
//! an error, never a shorter body. The errors of an exchange name `scheme://host:port`, never
//! the path: some URLs hold a secret there (Slack's webhooks do).

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Largest response body read.
const MAX_BODY: usize = 1024 * 1024;
/// The request header asking for JSON, as identity providers and gatehouse's APIs answer.
pub const ACCEPT_JSON: [(&str, &str); 1] = [("Accept", "application/json")];
/// Largest response head (status line and headers) read.
const MAX_HEAD: usize = 16 * 1024;

/// Where a request goes, parsed from its URL once.
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    port: u16,
    /// The `Host` header: the URL's authority.
    authority: String,
    /// The request target: path and query.
    path: String,
    /// The name the server's certificate must carry, for `https://`.
    tls_name: Option<ServerName<'static>>,
    /// `scheme://host:port`, what messages name.
    shown: String,
}

/// Why a URL is no [`Target`].
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("`{url}` is not a URL: {reason}")]
    NotUrl { url: String, reason: String },
    #[error("`{url}` must start with http:// or https://")]
    Scheme { url: String },
    #[error("`{url}` has no host")]
    NoHost { url: String },
    #[error("`{url}` must not carry credentials (user:password@)")]
    Credentials { url: String },
    #[error("`{host}` is not a valid TLS server name: {reason}")]
    ServerName { host: String, reason: String },
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let uri: Uri = url.parse().map_err(|e| TargetError::NotUrl {
            url: url.to_owned(),
            reason: format!("{e}"),
        })?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(TargetError::Scheme {
                    url: url.to_owned(),
                });
            }
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| TargetError::NoHost {
                url: url.to_owned(),
            })?;
        if authority.as_str().contains('@') {
            return Err(TargetError::Credentials {
                url: url.to_owned(),
            });
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls_name = if https {
            Some(
                ServerName::try_from(host.clone()).map_err(|e| TargetError::ServerName {
                    host: host.clone(),
                    reason: e.to_string(),
                })?,
            )
        } else {
            None
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        Ok(Target {
            shown: format!(
                "{}://{}:{port}",
                if https { "https" } else { "http" },
                authority.host()
            ),
            host,
            port,
            authority: authority.as_str().to_owned(),
            path,
            tls_name,
        })
    }

    /// `scheme://host:port` (without the path, which may be a secret).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn is_https(&self) -> bool {
        self.tls_name.is_some()
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

/// How much of a response is read.
#[derive(Clone, Copy)]
enum Read {
    /// The head: only the status matters.
    Status,
    /// The head and the whole body (up to [`MAX_BODY`]).
    Body,
}

/// A client with its TLS trust and time limit. Cheap to clone (the TLS configuration is shared).
#[derive(Clone)]
pub struct HttpClient {
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose `https://` requests trust exactly the certificates in `ca_file` (read
    /// now: a file that cannot be read or holds no certificate is an error); without one,
    /// only `http://` URLs can be reached. `timeout` bounds each whole exchange.
    pub fn new(ca_file: Option<&Path>, timeout: Duration) -> Result<HttpClient> {
        let tls = match ca_file {
            Some(ca_file) => {
                let config = gatehouse_pg::client_config_trusting(ca_file)?;
                Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
            }
            None => None,
        };
        Ok(HttpClient { tls, timeout })
    }

    /// Send one request to `url` and read the whole response. `body` is
    /// `(content type, bytes)`; `headers` are extra request headers (name, value).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
    ) -> Result<Response> {
        let target = Target::parse(url)?;
        self.exchange(&target, method, headers, body, Read::Body)
            .await
    }

    /// Send one request to `target` and read only the response's status.
    pub async fn status(
        &self,
        method: Method,
        target: &Target,
        headers: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
    ) -> Result<u16> {
        let response = self
            .exchange(target, method, headers, body, Read::Status)
            .await?;
        Ok(response.status)
    }

    async fn exchange(
        &self,
        target: &Target,
        method: Method,
        headers: &[(&str, &str)],
        body: Option<(&str, Bytes)>,
        read: Read,
    ) -> Result<Response> {
        let request = build(target, method, headers, body)?;
        let tls = match &target.tls_name {
            None => None,
            Some(name) => {
                let Some(connector) = &self.tls else {
                    bail!(
                        "{} is https:// but no CA file is configured: gatehouse ships no public \
                         root certificates; set `ca_file` (e.g. /etc/ssl/certs/ca-certificates.crt)",
                        target.shown
                    );
                };
                Some((connector, name))
            }
        };
        let exchange = async {
            let tcp = TcpStream::connect((target.host.as_str(), target.port))
                .await
                .with_context(|| format!("cannot connect to {}", target.shown))?;
            let _ = tcp.set_nodelay(true);
            match tls {
                None => over(tcp, request, read).await,
                Some((connector, name)) => {
                    let stream = connector
                        .connect(name.clone(), tcp)
                        .await
                        .with_context(|| format!("TLS handshake failed with {}", target.shown))?;
                    over(stream, request, read).await
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                anyhow!(
                    "no answer from {} within {}",
                    target.shown,
                    humantime::format_duration(self.timeout)
                )
            })?
    }
}

/// The request for `target`, with gatehouse's own headers and `headers`.
fn build(
    target: &Target,
    method: Method,
    headers: &[(&str, &str)],
    body: Option<(&str, Bytes)>,
) -> Result<hyper::Request<Full<Bytes>>> {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(target.path.as_str())
        .header(HOST, target.authority.as_str())
        .header(USER_AGENT, concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
        .header(CONNECTION, "close");
    for (name, value) in headers {
        let name = HeaderName::try_from(*name)
            .map_err(|_| anyhow!("`{name}` is not a valid header name; refusing to send it"))?;
        let value = HeaderValue::try_from(*value).map_err(|_| {
            anyhow!("header `{name}` holds a line break or control character; refusing to send it")
        })?;
        request = request.header(name, value);
    }
    let body = match body {
        Some((content_type, bytes)) => {
            let content_type = HeaderValue::try_from(content_type)
                .map_err(|_| anyhow!("`{content_type}` is not a valid content type"))?;
            request = request.header(CONTENT_TYPE, content_type);
            bytes
        }
        None => Bytes::new(),
    };
    request
        .body(Full::new(body))
        .map_err(|e| anyhow!("cannot make the request for {}: {e}", target.shown))
}

/// One exchange over a connected `stream`: hyper writes the request and frames the response.
async fn over<S>(stream: S, request: hyper::Request<Full<Bytes>>, read: Read) -> Result<Response>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_header_size(MAX_HEAD)
        .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|e| failed(e, "cannot start the HTTP exchange"))?;
    let answer = async move {
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| failed(e, "no complete answer"))?;
        let status = response.status().as_u16();
        let body = match read {
            Read::Status => Bytes::new(),
            Read::Body => read_body(response.into_body()).await?,
        };
        Ok(Response { status, body })
    };
    let mut answer = pin!(answer);
    let mut connection = pin!(connection);
    // The connection is driven until the answer is read; it ends on its own only after that,
    // or with the error the answer also gets.
    tokio::select! {
        biased;
        result = &mut answer => result,
        ended = &mut connection => match ended {
            Ok(()) => answer.await,
            Err(e) => Err(failed(e, "no complete answer")),
        },
    }
}

/// The whole body, at most [`MAX_BODY`] bytes; an error when the connection ends before the
/// body's framing says it is complete.
async fn read_body(body: Incoming) -> Result<Bytes> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => {
            bail!("the answer is larger than {MAX_BODY} bytes")
        }
        Err(e) => match e.downcast::<hyper::Error>() {
            Ok(e) => Err(failed(*e, "cannot read the answer's body")),
            Err(e) => Err(anyhow!("cannot read the answer's body: {e}")),
        },
    }
}

/// A hyper error as a message saying what happened, keeping hyper's own as its cause.
fn failed(error: hyper::Error, otherwise: &'static str) -> anyhow::Error {
    let what = if ended_early(&error) {
        "the connection closed before the answer was complete"
    } else if error.is_parse_too_large() {
        "the answer's header is too large"
    } else if error.is_parse() {
        "the answer is not HTTP"
    } else {
        otherwise
    };
    anyhow::Error::new(error).context(what)
}

/// Whether the connection ended before the response did: before its head, or before the
/// body's `Content-Length` or final chunk (hyper says so with an `UnexpectedEof` cause), or, over
/// TLS, without the server's `close_notify` inside a body that runs to the end of the stream.
fn ended_early(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() {
        return true;
    }
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        if inner
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
        {
            return true;
        }
        cause = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A loopback server that answers one connection with `raw` (after reading the request
    /// head) and closes; its `http://` URL.
    async fn answering(raw: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buffer).await.unwrap();
                if n == 0 {
                    return;
                }
                head.extend_from_slice(&buffer[..n]);
            }
            let _ = stream.write_all(&raw).await;
            let _ = stream.shutdown().await;
        });
        format!("http://127.0.0.1:{port}/x?y=z")
    }

    fn client() -> HttpClient {
        HttpClient::new(None, Duration::from_secs(5)).unwrap()
    }

    async fn get(raw: &[u8]) -> Result<Response> {
        let url = answering(raw.to_vec()).await;
        client().send(Method::GET, &url, &[], None).await
    }

    #[tokio::test]
    async fn lengths_and_chunks_are_framed() {
        let r = get(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            .await
            .unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"hi"[..]));
        let r = get(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
            .await
            .unwrap();
        assert_eq!((r.status, &r.body[..]), (404, &b"abcde"[..]));
    }

    #[tokio::test]
    async fn a_body_cut_short_of_its_content_length_is_an_error() {
        let mut raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
        raw.extend_from_slice(b"0123456789");
        let error = get(&raw).await.unwrap_err();
        assert!(
            format!("{error:#}").contains("closed before the answer was complete"),
            "{error:#}"
        );
    }

    #[tokio::test]
    async fn a_chunked_body_without_its_final_chunk_is_an_error() {
        let error =
            get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nab")
                .await
                .unwrap_err();
        assert!(
            format!("{error:#}").contains("closed before the answer was complete"),
            "{error:#}"
        );
        let error = get(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("closed before the answer was complete"),
            "{error:#}"
        );
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused() {
        let body = vec![b'x'; MAX_BODY + 1];
        let mut raw =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        raw.extend_from_slice(&body);
        let error = get(&raw).await.unwrap_err();
        assert!(format!("{error:#}").contains("larger than"), "{error:#}");
        let mut raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..=MAX_BODY / 4096 {
            raw.extend_from_slice(b"1000\r\n");
            raw.extend_from_slice(&[b'x'; 4096]);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let error = get(&raw).await.unwrap_err();
        assert!(format!("{error:#}").contains("larger than"), "{error:#}");
    }

    #[tokio::test]
    async fn only_the_status_is_needed_for_status() {
        let url = answering(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()).await;
        let target = Target::parse(&url).unwrap();
        let status = client()
            .status(
                Method::POST,
                &target,
                &[("X-A", "b")],
                Some(("application/json", Bytes::from_static(b"{}"))),
            )
            .await
            .unwrap();
        assert_eq!(status, 204);
        let url = answering(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()).await;
        let target = Target::parse(&url).unwrap();
        let error = client()
            .status(Method::POST, &target, &[], None)
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("not HTTP"), "{error:#}");
    }

    #[tokio::test]
    async fn silence_runs_into_the_time_limit_and_https_needs_a_ca_file() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let quick = HttpClient::new(None, Duration::from_millis(200)).unwrap();
        let error = quick.send(Method::GET, &url, &[], None).await.unwrap_err();
        assert!(
            format!("{error}").starts_with("no answer from http://127.0.0.1:"),
            "{error}"
        );
        drop(listener);
        let error = client()
            .send(Method::GET, "https://127.0.0.1:9/x", &[], None)
            .await
            .unwrap_err();
        assert!(
            format!("{error}").contains("no CA file is configured"),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(HttpClient::new(Some(&empty), Duration::from_secs(1)).is_err());
    }

    /// A loopback TLS server (certificate for 127.0.0.1) that answers one connection with
    /// `raw`, then ends with `close_notify` or, when `cut`, drops the TCP connection without it;
    /// its `https://` URL and the PEM file of its certificate (in `dir`).
    async fn answering_tls(raw: &'static [u8], cut: bool, dir: &Path) -> (String, PathBuf) {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, certified.cert.pem()).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()),
        );
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut stream = acceptor.accept(tcp).await.unwrap();
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buffer).await.unwrap();
                head.extend_from_slice(&buffer[..n]);
            }
            stream.write_all(raw).await.unwrap();
            stream.flush().await.unwrap();
            if !cut {
                let _ = stream.shutdown().await;
            }
        });
        (format!("https://127.0.0.1:{port}/keys"), ca_file)
    }

    #[tokio::test]
    async fn https_trusts_the_ca_file_and_a_tls_stream_cut_short_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let close_delimited = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"keys\": []}";
        let (url, ca_file) = answering_tls(close_delimited, false, dir.path()).await;
        let trusting = HttpClient::new(Some(&ca_file), Duration::from_secs(5)).unwrap();
        let r = trusting.send(Method::GET, &url, &[], None).await.unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"{\"keys\": []}"[..]));
        // The same answer without the server's close_notify may have been cut by anyone.
        let (url, ca_file) = answering_tls(close_delimited, true, dir.path()).await;
        let trusting = HttpClient::new(Some(&ca_file), Duration::from_secs(5)).unwrap();
        let error = trusting
            .send(Method::GET, &url, &[], None)
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("closed before the answer was complete"),
            "{error:#}"
        );
        // A server whose certificate the CA file does not hold is not trusted.
        let other = tempfile::tempdir().unwrap();
        let (url, _) = answering_tls(close_delimited, false, other.path()).await;
        let error = trusting
            .send(Method::GET, &url, &[], None)
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("TLS handshake failed"),
            "{error:#}"
        );
    }

    #[test]
    fn urls_are_checked() {
        let target = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!(
            (
                target.shown(),
                target.path.as_str(),
                target.authority.as_str()
            ),
            ("https://[::1]:8443", "/", "[::1]:8443")
        );
        assert!(matches!(
            Target::parse("ftp://h/x"),
            Err(TargetError::Scheme { .. })
        ));
        assert!(matches!(
            Target::parse("http://u:p@h/x"),
            Err(TargetError::Credentials { .. })
        ));
        assert!(matches!(
            Target::parse("not a url"),
            Err(TargetError::NotUrl { .. })
        ));
        assert!(matches!(
            Target::parse("/path"),
            Err(TargetError::Scheme { .. })
        ));
    }
}
