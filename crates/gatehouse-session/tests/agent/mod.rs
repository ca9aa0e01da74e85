//! A real agent hub and a real agent end, linked over an in-memory stream (as if TCP and TLS
//! were done), for the test-only `kv` protocol: the hub admits the agent, the agent's own
//! `TargetConnector` opens the kv target, and the tunnel carries the `kv` kind unchanged.

use gatehouse_core::SecretString;
use gatehouse_pipeline::BoxFuture;
use gatehouse_session::{ConnectError, OpenRequest, Opened, TargetConnector};
use gatehouse_tunnel::fuzzing::{self, Welcome};
use gatehouse_tunnel::{Admission, AgentAuthority, AgentHub, CredentialStore, Hello, TunnelError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The linked agent, as the hub saw it.
pub struct Agent {
    /// The kinds its hello announced.
    pub kinds: Vec<String>,
    opened: Arc<AtomicUsize>,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Agent {
    /// Sessions its connector opened.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }
}

/// Admits every agent.
struct Admitting;

impl AgentAuthority for Admitting {
    fn admit<'a>(
        &'a self,
        _: &'a Hello,
        _: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, String>> {
        Box::pin(async {
            Ok(Admission {
                issued_credential: None,
            })
        })
    }

    fn refused<'a>(&'a self, _: &'a Hello, _: SocketAddr, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn alive<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn disconnected<'a>(&'a self, _: &'a str, _: SocketAddr, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

struct Credential;

impl CredentialStore for Credential {
    fn load(&self) -> Result<Option<SecretString>, TunnelError> {
        Ok(Some(SecretString::new("agent-credential")))
    }

    fn save(&self, _: &SecretString) -> Result<(), TunnelError> {
        Ok(())
    }
}

/// Counts what the agent's connector opens.
struct Counting {
    inner: Arc<dyn TargetConnector>,
    opened: Arc<AtomicUsize>,
}

impl TargetConnector for Counting {
    fn kinds(&self) -> Vec<String> {
        self.inner.kinds()
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.inner.open(connection, request)
    }

    fn signal<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        self.inner.signal(connection, request)
    }
}

/// A hub routing `connection` to agent `dc1`, and that agent serving it with `targets`,
/// linked and admitted.
pub async fn link(connection: &str, targets: Arc<dyn TargetConnector>) -> (Arc<AgentHub>, Agent) {
    let routes = HashMap::from([(connection.to_owned(), vec!["dc1".to_owned()])]);
    let hub = fuzzing::hub(Arc::new(Admitting), routes).unwrap();
    let opened = Arc::new(AtomicUsize::new(0));
    let connector = Arc::new(Counting {
        inner: targets,
        opened: opened.clone(),
    });
    let settings = Arc::new(
        fuzzing::agent_settings(
            "dc1",
            vec![connection.to_owned()],
            connector,
            Arc::new(Credential),
            None,
        )
        .unwrap(),
    );
    let (gateway_io, agent_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let welcome = Welcome::new();
        let _ = fuzzing::serve_gateway(&settings, agent_io, &welcome).await;
    });
    let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let tunnel = fuzzing::admit(&hub, gateway_io, peer)
        .await
        .expect("the agent is admitted");
    let kinds = tunnel.agent().kinds.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let keeping = hub.clone();
    tokio::spawn(async move { fuzzing::keep(&keeping, tunnel, peer, stopped).await });
    for _ in 0..200 {
        if !hub.connected().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    (
        hub,
        Agent {
            kinds,
            opened,
            _stop: stop,
        },
    )
}
