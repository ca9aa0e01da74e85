//! The agent's end: dial the gateway (TCP, TLS verified against the gateway's CA), serve
//! HTTP/2 on that connection, introduce itself, and then open target sessions on the
//! gateway's behalf with the agent's own credentials — which never cross the tunnel. Lost
//! tunnels are dialled again with exponential backoff and jitter; a refusal by the gateway
//! ends the agent with the gateway's reason (retrying a revoked credential helps nobody).

use crate::TunnelError;
use crate::hello::serves_level;
use crate::hello::{Hello, HelloAnswer, MAX_HELLO_BYTES};
use crate::hub::{
    CONNECTION_WINDOW, KIND_HEADER, LOGIN_LEVEL_HEADER, MAX_HEADER_LIST, MAX_STREAMS_PER_TUNNEL,
    OPEN_HEADER, OPENED_HEADER, STREAM_WINDOW, parse_key, read_body,
};
use crate::stream::TunnelStream;
use bytes::Bytes;
use gatehouse_core::SecretString;
use gatehouse_pg::targets::{self, POSTGRES_KIND};
use gatehouse_session::{OpenRequest, TargetConnector};
use h2::server::SendResponse;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// Time allowed for each of TCP connect, TLS handshake and HTTP/2 handshake with the gateway.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// First and longest wait before dialling again.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A tunnel that stayed up this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long open sessions get when the agent stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Keepalive from the agent's side (the gateway pings too).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the agent keeps the credential it got at enrolment.
pub trait CredentialStore: Send + Sync {
    fn load(&self) -> Result<Option<SecretString>, TunnelError>;
    fn save(&self, credential: &SecretString) -> Result<(), TunnelError>;
}

/// Everything the agent needs.
pub struct AgentSettings {
    pub name: String,
    pub version: String,
    /// `host:port` of the gateway's agent listener.
    pub gateway: String,
    /// The name the gateway's certificate must carry.
    pub server_name: rustls::pki_types::ServerName<'static>,
    pub tls: Arc<rustls::ClientConfig>,
    /// Opens target sessions (of the kinds it serves) with the agent's credentials.
    pub connector: Arc<dyn TargetConnector>,
    /// The connections `connector` serves.
    pub connections: Vec<String>,
    /// The server login levels `connector` has credentials for, per connection (a
    /// connection missing here: only `admin`, its own login).
    pub login_levels: BTreeMap<String, Vec<String>>,
    pub enrolment_token: Option<SecretString>,
    pub credentials: Arc<dyn CredentialStore>,
    /// Reads the agent's current workload identity token (read at every hello: platforms
    /// rotate them). When it yields one, it is presented instead of a credential.
    pub workload_token: Option<Arc<dyn WorkloadToken>>,
}

/// The source of an agent's workload identity token.
pub trait WorkloadToken: Send + Sync {
    fn current(&self) -> Result<SecretString, TunnelError>;
}

/// Run until `shutdown` becomes true (Ok) or the gateway refuses the agent (Err).
pub async fn run_agent(
    settings: Arc<AgentSettings>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), TunnelError> {
    let mut backoff = BACKOFF_START;
    loop {
        let started = Instant::now();
        let outcome = tunnel_once(&settings, shutdown.clone()).await;
        if *shutdown.borrow() {
            return Ok(());
        }
        match outcome {
            Err(TunnelError::Refused(reason)) => return Err(TunnelError::Refused(reason)),
            Err(TunnelError::Credential(reason)) => return Err(TunnelError::Credential(reason)),
            Err(error) => tracing::warn!(
                "tunnel to the gateway at {} lost: {error}",
                settings.gateway
            ),
            Ok(()) => tracing::warn!("the gateway at {} closed the tunnel", settings.gateway),
        }
        if started.elapsed() >= STABLE_AFTER {
            backoff = BACKOFF_START;
        }
        let wait = jittered(backoff);
        tracing::info!("dialling the gateway again in {wait:?}");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return Ok(());
                }
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// `base` ± 25 %, so a fleet of agents does not reconnect in lockstep.
fn jittered(base: Duration) -> Duration {
    let factor = rand::rng().random_range(0.75..1.25);
    base.mul_f64(factor)
}

/// What the request handlers tell the tunnel loop.
enum Event {
    Welcomed,
    Refused(String),
    Failed(TunnelError),
}

/// One tunnel, from dial to its end (or, once `shutdown` is set, to a graceful close).
async fn tunnel_once(
    settings: &Arc<AgentSettings>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), TunnelError> {
    let mut stopping = shutdown.clone();
    let dialled = tokio::select! {
        dialled = dial(settings) => dialled?,
        () = stopped(&mut stopping) => return Ok(()),
    };
    serve_tunnel(
        settings,
        dialled,
        Arc::new(AtomicBool::new(false)),
        &mut shutdown,
    )
    .await
}

/// Resolve once `shutdown` is set (never, if its sender is gone without setting it).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// TCP and TLS to the gateway, each bounded by [`DIAL_TIMEOUT`].
async fn dial(
    settings: &AgentSettings,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TunnelError> {
    let unreachable = |reason: String| TunnelError::Unreachable {
        address: settings.gateway.clone(),
        reason,
    };
    let tcp = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&settings.gateway))
        .await
        .map_err(|_| unreachable(format!("no connection within {DIAL_TIMEOUT:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let connector = tokio_rustls::TlsConnector::from(settings.tls.clone());
    let tls = tokio::time::timeout(
        DIAL_TIMEOUT,
        connector.connect(settings.server_name.clone(), tcp),
    )
    .await
    .map_err(|_| TunnelError::Tls {
        address: settings.gateway.clone(),
        reason: format!("no handshake within {DIAL_TIMEOUT:?}"),
    })?
    .map_err(|e| TunnelError::Tls {
        address: settings.gateway.clone(),
        reason: e.to_string(),
    })?;
    Ok(tls)
}

/// The agent's side of one tunnel over the gateway's (TLS-verified) connection: serve the
/// gateway's requests until the tunnel ends. `admitted` is set once a welcome arrives; until
/// then only the opening's requests (`/v1/hello`, `/v1/verdict`) are served.
pub(crate) async fn serve_tunnel<S>(
    settings: &Arc<AgentSettings>,
    io: S,
    admitted: Arc<AtomicBool>,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), TunnelError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The keepalive below starts with the connection: until then a gateway that went silent
    // after TLS (a partition, a stuck process) must not hold the agent forever.
    let handshake = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(MAX_STREAMS_PER_TUNNEL)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake::<_, Bytes>(io);
    let mut connection = tokio::time::timeout(DIAL_TIMEOUT, handshake)
        .await
        .map_err(|_| {
            TunnelError::Protocol(format!(
                "the gateway did not start HTTP/2 within {DIAL_TIMEOUT:?}"
            ))
        })??;
    tracing::info!("tunnel to the gateway at {} is up", settings.gateway);
    let (events, mut event) = mpsc::channel::<Event>(4);
    let keepalive_failed = spawn_keepalive(connection.ping_pong());
    tokio::pin!(keepalive_failed);
    // Stopping: GOAWAY, let open sessions finish for a moment, then close the connection
    // (and TLS) properly, so the gateway sees an orderly goodbye rather than a cut.
    let grace = tokio::time::sleep(Duration::from_secs(86_400));
    tokio::pin!(grace);
    let mut closing = false;
    loop {
        tokio::select! {
            () = stopped(shutdown), if !closing => {
                tracing::info!("closing the tunnel to the gateway");
                connection.graceful_shutdown();
                grace.as_mut().reset(tokio::time::Instant::now() + SHUTDOWN_GRACE);
                closing = true;
            }
            () = &mut grace, if closing => return Ok(()),
            accepted = connection.accept() => match accepted {
                Some(Ok((request, respond))) => {
                    dispatch(settings, request, respond, &admitted, &events);
                }
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            },
            Some(happened) = event.recv() => match happened {
                Event::Welcomed => {
                    tracing::info!(agent = %settings.name, connections = ?settings.connections, "admitted by the gateway");
                }
                Event::Refused(reason) => return Err(TunnelError::Refused(reason)),
                Event::Failed(error) => return Err(error),
            },
            reason = &mut keepalive_failed => {
                return Err(TunnelError::Protocol(reason));
            }
        }
    }
}

/// Ping the gateway periodically; resolves with a reason when it stops answering.
async fn spawn_keepalive(ping_pong: Option<h2::PingPong>) -> String {
    let Some(mut ping_pong) = ping_pong else {
        return std::future::pending().await;
    };
    let mut ticker = tokio::time::interval(KEEPALIVE_INTERVAL);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match tokio::time::timeout(KEEPALIVE_TIMEOUT, ping_pong.ping(h2::Ping::opaque())).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return format!("keepalive failed: {error}"),
            Err(_) => {
                return format!(
                    "the gateway did not answer a keepalive within {KEEPALIVE_TIMEOUT:?}"
                );
            }
        }
    }
}

fn dispatch(
    settings: &Arc<AgentSettings>,
    request: http::Request<h2::RecvStream>,
    respond: SendResponse<Bytes>,
    admitted: &Arc<AtomicBool>,
    events: &mpsc::Sender<Event>,
) {
    let path = request.uri().path().to_owned();
    let settings = settings.clone();
    let admitted = admitted.clone();
    let events = events.clone();
    tokio::spawn(async move {
        match path.as_str() {
            "/v1/hello" => {
                if let Err(error) = answer_hello(&settings, respond) {
                    let _ = events.send(Event::Failed(error)).await;
                }
            }
            "/v1/verdict" => {
                let happened = take_verdict(&settings, request, respond, &admitted).await;
                let _ = events.send(happened).await;
            }
            "/v1/sessions" if admitted.load(Ordering::Acquire) => {
                serve_session(&settings, request, respond).await;
            }
            "/v1/cancel" if admitted.load(Ordering::Acquire) => {
                relay_cancel(&settings, &request, respond).await;
            }
            _ => reply_error(
                respond,
                http::StatusCode::NOT_FOUND,
                "no such tunnel request",
            ),
        }
    });
}

fn answer_hello(
    settings: &AgentSettings,
    mut respond: SendResponse<Bytes>,
) -> Result<(), TunnelError> {
    let workload_token = settings
        .workload_token
        .as_ref()
        .map(|source| source.current())
        .transpose()?;
    let credential = match workload_token {
        Some(_) => None,
        None => settings.credentials.load()?,
    };
    let hello = Hello {
        agent: settings.name.clone(),
        version: settings.version.clone(),
        connections: settings.connections.clone(),
        login_levels: settings.login_levels.clone(),
        kinds: settings.connector.kinds(),
        enrolment_token: if credential.is_none() && workload_token.is_none() {
            settings.enrolment_token.clone()
        } else {
            None
        },
        credential,
        workload_token,
    };
    let body = serde_json::to_vec(&hello)
        .map_err(|e| TunnelError::Protocol(format!("cannot encode the hello: {e}")))?;
    let response = http::Response::builder()
        .status(http::StatusCode::OK)
        .body(())
        .map_err(|e| TunnelError::Protocol(e.to_string()))?;
    let mut send = respond.send_response(response, false)?;
    send.send_data(Bytes::from(body), true)?;
    Ok(())
}

async fn take_verdict(
    settings: &AgentSettings,
    request: http::Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
    admitted: &AtomicBool,
) -> Event {
    let body = match read_body(request.into_body(), MAX_HELLO_BYTES).await {
        Ok(body) => body,
        Err(reason) => {
            return Event::Failed(TunnelError::Protocol(format!("the verdict: {reason}")));
        }
    };
    let verdict: HelloAnswer = match serde_json::from_slice(&body) {
        Ok(verdict) => verdict,
        Err(e) => {
            return Event::Failed(TunnelError::Protocol(format!(
                "the verdict is not valid JSON: {e}"
            )));
        }
    };
    let happened = match verdict {
        HelloAnswer::Refused { reason } => Event::Refused(reason),
        HelloAnswer::Welcome { credential } => {
            let saved = match credential {
                Some(credential) => settings.credentials.save(&credential),
                None => Ok(()),
            };
            match saved {
                Ok(()) => {
                    admitted.store(true, Ordering::Release);
                    Event::Welcomed
                }
                Err(error) => Event::Failed(error),
            }
        }
    };
    if let Ok(response) = http::Response::builder()
        .status(http::StatusCode::NO_CONTENT)
        .body(())
    {
        let _ = respond.send_response(response, true);
    }
    happened
}

async fn serve_session(
    settings: &AgentSettings,
    request: http::Request<h2::RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let header = |name: &str| request.headers().get(name).map(|v| v.as_bytes().to_vec());
    let Some(connection) = header("gatehouse-connection").and_then(|v| String::from_utf8(v).ok())
    else {
        return reply_error(
            respond,
            http::StatusCode::BAD_REQUEST,
            "the session request names no connection",
        );
    };
    if !settings.connections.contains(&connection) {
        let message = format!(
            "agent `{}` does not serve connection `{connection}`",
            settings.name
        );
        return reply_error(respond, http::StatusCode::NOT_FOUND, &message);
    }
    let login_level = match header(LOGIN_LEVEL_HEADER).map(String::from_utf8) {
        None => gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
        Some(Ok(level)) => level,
        Some(Err(_)) => {
            return reply_error(
                respond,
                http::StatusCode::BAD_REQUEST,
                "the session request's login level is malformed",
            );
        }
    };
    if !serves_level(&settings.login_levels, &connection, &login_level) {
        let message = format!(
            "agent `{}` has no server login of level `{login_level}` for connection `{connection}`: \
             add a [[connections.logins]] entry with level = \"{login_level}\" to it in the agent's config",
            settings.name
        );
        tracing::warn!(%connection, level = %login_level, "refused a session: {message}");
        return reply_error(respond, http::StatusCode::NOT_FOUND, &message);
    }
    let kind = match header(KIND_HEADER).map(String::from_utf8) {
        // A gateway from before kinds asks for PostgreSQL sessions only.
        None => POSTGRES_KIND.to_owned(),
        Some(Ok(kind)) => kind,
        Some(Err(_)) => {
            return reply_error(
                respond,
                http::StatusCode::BAD_REQUEST,
                "the session request's kind is malformed",
            );
        }
    };
    let details = match header(OPEN_HEADER) {
        Some(json) => serde_json::from_slice(&json).ok(),
        // A gateway from before kinds sends PostgreSQL's startup parameters on their own.
        None if kind == POSTGRES_KIND => header("gatehouse-parameters")
            .and_then(|json| serde_json::from_slice::<Vec<(String, String)>>(&json).ok())
            .map(|parameters| targets::open_request(&login_level, &parameters).details),
        None => None,
    };
    let Some(details) = details else {
        return reply_error(
            respond,
            http::StatusCode::BAD_REQUEST,
            "the session request's details are malformed",
        );
    };
    let open = OpenRequest {
        kind,
        login_level: login_level.clone(),
        details,
    };
    let opened = match settings.connector.open(&connection, &open).await {
        Ok(opened) => opened,
        Err(error) => {
            tracing::warn!(%connection, level = %login_level, %error, "cannot open a session to the target");
            return reply_error(respond, http::StatusCode::BAD_GATEWAY, &error.to_string());
        }
    };
    let mut response = http::Response::builder().status(http::StatusCode::OK);
    match serde_json::to_vec(&opened.details).map(|json| http::HeaderValue::from_bytes(&json)) {
        Ok(Ok(value)) => response = response.header(OPENED_HEADER, value),
        _ => {
            return reply_error(
                respond,
                http::StatusCode::BAD_GATEWAY,
                "what the target said cannot be passed on",
            );
        }
    }
    if open.kind == POSTGRES_KIND {
        // Gateways from before kinds read the server's parameters and cancel key here.
        if let Some(Ok(Ok(value))) = targets::parameters_of(&opened.details).map(|parameters| {
            serde_json::to_vec(&parameters).map(|json| http::HeaderValue::from_bytes(&json))
        }) {
            response = response.header("gatehouse-parameters", value);
        }
        if let Ok(Some(key)) = targets::backend_key_of(&opened.details) {
            response = response.header(
                "gatehouse-backend-key",
                format!("{}:{}", key.process_id, key.secret),
            );
        }
    }
    let Ok(response) = response.body(()) else {
        return reply_error(
            respond,
            http::StatusCode::BAD_GATEWAY,
            "cannot build the session response",
        );
    };
    let send = match respond.send_response(response, false) {
        Ok(send) => send,
        Err(error) => {
            tracing::debug!(%error, "the gateway dropped a session before it opened");
            return;
        }
    };
    tracing::info!(%connection, level = %login_level, "session opened for the gateway");
    let mut tunnel = TunnelStream::new(send, request.into_body(), "the gateway".to_owned());
    let mut server = opened.stream;
    if !opened.leftover.is_empty() && tunnel.write_all(&opened.leftover).await.is_err() {
        return;
    }
    match tokio::io::copy_bidirectional(&mut server, &mut tunnel).await {
        Ok((up, down)) => {
            tracing::info!(%connection, bytes_to_server = up, bytes_to_gateway = down, "session ended")
        }
        // The gateway resets a session's stream when the session is over: an ordinary end.
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {
            tracing::info!(%connection, "session ended by the gateway")
        }
        Err(error) => tracing::warn!(%connection, %error, "session ended with an error"),
    }
}

async fn relay_cancel(
    settings: &AgentSettings,
    request: &http::Request<h2::RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let connection = request
        .headers()
        .get("gatehouse-connection")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let header = |name: &str| request.headers().get(name).map(|v| v.as_bytes().to_vec());
    let kind = header(KIND_HEADER)
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_else(|| POSTGRES_KIND.to_owned());
    let signal = match header(OPEN_HEADER) {
        Some(json) => serde_json::from_slice(&json)
            .ok()
            .map(|details| OpenRequest {
                kind: kind.clone(),
                login_level: gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
                details,
            }),
        // A gateway from before kinds sends a PostgreSQL cancel key on its own.
        None => header("gatehouse-backend-key")
            .and_then(|key| parse_key(&key).ok())
            .map(targets::cancel_request),
    };
    let Some(signal) = signal else {
        return reply_error(
            respond,
            http::StatusCode::BAD_REQUEST,
            "the cancel request has no valid key",
        );
    };
    if !settings.connections.contains(&connection) {
        return reply_error(
            respond,
            http::StatusCode::NOT_FOUND,
            "this agent does not serve that connection",
        );
    }
    match settings.connector.signal(&connection, &signal).await {
        Ok(()) => {
            let mut respond = respond;
            if let Ok(response) = http::Response::builder()
                .status(http::StatusCode::NO_CONTENT)
                .body(())
            {
                let _ = respond.send_response(response, true);
            }
        }
        Err(error) => reply_error(respond, http::StatusCode::BAD_GATEWAY, &error.to_string()),
    }
}

fn reply_error(mut respond: SendResponse<Bytes>, status: http::StatusCode, message: &str) {
    let body = serde_json::json!({ "error": message }).to_string();
    let Ok(response) = http::Response::builder().status(status).body(()) else {
        return;
    };
    if let Ok(mut send) = respond.send_response(response, false) {
        let _ = send.send_data(Bytes::from(body), true);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use gatehouse_pipeline::BoxFuture;
    use gatehouse_session::{ConnectError, Opened};

    struct NoTargets;

    impl TargetConnector for NoTargets {
        fn kinds(&self) -> Vec<String> {
            vec![POSTGRES_KIND.to_owned()]
        }

        fn open<'a>(
            &'a self,
            _: &'a str,
            _: &'a OpenRequest,
        ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
            Box::pin(async { Err(ConnectError::Unavailable("no targets in this test".into())) })
        }

        fn signal<'a>(
            &'a self,
            _: &'a str,
            _: &'a OpenRequest,
        ) -> BoxFuture<'a, Result<(), ConnectError>> {
            Box::pin(async { Err(ConnectError::Unavailable("no targets in this test".into())) })
        }
    }

    struct NoCredential;

    impl CredentialStore for NoCredential {
        fn load(&self) -> Result<Option<SecretString>, TunnelError> {
            Ok(None)
        }

        fn save(&self, _: &SecretString) -> Result<(), TunnelError> {
            Ok(())
        }
    }

    /// Found by the `tunnel_agent` fuzz target: a gateway that completed TLS and then sent
    /// nothing (not even the HTTP/2 preface) held the agent's tunnel forever — the keepalive
    /// only starts with the HTTP/2 connection — so the agent never dialled again.
    #[tokio::test]
    async fn a_gateway_silent_after_tls_is_given_up_on_and_dialled_again() {
        let settings = Arc::new(
            crate::fuzzing::agent_settings(
                "dc1",
                vec!["prod".to_owned()],
                Arc::new(NoTargets),
                Arc::new(NoCredential),
                None,
            )
            .unwrap(),
        );
        let (agent_io, _silent_gateway) = tokio::io::duplex(1024);
        let started = Instant::now();
        let ended = tokio::time::timeout(
            DIAL_TIMEOUT + Duration::from_secs(5),
            serve_tunnel(
                &settings,
                agent_io,
                Arc::new(AtomicBool::new(false)),
                &mut tokio::sync::watch::channel(false).1,
            ),
        )
        .await
        .expect("the agent gave up on a silent gateway");
        assert!(
            matches!(&ended, Err(TunnelError::Protocol(reason)) if reason.contains("did not start HTTP/2")),
            "{ended:?}"
        );
        assert!(started.elapsed() >= DIAL_TIMEOUT);
    }
}
