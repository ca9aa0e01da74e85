//! The client side towards one target: a pool of HTTP/1.1 connections over TLS (the target's
//! CA, optionally a client certificate), to a loopback target only plain TCP, or over byte
//! streams a [`StreamOpener`] opens some other way (an agent's tunnel, where the agent holds the
//! target's TLS settings and credential). Bodies stream both ways; the adapter builds each
//! request (path it decided on, credential it injects) and reads the answer as it arrives.
//! HTTP/1.1 upstream keeps upgrades (WebSocket, SPDY) possible for the streams that need them.

use crate::HttpProxyError;
use crate::body::ProxyBody;
use hyper::body::Incoming;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Opens a byte stream that carries HTTP/1.1 to the target, for targets not dialled directly.
pub trait StreamOpener: Send + Sync + 'static {
    /// A new stream, or why there is none now ([`TargetUnavailable`]: the target's path is
    /// down, and the adapter says so rather than calling it a bad answer).
    fn open(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<OpenedStream, TargetUnavailable>> + Send + '_>>;
}

/// A stream a [`StreamOpener`] opened.
pub type OpenedStream = Box<dyn ByteStream>;

/// Why a [`StreamOpener`] has no stream now (its message names the connection and what to do).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TargetUnavailable(pub String);

/// One target the adapter forwards to.
#[derive(Clone)]
pub struct Upstream {
    /// `scheme://authority` of the target.
    origin: String,
    /// The target as messages name it.
    shown: String,
    /// The target URL's own path prefix, without a trailing `/` (usually empty).
    base_path: String,
    client: Client<Dialer, ProxyBody>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("origin", &self.origin)
            .finish()
    }
}

impl Upstream {
    /// A target at `url` (`https://...`, verified with `tls`: roots and any client
    /// certificate; `http://` only for a loopback host), dialled within `connect_timeout`.
    pub fn new(
        url: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
    ) -> Result<Upstream, HttpProxyError> {
        let invalid = |reason: &str| HttpProxyError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        let host = uri.host().ok_or_else(|| invalid("no host"))?.to_owned();
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if is_loopback(&host) => false,
            Some("http") => {
                return Err(invalid(
                    "plain http is allowed only to a loopback host; use https",
                ));
            }
            _ => return Err(invalid("the scheme must be https")),
        };
        if uri.query().is_some() {
            return Err(invalid("a target URL has no query"));
        }
        let authority = uri.authority().ok_or_else(|| invalid("no host"))?;
        let origin = format!("{}://{}", if secure { "https" } else { "http" }, authority);
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let tls = match (secure, tls) {
            (true, Some(tls)) => Some(TlsConnector::from(tls)),
            (true, None) => return Err(invalid("https needs the CA that verifies the target")),
            (false, _) => None,
        };
        let dialer = Dialer::Network {
            tls,
            connect_timeout,
        };
        Ok(Upstream {
            shown: origin.clone(),
            origin,
            base_path,
            client: pooled(dialer),
        })
    }

    /// A target reached over the streams `opener` opens (`shown` names it in messages); the
    /// connections are pooled like dialled ones.
    pub fn through(shown: &str, opener: Arc<dyn StreamOpener>) -> Upstream {
        Upstream {
            // The far end reads only the request's path; this origin only fills the
            // request line and `Host`.
            origin: "http://gatehouse-upstream.invalid".to_owned(),
            shown: shown.to_owned(),
            base_path: String::new(),
            client: pooled(Dialer::Opener(opener)),
        }
    }

    /// The absolute URI for `path_and_query` (which starts with `/`) at this target.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, HttpProxyError> {
        format!("{}{}{}", self.origin, self.base_path, path_and_query)
            .parse()
            .map_err(|_| HttpProxyError::InvalidUrl {
                url: path_and_query.to_owned(),
                reason: "not a valid request target".to_owned(),
            })
    }

    /// Send `request` (whose URI came from [`Upstream::uri`]) and return the answer's head
    /// with its body still streaming.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, HttpProxyError> {
        self.client
            .request(request)
            .await
            .map_err(|error| match unavailable_in(&error) {
                Some(unavailable) => HttpProxyError::Unavailable(unavailable.0.clone()),
                None => HttpProxyError::Upstream(describe(&error)),
            })
    }

    /// `scheme://authority` the requests are sent to.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The target URL's own path prefix, without a trailing `/` (usually empty).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// Where the target is (`scheme://host:port`, or how it is reached), for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

fn pooled(dialer: Dialer) -> Client<Dialer, ProxyBody> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(32)
        .build(dialer)
}

/// The [`TargetUnavailable`] an opener gave, somewhere in the client's error and its causes.
fn unavailable_in<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e TargetUnavailable> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(unavailable) = error.downcast_ref::<TargetUnavailable>() {
            return Some(unavailable);
        }
        let wrapped = error
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<TargetUnavailable>());
        if wrapped.is_some() {
            return wrapped;
        }
        cause = error.source();
    }
    None
}

/// The error and its causes, one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Opens connections to the target for the pool.
#[derive(Clone)]
enum Dialer {
    /// TCP to the URL's host and port, then TLS unless it is a plain loopback target.
    Network {
        tls: Option<TlsConnector>,
        connect_timeout: Duration,
    },
    /// Whatever stream the opener gives.
    Opener(Arc<dyn StreamOpener>),
}

type DialFuture = Pin<Box<dyn Future<Output = Result<UpstreamStream, io::Error>> + Send>>;

impl tower_service::Service<Uri> for Dialer {
    type Response = UpstreamStream;
    type Error = io::Error;
    type Future = DialFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> DialFuture {
        match self.clone() {
            Dialer::Network {
                tls,
                connect_timeout,
            } => Box::pin(dial(uri, tls, connect_timeout)),
            Dialer::Opener(opener) => Box::pin(async move {
                let stream = opener.open().await.map_err(io::Error::other)?;
                Ok(UpstreamStream(TokioIo::new(stream)))
            }),
        }
    }
}

async fn dial(
    uri: Uri,
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
) -> Result<UpstreamStream, io::Error> {
    let fail = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let host = uri.host().ok_or_else(|| fail("no host"))?;
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri
        .port_u16()
        .unwrap_or(if tls.is_some() { 443 } else { 80 });
    let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect((bare.as_str(), port)))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {} s", connect_timeout.as_secs()),
            )
        })??;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(UpstreamStream(TokioIo::new(Box::new(tcp))));
    };
    let name =
        ServerName::try_from(bare).map_err(|_| fail("the host is not a valid TLS server name"))?;
    let stream = tokio::time::timeout(connect_timeout, tls.connect(name, tcp))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
    Ok(UpstreamStream(TokioIo::new(Box::new(stream))))
}

/// A byte stream, TLS or not.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// A pooled connection to the target.
struct UpstreamStream(TokioIo<Box<dyn ByteStream>>);

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for UpstreamStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// A TLS client configuration trusting the certificates in `ca_pem` (PEM), presenting
/// `client_identity` (certificate chain PEM, private key PEM) when given. HTTP/1.1 only.
pub fn client_tls(
    ca_pem: &[u8],
    client_identity: Option<(&[u8], &[u8])>,
) -> Result<Arc<rustls::ClientConfig>, HttpProxyError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_error =
        |what: &str, error: &dyn std::fmt::Display| HttpProxyError::Tls(format!("{what}: {error}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| tls_error("the CA file is not PEM", &e))?;
        roots
            .add(cert)
            .map_err(|e| tls_error("the CA file holds an unusable certificate", &e))?;
    }
    if roots.is_empty() {
        return Err(HttpProxyError::Tls(
            "the CA file holds no certificate".to_owned(),
        ));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| tls_error("TLS versions", &e))?
    .with_root_certificates(roots);
    let mut config = match client_identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = CertificateDer::pem_slice_iter(chain)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_error("the client certificate is not PEM", &e))?;
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| tls_error("the client key is not PEM", &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_error("the client certificate and key", &e))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;
    use hyper::StatusCode;

    fn tls() -> Option<Arc<rustls::ClientConfig>> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]);
        let pem = certified.map(|c| c.cert.pem()).unwrap_or_default();
        Some(client_tls(pem.as_bytes(), None).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback_and_the_base_path_is_kept() {
        let timeout = Duration::from_secs(1);
        assert!(Upstream::new("http://10.0.0.1:6443", tls(), timeout).is_err());
        assert!(Upstream::new("ftp://127.0.0.1", tls(), timeout).is_err());
        assert!(Upstream::new("https://k8s.internal:6443/?x=1", tls(), timeout).is_err());
        let loopback = Upstream::new("http://127.0.0.1:8080/base/", tls(), timeout)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            loopback.uri("/api/v1").map(|u| u.to_string()).ok(),
            Some("http://127.0.0.1:8080/base/api/v1".to_owned())
        );
        assert!(Upstream::new("https://k8s.internal:6443", tls(), timeout).is_ok());
        assert!(Upstream::new("https://k8s.internal:6443", None, timeout).is_err());
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        assert!(client_tls(b"not pem", None).is_err());
    }

    /// Opens nothing (its path is down), or a stream whose far end answers `answer` to
    /// whatever it is sent.
    struct Scripted(Option<&'static [u8]>);

    impl StreamOpener for Scripted {
        fn open(
            &self,
        ) -> Pin<Box<dyn Future<Output = Result<OpenedStream, TargetUnavailable>> + Send + '_>>
        {
            Box::pin(async move {
                let Some(answer) = self.0 else {
                    return Err(TargetUnavailable("agent `dc1` is not connected".to_owned()));
                };
                let (ours, mut theirs) = tokio::io::duplex(4096);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut request = [0u8; 1024];
                    let _ = theirs.read(&mut request).await;
                    let _ = theirs.write_all(answer).await;
                    let _ = theirs.shutdown().await;
                });
                Ok(Box::new(ours) as OpenedStream)
            })
        }
    }

    async fn send_through(opener: Scripted) -> Result<StatusCode, HttpProxyError> {
        let upstream =
            Upstream::through("connection `cluster` through its agents", Arc::new(opener));
        let mut request = Request::new(crate::body::empty());
        *request.uri_mut() = upstream.uri("/api/v1/pods")?;
        upstream.send(request).await.map(|answer| answer.status())
    }

    #[tokio::test]
    async fn a_stream_opener_without_a_stream_is_unavailable_and_one_answering_garbage_is_an_upstream_error()
     {
        let down = send_through(Scripted(None)).await;
        assert!(
            matches!(&down, Err(HttpProxyError::Unavailable(reason)) if reason == "agent `dc1` is not connected"),
            "{down:?}"
        );
        let garbage = send_through(Scripted(Some(b"SSH-2.0-OpenSSH\r\n\r\n"))).await;
        assert!(
            matches!(&garbage, Err(HttpProxyError::Upstream(_))),
            "{garbage:?}"
        );
        let answered = send_through(Scripted(Some(
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        )))
        .await;
        assert_eq!(answered.ok(), Some(StatusCode::OK));
    }
}
