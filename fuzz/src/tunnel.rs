//! Helpers for the agent tunnel's targets (`tunnel_gateway`, `tunnel_agent`): the fuzzer's
//! bytes as the far end of a tunnel, a runtime with virtual time, and in-memory stand-ins for
//! an agent's targets and credential store.
//!
//! A tunnel is a conversation: each end answers what the other sent. So a tunnel target's
//! input is a sequence of *turns* separated by [`TURN`]; the in-memory peer ([`Peer`]) hands
//! the next turn over only once the end under test has done all it can (its runtime is idle
//! for a millisecond of virtual time), as a remote peer's bytes arrive after its request went
//! out. Within a turn, reads return at most `chunk` bytes. What the end under test writes is
//! discarded (or recorded, to make seeds).

use gatehouse_core::SecretString;
use gatehouse_pg::{
    BackendKey, Connector, PgConnector, PgError, PostgresTargets, UpstreamSession,
};
use gatehouse_tunnel::fuzzing;
use gatehouse_tunnel::{
    Admission, AgentAuthority, CredentialStore, Hello, RoutedConnector, TunnelError,
};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::watch;
use tokio::time::Sleep;

/// `gatehouse_pipeline::BoxFuture`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Separates the turns of a tunnel target's input (not a byte sequence HTTP/2 framing or
/// HPACK produces in these conversations; it is in the dictionary, so the fuzzer can insert it).
pub const TURN: &[u8] = b"\xfe\xfd\xfc\xfbTURN";

/// How long the peer waits, in virtual time, before each turn.
const PAUSE: Duration = Duration::from_millis(1);

/// Install the tunnel targets' panic hook: every panic aborts (a crash for AFL++), except one
/// assertion inside `h2` that only debug builds have — cargo-afl always builds with debug
/// assertions — which fires when an HTTP/2 connection is dropped while its stream counters are
/// not back to zero, a legitimate teardown (hyperium/h2#907 removes it as spurious; release
/// builds, which gatehouse ships, do not contain it). That one ends the run as a normal exit.
pub fn panic_hook() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
        let h2_teardown = info.location().is_some_and(|at| {
            at.file().contains("/h2-") && at.file().ends_with("src/proto/streams/counts.rs")
        }) && message == Some("assertion failed: !self.has_streams()");
        if h2_teardown {
            std::process::exit(0);
        }
        report(info);
        std::process::abort();
    }));
}

/// Split a tunnel target's input into turns.
pub fn turns(data: &[u8]) -> Vec<Vec<u8>> {
    let mut turns = Vec::new();
    let mut rest = data;
    loop {
        let (turn, after) = crate::split_once(rest, TURN);
        turns.push(turn.to_vec());
        if after.is_empty() && turn.len() == rest.len() {
            return turns;
        }
        rest = after;
    }
}

/// Join turns into one input.
pub fn join_turns(turns: &[Vec<u8>]) -> Vec<u8> {
    turns.join(TURN)
}

/// A current-thread runtime whose clock is paused: when every task waits, time jumps to the
/// next timer, so the tunnel's timeouts (seconds) cost nothing and a run is deterministic.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

/// Input byte 0 of a tunnel target: how big a read is, and what the peer does after its last
/// turn.
pub struct Pacing {
    pub chunk: usize,
    /// Never answer again (the connection stays open) instead of closing.
    pub stall_at_end: bool,
}

impl Pacing {
    /// Bits 0–2 the read size (1, 2, 3, 7, 16, 64, 1024 or 16384 bytes: a TLS record's
    /// worth), bit 3 stall (1) or close (0) after the last turn.
    pub fn from_byte(byte: u8) -> Self {
        const CHUNKS: [usize; 8] = [1, 2, 3, 7, 16, 64, 1024, 16384];
        Pacing {
            chunk: CHUNKS[usize::from(byte & 7)],
            stall_at_end: byte & 8 != 0,
        }
    }
}

/// The far end of a tunnel, playing back turns of bytes (see the module's documentation).
pub struct Peer {
    turns: VecDeque<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
    chunk: usize,
    stall_at_end: bool,
    pause: Option<Pin<Box<Sleep>>>,
}

impl Peer {
    pub fn new(turns: Vec<Vec<u8>>, pacing: &Pacing) -> Self {
        Peer {
            turns: turns.into(),
            current: Vec::new(),
            at: 0,
            chunk: pacing.chunk.max(1),
            stall_at_end: pacing.stall_at_end,
            pause: None,
        }
    }
}

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.at < this.current.len() {
                let n = (this.current.len() - this.at)
                    .min(this.chunk)
                    .min(buf.remaining());
                buf.put_slice(&this.current[this.at..this.at + n]);
                this.at += n;
                return Poll::Ready(Ok(()));
            }
            if this.turns.is_empty() {
                return if this.stall_at_end {
                    // Nothing will ever wake this read: the peer is silent, not gone.
                    Poll::Pending
                } else {
                    Poll::Ready(Ok(()))
                };
            }
            let pause = this
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(PAUSE)));
            ready!(pause.as_mut().poll(cx));
            this.pause = None;
            this.current = this.turns.pop_front().unwrap_or_default();
            this.at = 0;
        }
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// One end of an in-memory connection that records what its side writes, in turns: a new
/// turn starts whenever the other side wrote in between. Two of them over a `duplex` make a
/// real exchange whose turns can be played back by a [`Peer`].
pub struct Tap<S> {
    inner: S,
    side: u8,
    log: Arc<Mutex<Vec<(u8, Vec<u8>)>>>,
}

impl<S> Tap<S> {
    pub fn new(inner: S, side: u8, log: Arc<Mutex<Vec<(u8, Vec<u8>)>>>) -> Self {
        Tap { inner, side, log }
    }
}

/// The turns `side` wrote in a log two [`Tap`]s shared.
pub fn turns_of(log: &[(u8, Vec<u8>)], side: u8) -> Vec<Vec<u8>> {
    let mut turns: Vec<Vec<u8>> = Vec::new();
    let mut last = None;
    for (writer, bytes) in log {
        if *writer == side {
            match turns.last_mut() {
                Some(turn) if last == Some(side) => turn.extend_from_slice(bytes),
                _ => turns.push(bytes.clone()),
            }
        }
        last = Some(*writer);
    }
    turns
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let n = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        let side = self.side;
        self.log
            .lock()
            .unwrap()
            .push((side, buf.get(..n).unwrap_or_default().to_vec()));
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the in-memory target server says when a session opens (AuthenticationOk is the
/// connector's business; this is what follows it: a ReadyForQuery), and what it answers to
/// anything (a CommandComplete and a ReadyForQuery).
pub const SERVER_GREETING: &[u8] = b"Z\0\0\0\x05I";
pub const SERVER_ANSWER: &[u8] = b"C\0\0\0\x0dSELECT 1\0Z\0\0\0\x05I";

/// The server parameters and cancel key the in-memory target reports.
pub fn server_parameters() -> Vec<(String, String)> {
    vec![
        ("server_version".to_owned(), "15.4".to_owned()),
        ("client_encoding".to_owned(), "UTF8".to_owned()),
        ("application_name".to_owned(), "psql \"fuzz\" é".to_owned()),
    ]
}
pub const SERVER_KEY: BackendKey = BackendKey {
    process_id: 4242,
    secret: -17,
};

/// An agent's connector: in-memory sessions (a server that greets, answers each read with
/// [`SERVER_ANSWER`] and ends when the session does), or refusals of every open.
pub struct FakeTargets {
    pub serve: bool,
    /// Called before every open or cancel: the target's assertion that serving is allowed.
    pub check: Box<dyn Fn(&str) + Send + Sync>,
    pub opened: AtomicUsize,
    pub cancelled: AtomicUsize,
}

impl FakeTargets {
    pub fn new(serve: bool, check: impl Fn(&str) + Send + Sync + 'static) -> Self {
        FakeTargets {
            serve,
            check: Box::new(check),
            opened: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
        }
    }
}

impl Connector for FakeTargets {
    fn open<'a>(
        &'a self,
        connection: &'a str,
        _login_level: &'a str,
        _client_parameters: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<UpstreamSession, PgError>> {
        (self.check)("open");
        self.opened.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            if !self.serve {
                return Err(PgError::Upstream(format!(
                    "connection `{connection}` refused by the fuzz target"
                )));
            }
            let (ours, mut theirs) = tokio::io::duplex(4096);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                if theirs.write_all(SERVER_GREETING).await.is_err() {
                    return;
                }
                while let Ok(n) = theirs.read(&mut buf).await {
                    if n == 0 || theirs.write_all(SERVER_ANSWER).await.is_err() {
                        return;
                    }
                }
            });
            Ok(UpstreamSession {
                stream: Box::new(ours),
                parameters: server_parameters(),
                key: Some(SERVER_KEY),
                leftover: bytes::BytesMut::from(&b"N\0\0\0\x05\0"[..]),
            })
        })
    }

    fn cancel<'a>(
        &'a self,
        _connection: &'a str,
        _key: BackendKey,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        (self.check)("cancel");
        self.cancelled.fetch_add(1, Ordering::Relaxed);
        let serve = self.serve;
        Box::pin(async move {
            if serve {
                Ok(())
            } else {
                Err(PgError::Upstream(
                    "cancel refused by the fuzz target".to_owned(),
                ))
            }
        })
    }
}

/// A credential store in memory.
#[derive(Default)]
pub struct MemoryCredentials(pub Mutex<Option<String>>);

impl CredentialStore for MemoryCredentials {
    fn load(&self) -> Result<Option<SecretString>, TunnelError> {
        Ok(self.0.lock().unwrap().clone().map(SecretString::new))
    }

    fn save(&self, credential: &SecretString) -> Result<(), TunnelError> {
        *self.0.lock().unwrap() = Some(credential.expose().to_owned());
        Ok(())
    }
}

/// The gateway's authority in the tunnel targets: refuses everything, or (`admitting`) admits
/// the agent `dc1`, issuing a credential when it enrols with a token.
pub struct FakeAuthority {
    pub admitting: bool,
    /// How many hellos it admitted.
    pub admitted: AtomicUsize,
}

impl AgentAuthority for FakeAuthority {
    fn admit<'a>(
        &'a self,
        hello: &'a Hello,
        _peer: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, String>> {
        Box::pin(async move {
            if self.admitting && hello.agent == "dc1" {
                self.admitted.fetch_add(1, Ordering::Relaxed);
                Ok(Admission {
                    issued_credential: hello
                        .enrolment_token
                        .as_ref()
                        .map(|_| SecretString::new("issued-credential")),
                })
            } else {
                Err("the credential is not valid (fuzz target)".to_owned())
            }
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

/// The gateway's built-in connector in the tunnel targets: never used (every connection
/// there is served by agents), so it fails.
pub struct NoDirect;

impl Connector for NoDirect {
    fn open<'a>(
        &'a self,
        connection: &'a str,
        _: &'a str,
        _: &'a [(String, String)],
    ) -> BoxFuture<'a, Result<UpstreamSession, PgError>> {
        Box::pin(async move {
            panic!("connection `{connection}` was dialled directly, not through its agent")
        })
    }

    fn cancel<'a>(
        &'a self,
        connection: &'a str,
        _: BackendKey,
    ) -> BoxFuture<'a, Result<(), PgError>> {
        Box::pin(async move {
            panic!("a cancel for `{connection}` was sent directly, not through its agent")
        })
    }
}

pub const PEER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);
/// What the gateway asks of a session: the client's startup parameters, and its first query.
pub fn client_parameters() -> Vec<(String, String)> {
    vec![
        ("application_name".to_owned(), "fuzz".to_owned()),
        ("client_encoding".to_owned(), "UTF8".to_owned()),
    ]
}
pub const CLIENT_QUERY: &[u8] = b"Q\0\0\0\x0dSELECT 1\0";

/// How far the gateway's end got with an agent's bytes.
#[derive(Debug, Default)]
pub struct GatewayOutcome {
    pub admitted: bool,
    pub session: Option<Result<usize, String>>,
    pub cancel: Option<Result<(), String>>,
}

/// The gateway's end of a tunnel whose agent is `io`: admission by `authority` (routes:
/// `prod` → `dc1`), and once admitted, the link kept, one session opened through it (a query
/// written, the stream shut, everything read until it ends), one cancel relayed through the
/// [`RoutedConnector`], then the gateway shuts down. Asserts the target's invariants (see
/// `tunnel_gateway.rs`).
pub async fn gateway_end<S>(io: S, authority: Arc<FakeAuthority>) -> GatewayOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let routes = HashMap::from([("prod".to_owned(), vec!["dc1".to_owned()])]);
    let hub = fuzzing::hub(authority.clone(), routes).expect("a hub");
    let mut outcome = GatewayOutcome::default();
    let admitted = fuzzing::admit(&hub, io, PEER).await;
    assert!(hub.connected().is_empty(), "a link before admission ended");
    let Some(tunnel) = admitted else {
        return outcome;
    };
    outcome.admitted = true;
    assert!(
        authority.admitting,
        "an authority that refuses everything admitted an agent"
    );
    assert_eq!(authority.admitted.load(Ordering::Relaxed), 1);
    let agent = tunnel.agent().clone();
    assert_eq!(agent.name, "dc1");
    assert!(!agent.connections.is_empty());
    assert!(
        agent.connections.iter().all(|c| c == "prod"),
        "unrouted connections admitted: {:?}",
        agent.connections
    );

    let (stop, shutdown) = watch::channel(false);
    let keeping = tokio::spawn({
        let hub = hub.clone();
        async move { fuzzing::keep(&hub, tunnel, PEER, shutdown).await }
    });
    for _ in 0..100 {
        if !hub.connected().is_empty() || keeping.is_finished() {
            break;
        }
        tokio::task::yield_now().await;
    }

    let (head, opened) = fuzzing::open_session(&hub, "prod", "admin", &client_parameters()).await;
    let mut key = None;
    match opened {
        Ok(mut session) => {
            let head = head.expect("a session comes from an answer");
            check_session_head(&head, &session);
            key = session.key;
            let _ = session.stream.write_all(CLIENT_QUERY).await;
            let _ = session.stream.shutdown().await;
            let mut received = Vec::new();
            let read = session.stream.read_to_end(&mut received).await;
            outcome.session = Some(read.map(|_| received.len()).map_err(|e| e.to_string()));
        }
        Err(error) => outcome.session = Some(Err(error.to_string())),
    }
    let routed = RoutedConnector::new(
        Arc::new(PostgresTargets::new(Arc::new(NoDirect))),
        hub.clone(),
    );
    let connector = PgConnector::new(Arc::new(routed));
    let cancel = connector.cancel("prod", key.unwrap_or(SERVER_KEY)).await;
    outcome.cancel = Some(cancel.map_err(|e| e.to_string()));

    stop.send_replace(true);
    keeping.await.expect("the link ends");
    assert!(hub.connected().is_empty(), "a link outlived its tunnel");
    outcome
}

/// A session opened only from a 200 that says what the server said: the first
/// `gatehouse-opened` (JSON: `parameters` pairs equal to the session's, `backend_key` the
/// session's key or null), or, without one (an agent from before kinds), the first
/// `gatehouse-parameters` (JSON pairs, equal to the session's) and `gatehouse-backend-key`
/// (`<i32>:<i32>`, equal to the session's key; absent: no key).
fn check_session_head(head: &fuzzing::SessionHead, session: &UpstreamSession) {
    assert_eq!(head.status, 200, "a session opened from a non-200 answer");
    let first = |name: &str| {
        head.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    };
    if let Some(opened) = first("gatehouse-opened") {
        let details: serde_json::Value =
            serde_json::from_slice(opened).expect("a session opened from a malformed answer");
        assert_eq!(
            gatehouse_pg::targets::parameters_of(&details).as_ref(),
            Some(&session.parameters)
        );
        assert_eq!(
            gatehouse_pg::targets::backend_key_of(&details).expect("a malformed key"),
            session.key
        );
        return;
    }
    let parameters: Vec<(String, String)> = serde_json::from_slice(
        first("gatehouse-parameters").expect("a session opened without server parameters"),
    )
    .expect("a session opened with malformed server parameters");
    assert_eq!(parameters, session.parameters);
    match first("gatehouse-backend-key") {
        None => assert!(session.key.is_none()),
        Some(value) => {
            let text = std::str::from_utf8(value).expect("a session opened with a non-UTF-8 key");
            let (pid, secret) = text
                .split_once(':')
                .expect("a session opened with a key without ':'");
            let key = session.key.expect("a key header but no key");
            assert_eq!(pid.parse::<i32>().ok(), Some(key.process_id));
            assert_eq!(secret.parse::<i32>().ok(), Some(key.secret));
        }
    }
}

/// How far the agent's end got with a gateway's bytes.
#[derive(Debug)]
pub struct AgentOutcome {
    pub ended: Result<(), TunnelError>,
    pub welcomed: bool,
    pub opened: usize,
    pub cancelled: usize,
}

/// The agent's end of a tunnel whose gateway is `io`: agent `dc1` serving `connections`
/// through in-memory targets (`serve`) or ones that refuse, holding a credential (`enrolled`)
/// or else an enrolment token. Asserts the target's invariants (see `tunnel_agent.rs`).
pub async fn agent_end<S>(io: S, connections: &[&str], serve: bool, enrolled: bool) -> AgentOutcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let welcome = fuzzing::Welcome::new();
    let seen = welcome.clone();
    let targets = Arc::new(FakeTargets::new(serve, move |what| {
        assert!(
            seen.received(),
            "the agent served a {what} request before a welcome verdict"
        );
    }));
    let credentials = Arc::new(MemoryCredentials::default());
    if enrolled {
        *credentials.0.lock().unwrap() = Some("agent-credential".to_owned());
    }
    let settings = Arc::new(
        fuzzing::agent_settings(
            "dc1",
            connections.iter().map(|c| (*c).to_owned()).collect(),
            Arc::new(PostgresTargets::new(targets.clone())),
            credentials,
            (!enrolled).then(|| SecretString::new("enrolment-token")),
        )
        .expect("agent settings"),
    );
    let ended = fuzzing::serve_gateway(&settings, io, &welcome).await;
    AgentOutcome {
        ended,
        welcomed: welcome.received(),
        opened: targets.opened.load(Ordering::Relaxed),
        cancelled: targets.cancelled.load(Ordering::Relaxed),
    }
}
