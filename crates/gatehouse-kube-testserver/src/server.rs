//! The running server: a thread of its own with a single-threaded runtime, so tests start it
//! the same way whether they are async or not, and dropping the server ends every connection,
//! watch and followed log at once (the runtime and all its tasks go with the thread).

use crate::listen;
use crate::pods::Pods;
use crate::seed;
use crate::shared::Shared;
use crate::tls;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// How the server is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The bearer token every request must carry.
    pub token: String,
    /// Serve HTTPS (the default) or plain HTTP.
    pub tls: bool,
    /// Serve exec, attach and port-forward over WebSocket as well as SPDY (the default), or
    /// refuse WebSocket upgrades as API servers before Kubernetes 1.30 did, so that kubectl
    /// falls back to SPDY.
    pub websockets: bool,
}

impl Options {
    /// HTTPS, requiring `token`.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            tls: true,
            websockets: true,
        }
    }

    /// Plain HTTP instead of HTTPS.
    pub fn plaintext(mut self) -> Self {
        self.tls = false;
        self
    }

    /// Refuse WebSocket upgrades (400): exec, attach and port-forward over SPDY only.
    pub fn without_websockets(mut self) -> Self {
        self.websockets = false;
        self
    }
}

/// A Kubernetes API server for tests, listening on `127.0.0.1`; stopped when dropped.
pub struct TestApiServer {
    pub(crate) shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: Option<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestApiServer {
    /// Listen on a free port of `127.0.0.1` and serve the seeded cluster until dropped.
    pub fn start(options: Options) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tls = options.tls.then(tls::generate).transpose()?;
        let store = seed::store().map_err(io::Error::other)?;
        let mut shared = Shared::new(options.token, addr.to_string(), store, Pods::new()?);
        shared.websockets = options.websockets;
        let shared = Arc::new(shared);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let acceptor = tls
            .as_ref()
            .map(|tls| TlsAcceptor::from(tls.config.clone()));
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kube-testserver-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        () = listen::accept(listener, acceptor, serving) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Self {
            shared,
            addr,
            ca_pem: tls.map(|tls| tls.ca_pem),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (or `http://` in plaintext mode).
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM certificate of the CA that signed the server's certificate; `None` in plaintext
    /// mode.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The bearer token the server requires.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A kubeconfig (YAML) for this server: its URL, its CA and its token, context `default`
    /// namespace.
    pub fn kubeconfig(&self) -> String {
        let quoted = |text: &str| Value::from(text).to_string();
        let ca = self
            .ca_pem
            .as_ref()
            .map(|pem| format!("\n    certificate-authority-data: {}", STANDARD.encode(pem)))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}{ca}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\n\
             current-context: test\nusers:\n- name: test\n  user:\n    token: {}\n",
            quoted(&self.url()),
            quoted(&self.shared.token),
        )
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
