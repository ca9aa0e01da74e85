//! The client-facing HTTPS listener. TLS is required; ALPN chooses HTTP/2 (`h2`) or HTTP/1.1
//! (with upgrades, for WebSocket and SPDY streams). Limits bound what one client can make the
//! gateway hold: connections, TLS handshake time, header bytes, concurrent HTTP/2 streams, and
//! streams a client opens and resets at once (HTTP/2 "rapid reset"). An adapter gets one
//! [`HttpConnection`] per client connection: it answers that connection's requests, can cut it
//! at any time (a revoked identity ends a `watch` at once), and is told when it closes.

use crate::body::ProxyBody;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
pub use tokio_rustls::TlsAcceptor;

/// ALPN protocol names the listener offers, preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// What one listener allows.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Names the listener in logs (`kubernetes`).
    pub protocol: &'static str,
    /// Client connections open at once; more are closed at accept.
    pub max_connections: usize,
    /// Time a client has to finish the TLS handshake, and HTTP/1.1 request headers.
    pub handshake_timeout: Duration,
    /// Bytes of request headers (HTTP/2 header list; HTTP/1.1 read buffer).
    pub max_header_bytes: u32,
    /// HTTP/2 streams one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// How long open connections get to finish at shutdown.
    pub shutdown_grace: Duration,
}

/// A client connection as the adapter sees it.
#[derive(Debug, Clone)]
pub struct ClientConnection {
    pub peer: SocketAddr,
    /// Whether ALPN chose HTTP/2.
    pub http2: bool,
    /// The host name the client asked for in its TLS handshake (SNI), lower-case. A client may
    /// reuse the connection for other names the certificate covers (HTTP/2 coalescing): an
    /// adapter that routes by host compares each request's authority with it.
    pub server_name: Option<String>,
    /// Ends this connection when triggered.
    pub cut: ConnectionCut,
}

/// A handle that ends one client connection, with every stream on it, at once.
#[derive(Debug, Clone)]
pub struct ConnectionCut(Arc<watch::Sender<bool>>);

impl ConnectionCut {
    /// Close the connection now; in-flight requests and streams end.
    pub fn cut(&self) {
        self.0.send_replace(true);
    }

    /// Told when the connection is cut: what outlives the HTTP connection itself (an upgraded
    /// stream) watches this.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// An adapter's side of one client connection.
pub trait HttpConnection: Clone + Send + Sync + 'static {
    /// Answer one request (never fails: a refusal is an answer).
    fn handle(
        &self,
        request: Request<Incoming>,
    ) -> impl Future<Output = Response<ProxyBody>> + Send;
    /// The connection closed (client, cut or shutdown): record its end.
    fn closed(self) -> impl Future<Output = ()> + Send;
}

/// An adapter: opens its side of each new client connection.
pub trait HttpFrontend: Send + Sync + 'static {
    type Connection: HttpConnection;
    fn open(&self, client: ClientConnection) -> Self::Connection;
}

/// Serve `listener` until `shutdown` turns true, then give open connections
/// `limits.shutdown_grace` to finish.
pub async fn serve<F: HttpFrontend>(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    limits: HttpLimits,
    frontend: Arc<F>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let limits = Arc::new(limits);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(protocol = limits.protocol, %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(protocol = limits.protocol, %peer, max = limits.max_connections, "too many client connections: closed at accept");
            continue;
        };
        let _ = socket.set_nodelay(true);
        let acceptor = acceptor.clone();
        let limits = limits.clone();
        let frontend = frontend.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let handshake = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(socket));
            let tls = match handshake.await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(protocol = limits.protocol, %peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(protocol = limits.protocol, %peer, "TLS handshake timed out");
                    return;
                }
            };
            let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            let server_name = tls.get_ref().1.server_name().map(str::to_ascii_lowercase);
            let (cut_tx, cut) = watch::channel(false);
            let cut_handle = ConnectionCut(Arc::new(cut_tx));
            let client = ClientConnection {
                peer,
                http2,
                server_name,
                cut: cut_handle.clone(),
            };
            let connection = frontend.open(client);
            serve_connection(
                TokioIo::new(tls),
                http2,
                &limits,
                connection.clone(),
                (cut_handle, cut),
                shutdown,
            )
            .await;
            connection.closed().await;
        });
    }
}

/// Run a connection future (`$served`, either HTTP version's) until it ends, is cut, or the
/// shutdown's grace runs out after asking it to finish gracefully. A macro because the two
/// versions' connection types share the method but no trait.
macro_rules! drive {
    ($served:expr, $limits:expr, $cut:expr, $shutdown:expr) => {{
        let served = $served;
        let mut cut = $cut;
        let mut shutdown = $shutdown;
        tokio::pin!(served);
        let shutting_down = tokio::select! {
            _ = served.as_mut() => false,
            _ = cut.wait_for(|cut| *cut) => false,
            _ = shutdown.wait_for(|down| *down) => true,
        };
        if shutting_down {
            served.as_mut().graceful_shutdown();
            tokio::select! {
                _ = tokio::time::timeout($limits.shutdown_grace, served.as_mut()) => {}
                _ = cut.wait_for(|cut| *cut) => {}
            }
        }
    }};
}

/// One client connection, in the HTTP version ALPN chose, until it ends, is cut, or the
/// shutdown's grace runs out.
async fn serve_connection<C: HttpConnection>(
    io: TokioIo<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
    http2: bool,
    limits: &HttpLimits,
    connection: C,
    (cut_handle, cut): (ConnectionCut, watch::Receiver<bool>),
    shutdown: watch::Receiver<bool>,
) {
    let abandoned = Arc::new(AbandonedRequests::new(cut_handle));
    let service = hyper::service::service_fn(move |request| {
        let connection = connection.clone();
        let watch = AbandonWatch::new(abandoned.clone());
        async move {
            let response = connection.handle(request).await;
            watch.completed();
            Ok::<_, Infallible>(response)
        }
    });
    if http2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(limits.max_header_bytes)
            .max_pending_accept_reset_streams(Some(32))
            .max_local_error_reset_streams(Some(256))
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20));
        let served = builder.serve_connection(io, service);
        drive!(served, limits, cut, shutdown);
    } else {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Some(limits.handshake_timeout))
            .max_buf_size(
                usize::try_from(limits.max_header_bytes)
                    .unwrap_or(usize::MAX)
                    .max(8192),
            );
        let served = builder.serve_connection(io, service).with_upgrades();
        drive!(served, limits, cut, shutdown);
    }
}

/// Requests a client may abandon (reset the stream, or close the connection) before their
/// answer, per window, before the connection is cut: opening streams and resetting them at once
/// (HTTP/2 "rapid reset") makes the gateway start work — authenticate, decide, record, dial —
/// that nobody waits for.
const ABANDONED_PER_WINDOW: u32 = 100;
const ABANDON_WINDOW: Duration = Duration::from_secs(10);

/// One connection's abandoned requests in the current window.
struct AbandonedRequests {
    cut: ConnectionCut,
    window: std::sync::Mutex<(std::time::Instant, u32)>,
}

impl AbandonedRequests {
    fn new(cut: ConnectionCut) -> Self {
        AbandonedRequests {
            cut,
            window: std::sync::Mutex::new((std::time::Instant::now(), 0)),
        }
    }

    fn abandoned(&self) {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if window.0.elapsed() > ABANDON_WINDOW {
            *window = (std::time::Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > ABANDONED_PER_WINDOW {
            tracing::warn!(
                abandoned = window.1,
                "a client abandoned too many requests (HTTP/2 rapid reset?): connection cut"
            );
            self.cut.cut();
        }
    }
}

/// Counts its request as abandoned unless the answer was produced.
struct AbandonWatch {
    requests: Arc<AbandonedRequests>,
    completed: bool,
}

impl AbandonWatch {
    fn new(requests: Arc<AbandonedRequests>) -> Self {
        AbandonWatch {
            requests,
            completed: false,
        }
    }

    fn completed(mut self) {
        self.completed = true;
    }
}

impl Drop for AbandonWatch {
    fn drop(&mut self) {
        if !self.completed {
            self.requests.abandoned();
        }
    }
}
