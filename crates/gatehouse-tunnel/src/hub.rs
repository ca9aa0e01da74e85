//! The gateway's end of the tunnels: accepts agents on the agent listener, admits them
//! (credential, and only the connections the gateway routes to them), keeps the live ones,
//! and opens sessions through them for [`RoutedConnector`]. When no agent for a connection is
//! connected, opening fails at once with an error naming the agents — never a wait, never
//! another path.

use crate::hello::{Hello, HelloAnswer, MAX_HELLO_BYTES, serves_kind, serves_level};
use crate::stream::TunnelStream;
use bytes::Bytes;
use gatehouse_core::SecretString;
use gatehouse_pg::BackendKey;
use gatehouse_pg::targets::{self, POSTGRES_KIND};
use gatehouse_pipeline::BoxFuture;
use gatehouse_session::{ConnectError, OpenRequest, Opened, TargetConnector};
use h2::SendStream;
use h2::client::SendRequest;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Time an agent has from TCP connect to being admitted.
const ADMISSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the gateway checks that an agent still answers.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a keepalive ping may go unanswered before the agent counts as gone.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an agent has to open the target session (it has its own connect timeout too).
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The session request's header naming the server login level the agent logs in as (absent:
/// `admin`, the connection's own login, as before login levels).
pub(crate) const LOGIN_LEVEL_HEADER: &str = "gatehouse-login-level";
/// The session (or signal) request's header naming the connection kind (absent: `postgres`,
/// as before kinds).
pub(crate) const KIND_HEADER: &str = "gatehouse-kind";
/// The session (or signal) request's header carrying the kind-specific details (JSON).
pub(crate) const OPEN_HEADER: &str = "gatehouse-open";
/// The session answer's header carrying what the target said while opening (JSON).
pub(crate) const OPENED_HEADER: &str = "gatehouse-opened";
/// Per-session and per-tunnel HTTP/2 flow-control windows.
pub(crate) const STREAM_WINDOW: u32 = 1 << 20;
/// Largest header list either end accepts (the session headers are a few hundred bytes).
pub(crate) const MAX_HEADER_LIST: u32 = 64 * 1024;
/// Streams the gateway may have open on one agent at once (sessions, cancels, the opening).
pub(crate) const MAX_STREAMS_PER_TUNNEL: u32 = 4096;
pub(crate) const CONNECTION_WINDOW: u32 = 16 << 20;

/// Decides which agents may connect, and hears when they go.
pub trait AgentAuthority: Send + Sync {
    /// Check the hello's credential or enrolment token (the hub has already checked that
    /// every announced connection is routed to this agent). `Err` is the refusal reason the
    /// agent is told.
    fn admit<'a>(
        &'a self,
        hello: &'a Hello,
        peer: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, String>>;

    /// A hello was refused by the hub itself (the reason says why).
    fn refused<'a>(
        &'a self,
        hello: &'a Hello,
        peer: SocketAddr,
        reason: &'a str,
    ) -> BoxFuture<'a, ()>;

    /// An admitted agent answered a keepalive (every 10 s while connected).
    fn alive<'a>(&'a self, agent: &'a str) -> BoxFuture<'a, ()>;

    /// An admitted agent's tunnel ended.
    fn disconnected<'a>(
        &'a self,
        agent: &'a str,
        peer: SocketAddr,
        reason: &'a str,
    ) -> BoxFuture<'a, ()>;
}

/// An admitted agent.
pub struct Admission {
    /// A credential issued on enrolment, sent to the agent in the welcome.
    pub issued_credential: Option<SecretString>,
}

/// A live agent, as status shows it.
#[derive(Debug, Clone)]
pub struct ConnectedAgent {
    pub name: String,
    pub version: String,
    pub connections: Vec<String>,
    /// The server login levels it has credentials for, per connection (see [`Hello`]).
    pub login_levels: BTreeMap<String, Vec<String>>,
    /// The connection kinds it opens (see [`Hello`]).
    pub kinds: Vec<String>,
    pub peer: SocketAddr,
}

struct Link {
    agent: ConnectedAgent,
    sender: SendRequest<Bytes>,
    /// Set to a reason to close the tunnel (the agent was revoked).
    close: watch::Sender<Option<String>>,
}

/// The live tunnels and the routes through them.
pub struct AgentHub {
    authority: Arc<dyn AgentAuthority>,
    tls: TlsAcceptor,
    /// Connection name → the agents the gateway's config says serve it.
    routes: HashMap<String, Vec<String>>,
    links: Mutex<HashMap<u64, Link>>,
    next_link: AtomicU64,
    next_pick: AtomicUsize,
}

impl AgentHub {
    pub fn new(
        authority: Arc<dyn AgentAuthority>,
        tls: TlsAcceptor,
        routes: HashMap<String, Vec<String>>,
    ) -> Arc<AgentHub> {
        Arc::new(AgentHub {
            authority,
            tls,
            routes,
            links: Mutex::new(HashMap::new()),
            next_link: AtomicU64::new(0),
            next_pick: AtomicUsize::new(0),
        })
    }

    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Link>> {
        // Inserts and removes are single operations: a poisoned map is still consistent.
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `connection` is served by agents rather than dialled directly.
    pub fn serves(&self, connection: &str) -> bool {
        self.routes.contains_key(connection)
    }

    /// The agents connected now.
    pub fn connected(&self) -> Vec<ConnectedAgent> {
        let mut agents: Vec<ConnectedAgent> =
            self.links().values().map(|l| l.agent.clone()).collect();
        agents.sort_by(|a, b| a.name.cmp(&b.name));
        agents
    }

    /// Close every tunnel of agent `name` (it was revoked); returns how many. Its sessions
    /// end with the tunnel.
    pub fn close_agent(&self, name: &str, reason: &str) -> usize {
        let links = self.links();
        let mut closed = 0;
        for link in links.values().filter(|link| link.agent.name == name) {
            link.close.send_replace(Some(reason.to_owned()));
            closed += 1;
        }
        closed
    }

    /// Accept agents on `listener` until `shutdown` becomes true.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
        let mut stop = shutdown.clone();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        tokio::spawn(self.clone().handle(tcp, peer, shutdown.clone()));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accepting an agent failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }

    async fn handle(
        self: Arc<Self>,
        tcp: TcpStream,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) {
        let _ = tcp.set_nodelay(true);
        let opening = async {
            let tls = self
                .tls
                .accept(tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            self.admit(tls, peer).await
        };
        let Some(admitted) = admit_within(opening, peer).await else {
            return;
        };
        self.keep(admitted, peer, shutdown).await;
    }

    /// Keep an admitted agent's tunnel as a live link until it ends.
    pub(crate) async fn keep(
        &self,
        admitted: Admitted,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) {
        let Admitted {
            agent,
            sender,
            mut connection,
        } = admitted;
        let ping_pong = connection.ping_pong();
        let id = self.next_link.fetch_add(1, Ordering::Relaxed);
        let (close, closed) = watch::channel(None);
        self.links().insert(
            id,
            Link {
                agent: agent.clone(),
                sender,
                close,
            },
        );
        // Logged once sessions can be routed through it, not before.
        tracing::info!(
            agent = %agent.name,
            %peer,
            version = %agent.version,
            connections = ?agent.connections,
            login_levels = ?agent.login_levels,
            "agent connected"
        );
        let link = LinkWatch {
            agent: &agent.name,
            authority: self.authority.as_ref(),
        };
        let reason = link.watch(connection, ping_pong, shutdown, closed).await;
        self.links().remove(&id);
        tracing::warn!(agent = %agent.name, %peer, "agent disconnected: {reason}");
        self.authority
            .disconnected(&agent.name, peer, &reason)
            .await;
    }

    /// HTTP/2 (the gateway as client), hello, verdict, over an agent's TLS-terminated
    /// connection.
    pub(crate) async fn admit<S>(&self, io: S, peer: SocketAddr) -> Result<Admitted, String>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Anyone who reaches the agent listener gets this far before admission: no server
        // push, and headers bounded, so a stranger cannot make the gateway hold much.
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .max_header_list_size(MAX_HEADER_LIST)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| format!("HTTP/2 handshake failed: {e}"))?;
        let connection = DrivenConnection::spawn(connection);
        let hello = ask_hello(sender.clone())
            .await
            .map_err(|e| format!("no usable hello: {e}"))?;
        let verdict = match self.check_routes(&hello) {
            Err(reason) => {
                self.authority.refused(&hello, peer, &reason).await;
                HelloAnswer::Refused { reason }
            }
            Ok(()) => match self.authority.admit(&hello, peer).await {
                Ok(admission) => HelloAnswer::Welcome {
                    credential: admission.issued_credential,
                },
                Err(reason) => HelloAnswer::Refused { reason },
            },
        };
        let sent = send_verdict(sender.clone(), &verdict).await;
        if let HelloAnswer::Refused { reason } = verdict {
            // Let the refusal reach the agent before the tunnel closes.
            tokio::time::sleep(Duration::from_millis(100)).await;
            connection.abort();
            return Err(format!("agent `{}`: {reason}", hello.agent));
        }
        sent.map_err(|e| {
            format!(
                "agent `{}`: the welcome was not delivered: {e}",
                hello.agent
            )
        })?;
        Ok(Admitted {
            agent: ConnectedAgent {
                name: hello.agent,
                version: hello.version,
                connections: hello.connections,
                login_levels: hello.login_levels,
                kinds: hello.kinds,
                peer,
            },
            sender,
            connection,
        })
    }

    /// Every connection the agent announces must be one the gateway routes to it.
    fn check_routes(&self, hello: &Hello) -> Result<(), String> {
        if hello.connections.is_empty() {
            return Err("the agent serves no connections".to_owned());
        }
        for connection in &hello.connections {
            let routed = self
                .routes
                .get(connection)
                .is_some_and(|agents| agents.contains(&hello.agent));
            if !routed {
                return Err(format!(
                    "agent `{}` announces connection `{connection}`, which the gateway's config does not route to it \
                     (add `agents = [\"{}\"]` to that connection in the gateway's config, or remove it from the agent's)",
                    hello.agent, hello.agent
                ));
            }
        }
        Ok(())
    }

    /// A live tunnel for `connection` (with a login of `login_level`, when one is asked
    /// for), taking turns among the agents serving it.
    fn pick(
        &self,
        connection: &str,
        kind: &str,
        login_level: Option<&str>,
    ) -> Result<(String, SendRequest<Bytes>), ConnectError> {
        let links = self.links();
        let mut candidates: Vec<(&u64, &Link)> = links
            .iter()
            .filter(|(_, link)| link.agent.connections.iter().any(|c| c == connection))
            .collect();
        candidates.sort_by_key(|(id, _)| **id);
        if candidates.is_empty() {
            let agents = self.routes.get(connection).cloned().unwrap_or_default();
            let named = agents
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let message = if agents.len() == 1 {
                format!(
                    "connection `{connection}` is served by agent {named}, which is not connected"
                )
            } else {
                format!(
                    "connection `{connection}` is served by agents {named}, none of which is connected"
                )
            };
            return Err(ConnectError::Unavailable(message));
        }
        let connected: Vec<String> = candidates
            .iter()
            .map(|(_, link)| format!("`{}`", link.agent.name))
            .collect();
        candidates.retain(|(_, link)| serves_kind(&link.agent.kinds, kind));
        if candidates.is_empty() {
            return Err(ConnectError::Unavailable(format!(
                "connection `{connection}`: the connected agent(s) {} do not open `{kind}` targets; upgrade them",
                connected.join(", ")
            )));
        }
        if let Some(level) = login_level {
            let connected: Vec<String> = candidates
                .iter()
                .map(|(_, link)| format!("`{}`", link.agent.name))
                .collect();
            candidates
                .retain(|(_, link)| serves_level(&link.agent.login_levels, connection, level));
            if candidates.is_empty() {
                return Err(ConnectError::Unavailable(format!(
                    "connection `{connection}`: the connected agent(s) {} have no server login of level `{level}`; \
                     add a [[connections.logins]] entry with level = \"{level}\" (its user and password) to connection \
                     `{connection}` in the agent's config and restart the agent",
                    connected.join(", ")
                )));
            }
        }
        let turn = self.next_pick.fetch_add(1, Ordering::Relaxed) % candidates.len();
        let (_, link) = candidates
            .get(turn)
            .ok_or_else(|| ConnectError::Unavailable("no agent link".to_owned()))?;
        Ok((link.agent.name.clone(), link.sender.clone()))
    }

    async fn open(&self, connection: &str, request: &OpenRequest) -> Result<Opened, ConnectError> {
        let (agent, response, send) = self.request_session(connection, request).await?;
        let (parts, body) = response.into_parts();
        session_from_response(&agent, connection, &request.kind, &parts, body, send).await
    }

    /// Ask an agent serving `connection` (its kind, with a login of the request's level) to
    /// open a session: its name, its response's head and body, and the request body's sender.
    pub(crate) async fn request_session(
        &self,
        connection: &str,
        open: &OpenRequest,
    ) -> Result<(String, http::Response<h2::RecvStream>, SendStream<Bytes>), ConnectError> {
        let (agent, sender) = self.pick(connection, &open.kind, Some(&open.login_level))?;
        let details = serde_json::to_vec(&open.details).map_err(|e| {
            ConnectError::Unavailable(format!("cannot encode the open request: {e}"))
        })?;
        let mut request = http::Request::post("/v1/sessions")
            .header("gatehouse-connection", connection)
            .header(KIND_HEADER, open.kind.as_str())
            .header(LOGIN_LEVEL_HEADER, open.login_level.as_str())
            .header(OPEN_HEADER, details);
        if open.kind == POSTGRES_KIND {
            // Agents from before kinds read the startup parameters from their own header.
            let parameters = targets::parameters_of(&open.details).unwrap_or_default();
            let legacy = serde_json::to_vec(&parameters).map_err(|e| {
                ConnectError::Unavailable(format!("cannot encode startup parameters: {e}"))
            })?;
            request = request.header("gatehouse-parameters", legacy);
        }
        let request = request.body(()).map_err(|e| {
            ConnectError::Unavailable(format!("cannot build the session request: {e}"))
        })?;
        let opening = async {
            let mut sender = sender.ready().await?;
            let (response, send) = sender.send_request(request, false)?;
            Ok::<_, h2::Error>((response.await?, send))
        };
        let (response, send) = tokio::time::timeout(OPEN_TIMEOUT, opening)
            .await
            .map_err(|_| {
                ConnectError::Unavailable(format!(
                    "agent `{agent}` did not open connection `{connection}` within {OPEN_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| {
                ConnectError::Unavailable(format!(
                    "agent `{agent}` could not open connection `{connection}`: the tunnel failed ({e})"
                ))
            })?;
        Ok((agent, response, send))
    }

    async fn signal(&self, connection: &str, signal: &OpenRequest) -> Result<(), ConnectError> {
        let (agent, sender) = self.pick(connection, &signal.kind, None)?;
        let details = serde_json::to_vec(&signal.details)
            .map_err(|e| ConnectError::Unavailable(format!("cannot encode the signal: {e}")))?;
        let mut request = http::Request::post("/v1/cancel")
            .header("gatehouse-connection", connection)
            .header(KIND_HEADER, signal.kind.as_str())
            .header(OPEN_HEADER, details);
        if let Some(key) = signal.details.get("cancel") {
            // Agents from before kinds read a PostgreSQL cancel key from its own header.
            let process_id = key.get("process_id").and_then(|v| v.as_i64()).unwrap_or(0);
            let secret = key.get("secret").and_then(|v| v.as_i64()).unwrap_or(0);
            request = request.header("gatehouse-backend-key", format!("{process_id}:{secret}"));
        }
        let request = request.body(()).map_err(|e| {
            ConnectError::Unavailable(format!("cannot build the cancel request: {e}"))
        })?;
        let sending = async {
            let mut sender = sender.ready().await?;
            let (response, _) = sender.send_request(request, true)?;
            response.await
        };
        let response = tokio::time::timeout(OPEN_TIMEOUT, sending)
            .await
            .map_err(|_| {
                ConnectError::Unavailable(format!(
                    "agent `{agent}` did not relay the signal within {OPEN_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| {
                ConnectError::Unavailable(format!("agent `{agent}`: signal failed: {e}"))
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(ConnectError::Unavailable(format!(
                "agent `{agent}` could not relay the signal (HTTP status {})",
                response.status()
            )))
        }
    }
}

/// The session an agent's answer to `POST /v1/sessions` opened: status 200 and what the
/// target said in `gatehouse-opened` (JSON; an agent from before kinds sends PostgreSQL's
/// startup parameters in `gatehouse-parameters` and its cancel key in
/// `gatehouse-backend-key` instead); any other status is the agent's refusal (its `error`,
/// when the body says).
pub(crate) async fn session_from_response(
    agent: &str,
    connection: &str,
    kind: &str,
    parts: &http::response::Parts,
    body: h2::RecvStream,
    send: SendStream<Bytes>,
) -> Result<Opened, ConnectError> {
    if parts.status != http::StatusCode::OK {
        // The error body is small and must come promptly too.
        let text = tokio::time::timeout(OPEN_TIMEOUT, read_body(body, MAX_HELLO_BYTES))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let reason = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP status {}", parts.status));
        return Err(ConnectError::Unavailable(format!(
            "agent `{agent}` could not open connection `{connection}`: {reason}"
        )));
    }
    let details = match parts.headers.get(OPENED_HEADER) {
        Some(value) => serde_json::from_slice(value.as_bytes()).map_err(|_| {
            ConnectError::Protocol(format!("agent `{agent}` sent a malformed session answer"))
        })?,
        None if kind == POSTGRES_KIND => legacy_postgres_answer(agent, parts)?,
        None => {
            return Err(ConnectError::Protocol(format!(
                "agent `{agent}` answered without saying what the target said"
            )));
        }
    };
    let stream = TunnelStream::new(send, body, format!("agent `{agent}`"));
    Ok(Opened {
        stream: Box::new(stream),
        details,
        leftover: Vec::new(),
    })
}

/// What an agent from before kinds says about a PostgreSQL session it opened.
fn legacy_postgres_answer(
    agent: &str,
    parts: &http::response::Parts,
) -> Result<serde_json::Value, ConnectError> {
    let parameters: Vec<(String, String)> = parts
        .headers
        .get("gatehouse-parameters")
        .and_then(|v| serde_json::from_slice(v.as_bytes()).ok())
        .ok_or_else(|| {
            ConnectError::Protocol(format!("agent `{agent}` sent no server parameters"))
        })?;
    let key = parts
        .headers
        .get("gatehouse-backend-key")
        .map(|v| parse_key(v.as_bytes()))
        .transpose()
        .map_err(|e| ConnectError::Protocol(format!("agent `{agent}`: {e}")))?;
    Ok(targets::opened_details(&parameters, key))
}

/// An agent admitted on a tunnel, not yet a live link.
pub(crate) struct Admitted {
    pub(crate) agent: ConnectedAgent,
    sender: SendRequest<Bytes>,
    connection: DrivenConnection,
}

/// The tunnel's opening (TLS where there is one, then [`AgentHub::admit`]) within
/// [`ADMISSION_TIMEOUT`]; `None`, logged, when the agent was refused or too slow.
pub(crate) async fn admit_within(
    opening: impl Future<Output = Result<Admitted, String>>,
    peer: SocketAddr,
) -> Option<Admitted> {
    match tokio::time::timeout(ADMISSION_TIMEOUT, opening).await {
        Ok(Ok(admitted)) => Some(admitted),
        Ok(Err(reason)) => {
            tracing::info!(%peer, "agent refused: {reason}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "agent refused: it did not complete the tunnel's opening within {ADMISSION_TIMEOUT:?}");
            None
        }
    }
}

/// The h2 connection task of one tunnel.
struct DrivenConnection {
    task: tokio::task::JoinHandle<Result<(), h2::Error>>,
    ping_pong: Option<h2::PingPong>,
}

impl DrivenConnection {
    fn spawn<S>(mut connection: h2::client::Connection<S, Bytes>) -> Self
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let ping_pong = connection.ping_pong();
        DrivenConnection {
            task: tokio::spawn(connection),
            ping_pong,
        }
    }

    fn ping_pong(&mut self) -> Option<h2::PingPong> {
        self.ping_pong.take()
    }

    fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for DrivenConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One live tunnel being watched.
struct LinkWatch<'a> {
    agent: &'a str,
    authority: &'a dyn AgentAuthority,
}

impl LinkWatch<'_> {
    /// Wait until the tunnel ends; returns why.
    async fn watch(
        &self,
        mut connection: DrivenConnection,
        mut ping_pong: Option<h2::PingPong>,
        mut shutdown: watch::Receiver<bool>,
        mut closed: watch::Receiver<Option<String>>,
    ) -> String {
        let mut ticker = tokio::time::interval(KEEPALIVE_INTERVAL);
        ticker.tick().await;
        loop {
            tokio::select! {
                ended = &mut connection.task => {
                    return match ended {
                        Ok(Ok(())) => "the agent closed the tunnel".to_owned(),
                        Ok(Err(error)) => format!("the tunnel failed: {error}"),
                        Err(_) => "the tunnel task ended".to_owned(),
                    };
                }
                _ = ticker.tick() => {
                    if let Some(pinger) = ping_pong.as_mut() {
                        match tokio::time::timeout(KEEPALIVE_TIMEOUT, pinger.ping(h2::Ping::opaque())).await {
                            Ok(Ok(_)) => self.authority.alive(self.agent).await,
                            Ok(Err(error)) => return format!("keepalive failed: {error}"),
                            Err(_) => return format!("no answer to a keepalive within {KEEPALIVE_TIMEOUT:?}"),
                        }
                    }
                }
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return "the gateway is shutting down".to_owned();
                    }
                }
                changed = closed.changed() => {
                    if changed.is_ok()
                        && let Some(reason) = closed.borrow().clone()
                    {
                        return reason;
                    }
                }
            }
        }
    }
}

async fn ask_hello(sender: SendRequest<Bytes>) -> Result<Hello, String> {
    let request = http::Request::get("/v1/hello")
        .body(())
        .map_err(|e| e.to_string())?;
    let mut sender = sender.ready().await.map_err(|e| e.to_string())?;
    let (response, _) = sender
        .send_request(request, true)
        .map_err(|e| e.to_string())?;
    let response = response.await.map_err(|e| e.to_string())?;
    if response.status() != http::StatusCode::OK {
        return Err(format!(
            "the hello answered HTTP status {}",
            response.status()
        ));
    }
    let body = read_body(response.into_body(), MAX_HELLO_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| format!("the hello is not valid JSON: {e}"))
}

async fn send_verdict(sender: SendRequest<Bytes>, verdict: &HelloAnswer) -> Result<(), String> {
    let body = serde_json::to_vec(verdict).map_err(|e| e.to_string())?;
    let request = http::Request::post("/v1/verdict")
        .body(())
        .map_err(|e| e.to_string())?;
    let mut sender = sender.ready().await.map_err(|e| e.to_string())?;
    let (response, mut send) = sender
        .send_request(request, false)
        .map_err(|e| e.to_string())?;
    send.send_data(Bytes::from(body), true)
        .map_err(|e| e.to_string())?;
    let response = response.await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the verdict answered HTTP status {}",
            response.status()
        ))
    }
}

/// Read a whole (small) body, refusing more than `limit` bytes.
pub(crate) async fn read_body(mut body: h2::RecvStream, limit: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if bytes.len() + chunk.len() > limit {
            return Err(format!("the body is over the {limit}-byte limit"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `"<process id>:<secret>"`.
pub(crate) fn parse_key(text: &[u8]) -> Result<BackendKey, String> {
    let text = std::str::from_utf8(text).map_err(|_| "a malformed cancel key".to_owned())?;
    let (pid, secret) = text
        .split_once(':')
        .ok_or_else(|| "a malformed cancel key".to_owned())?;
    Ok(BackendKey {
        process_id: pid
            .parse()
            .map_err(|_| "a malformed cancel key".to_owned())?,
        secret: secret
            .parse()
            .map_err(|_| "a malformed cancel key".to_owned())?,
    })
}

/// The hub opens sessions of agent-served connections only (the Kubernetes adapter's
/// upstream for them); its kinds are those its connected agents announced.
impl TargetConnector for AgentHub {
    fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .connected()
            .into_iter()
            .flat_map(|agent| {
                // An agent from before kinds opens PostgreSQL targets only.
                if agent.kinds.is_empty() {
                    vec![POSTGRES_KIND.to_owned()]
                } else {
                    agent.kinds
                }
            })
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(AgentHub::open(self, connection, request))
    }

    fn signal<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        Box::pin(AgentHub::signal(self, connection, request))
    }
}

/// The gateway's connector: connections served by agents go through the hub, the rest are
/// opened directly by the built-in connector.
pub struct RoutedConnector {
    builtin: Arc<dyn TargetConnector>,
    hub: Arc<AgentHub>,
}

impl RoutedConnector {
    pub fn new(builtin: Arc<dyn TargetConnector>, hub: Arc<AgentHub>) -> Self {
        RoutedConnector { builtin, hub }
    }
}

impl TargetConnector for RoutedConnector {
    fn kinds(&self) -> Vec<String> {
        self.builtin.kinds()
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        if self.hub.serves(connection) {
            Box::pin(self.hub.open(connection, request))
        } else {
            self.builtin.open(connection, request)
        }
    }

    fn signal<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        if self.hub.serves(connection) {
            Box::pin(self.hub.signal(connection, request))
        } else {
            self.builtin.signal(connection, request)
        }
    }
}
