//! A second protocol, built only from the shared pieces, to prove they are enough: `kv`, a
//! line protocol to a toy key-value server. An adapter is exactly what this module is — a
//! request type implementing `ProtocolRequest` with its actions, a Cedar schema fragment, a
//! `TargetConnector` opening its targets (at the gateway or at an agent), and a session loop
//! over `gatehouse_session` — and nothing in the pipeline, policy, store or tunnel crates
//! names it.
//!
//! Client protocol: `AUTH <token> <connection>` once, then one command per line (`GET key`,
//! `SET key value`, `DEL key`, anything else is `kv:unknown`); answers are one line each:
//! the target's (`VALUE ...`, `OK`, `NONE`), or `DENIED <message>`, `HELD <approval id>`,
//! `BYE <reason>` before gatehouse closes the session.
//!
//! Its recordings use the shared kinds (session, request, result) plus one of its own: a
//! `kv answer` protocol event with the target's answer line, the way a protocol records what
//! the shared kinds do not carry.

use gatehouse_core::{
    Action, Attribute, ConnectionInfo, ConnectionKind, Effect, ProtocolRequest, ProtocolSchema,
    SecretString,
};
use gatehouse_pipeline::BoxFuture;
use gatehouse_pipeline::{
    AuditOutcome, Authenticator, Decision, Pipeline, RequestResult, SessionContext,
};
use gatehouse_recording::{EventKind, ProtocolEvent};
use gatehouse_session::{
    ConnectError, EndedBy, Endings, ListenerLimits, LiveSessions, OpenRequest, Opened, Slot,
    TargetConnector,
};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The kind of a `kv` connection.
pub const KV: ConnectionKind = ConnectionKind::new("kv");

/// The protocol's part of the Cedar schema.
pub const KV_PROTOCOL: ProtocolSchema = ProtocolSchema {
    name: "kv",
    fragment: r#"
namespace Gatehouse {
  // One kv command: `command` the whole line, `program` its verb, `args` the other words
  // (the Cedar conventions for argv-like data), `key` the key it names.
  type KvContext = {
    source_address: ipaddr,
    now: Long,
    hour: Long,
    command: String,
    program: String,
    args: Set<String>,
    key: String,
  };
  action "kv:read";
  action "kv:write";
  action "kv:get" in ["kv:read"] appliesTo { principal: [Identity], resource: [Connection], context: KvContext };
  action "kv:set", "kv:del" in ["kv:write"] appliesTo { principal: [Identity], resource: [Connection], context: KvContext };
  action "kv:unknown" appliesTo { principal: [Identity], resource: [Connection], context: KvContext };
}
"#,
    request_actions: &["kv:get", "kv:set", "kv:del", "kv:unknown"],
};

/// One decoded command.
#[derive(Debug, Clone)]
pub struct KvCommand {
    line: String,
    verb: String,
    words: Vec<String>,
}

impl KvCommand {
    pub fn parse(line: &str) -> KvCommand {
        let mut words = line.split_whitespace().map(str::to_owned);
        let verb = words.next().unwrap_or_default().to_ascii_uppercase();
        KvCommand {
            line: line.trim().to_owned(),
            verb,
            words: words.collect(),
        }
    }
}

impl ProtocolRequest for KvCommand {
    fn action(&self) -> &'static str {
        match (self.verb.as_str(), self.words.len()) {
            ("GET", 1) => "kv:get",
            ("SET", 2) => "kv:set",
            ("DEL", 1) => "kv:del",
            _ => "kv:unknown",
        }
    }

    fn effect(&self) -> Effect {
        match self.action() {
            "kv:get" => Effect::Read,
            "kv:set" | "kv:del" => Effect::Write,
            _ => Effect::Unknown,
        }
    }

    fn text(&self) -> &str {
        &self.line
    }

    fn fingerprint(&self) -> &str {
        &self.verb
    }

    fn attributes(&self) -> Vec<(&'static str, Attribute)> {
        vec![
            ("command", Attribute::String(self.line.clone())),
            ("program", Attribute::String(self.verb.to_ascii_lowercase())),
            ("args", Attribute::Set(self.words.clone())),
            (
                "key",
                Attribute::String(self.words.first().cloned().unwrap_or_default()),
            ),
        ]
    }
}

/// The toy target: a key-value map behind a line protocol on loopback.
pub async fn start_target() -> (SocketAddr, Arc<Mutex<HashMap<String, String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let map = Arc::new(Mutex::new(HashMap::new()));
    let shared = map.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let map = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let command = KvCommand::parse(&line);
                    let answer = {
                        let mut map = map.lock().unwrap();
                        match (command.verb.as_str(), command.words.as_slice()) {
                            ("GET", [key]) => map
                                .get(key)
                                .map_or("NONE".to_owned(), |value| format!("VALUE {value}")),
                            ("SET", [key, value]) => {
                                map.insert(key.clone(), value.clone());
                                "OK".to_owned()
                            }
                            ("DEL", [key]) => {
                                map.remove(key);
                                "OK".to_owned()
                            }
                            _ => "ERR unknown command".to_owned(),
                        }
                    };
                    if write
                        .write_all(format!("{answer}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (address, map)
}

/// The `kv` connector: opens a connection's toy target by dialling its address. At the
/// gateway, or at an agent through the tunnel (which carries the `kv` kind unchanged).
pub struct KvTargets {
    pub targets: HashMap<String, SocketAddr>,
}

impl TargetConnector for KvTargets {
    fn kinds(&self) -> Vec<String> {
        vec![KV.as_str().to_owned()]
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            let target = self
                .targets
                .get(connection)
                .filter(|_| request.kind == KV.as_str())
                .ok_or_else(|| ConnectError::Unavailable(format!("no kv target `{connection}`")))?;
            let stream = TcpStream::connect(target)
                .await
                .map_err(|e| ConnectError::Unavailable(e.to_string()))?;
            Ok(Opened {
                stream: Box::new(stream),
                details: serde_json::json!({}),
                leftover: Vec::new(),
            })
        })
    }

    fn signal<'a>(
        &'a self,
        _: &'a str,
        _: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        Box::pin(async { Err(ConnectError::Unavailable("kv has no signals".into())) })
    }
}

/// What the adapter's sessions share.
pub struct KvGateway {
    pub pipeline: Pipeline,
    pub authenticator: Arc<dyn Authenticator>,
    /// Connections clients may name.
    pub connections: HashMap<String, Arc<ConnectionInfo>>,
    /// Opens targets: directly, or through the agents that serve them.
    pub connector: Arc<dyn TargetConnector>,
    pub live: Arc<LiveSessions>,
}

/// Serve the adapter on a loopback port until `shutdown`; returns its address.
pub async fn serve(gateway: Arc<KvGateway>, shutdown: watch::Receiver<bool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let limits = ListenerLimits {
        protocol: "kv",
        max_sessions: 16,
        shutdown_grace: Duration::from_millis(200),
    };
    tokio::spawn(gatehouse_session::serve(
        listener,
        limits,
        shutdown,
        move |client, peer, slot, terminate| {
            session(gateway.clone(), client, peer, slot, terminate)
        },
    ));
    address
}

async fn session(
    gateway: Arc<KvGateway>,
    client: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    terminate: watch::Receiver<bool>,
) {
    let (read, mut write) = client.into_split();
    let mut lines = BufReader::new(read).lines();
    if !matches!(slot, Slot::Session(_)) {
        let _ = write.write_all(b"BYE too many sessions\n").await;
        return;
    }
    let policy_changes = gateway.pipeline.policy_changes();
    let Ok(Some(first)) = lines.next_line().await else {
        return;
    };
    let mut words = first.split_whitespace();
    let (Some("AUTH"), Some(token), Some(name)) = (words.next(), words.next(), words.next()) else {
        let _ = write
            .write_all(b"BYE say AUTH <token> <connection> first\n")
            .await;
        return;
    };
    let accepted = match gateway
        .authenticator
        .authenticate_credential(&SecretString::new(token))
        .await
    {
        Ok(accepted) => accepted,
        Err(error) => {
            let _ = gateway
                .pipeline
                .record_auth_failure(Some(peer.ip()), Some(name), error.to_string())
                .await;
            let _ = write.write_all(format!("BYE {error}\n").as_bytes()).await;
            return;
        }
    };
    let Some(connection) = gateway.connections.get(name).cloned() else {
        let _ = write.write_all(b"BYE no such connection\n").await;
        return;
    };
    let mut context = SessionContext::new(
        gatehouse_session::new_session_id(),
        accepted.identity.clone(),
        connection,
        String::new(),
        Some(peer.ip()),
    );
    match gateway.pipeline.decide(&context, &[Action::Connect]).await {
        Ok(Decision::Allow(_)) => {
            context.recorder = gateway.pipeline.start_recording(&context, false);
        }
        Ok(Decision::Deny(denial)) => {
            let _ = write
                .write_all(format!("BYE {}\n", denial.message).as_bytes())
                .await;
            return;
        }
        _ => {
            let _ = write.write_all(b"BYE connect refused\n").await;
            return;
        }
    }
    let open = OpenRequest {
        kind: KV.as_str().to_owned(),
        login_level: gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
        details: serde_json::json!({}),
    };
    let upstream = match gateway.connector.open(name, &open).await {
        Ok(opened) => opened.stream,
        Err(error) => {
            let _ = write.write_all(format!("BYE {error}\n").as_bytes()).await;
            let _ = gateway
                .pipeline
                .record_disconnect(
                    &context,
                    &format!("the target could not be opened: {error}"),
                )
                .await;
            return;
        }
    };
    let (upstream_read, mut upstream_write) = tokio::io::split(upstream);
    let mut answers = BufReader::new(upstream_read).lines();
    let registration = gateway.live.register(
        &context.session_id,
        &context.identity.subject,
        &context.identity.acting_for,
        &accepted.credential_id,
    );
    let mut endings = Endings::new(
        terminate,
        registration,
        accepted.expires_at_unix,
        policy_changes,
    );
    let pipeline = gateway.pipeline.clone();
    let relay = async {
        let _ = write.write_all(b"READY\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            let command = KvCommand::parse(&line);
            let answer = match gateway
                .pipeline
                .decide(&context, &[Action::of(command.clone())])
                .await
            {
                Ok(Decision::Allow(permit)) => {
                    let started = Instant::now();
                    let seq = *permit.audit_seqs().start();
                    if upstream_write
                        .write_all(format!("{}\n", command.line).as_bytes())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    let Ok(Some(answer)) = answers.next_line().await else {
                        break;
                    };
                    if let Some(recorder) = &context.recorder {
                        recorder.record(EventKind::Protocol(ProtocolEvent {
                            request: recorder.request_number(seq),
                            protocol: KV.as_str().to_owned(),
                            name: "answer".to_owned(),
                            data: serde_json::json!({ "line": answer }),
                        }));
                    }
                    let _ = gateway.pipeline.record_results(
                        &context,
                        vec![RequestResult {
                            seq,
                            outcome: AuditOutcome {
                                rows: None,
                                status: Some(answer.clone()),
                                error: None,
                                duration_us: u64::try_from(started.elapsed().as_micros())
                                    .unwrap_or(u64::MAX),
                                masked: Default::default(),
                                request_bytes: None,
                                response_bytes: None,
                            },
                            columns: Vec::new(),
                            bytes: 0,
                            rows: Vec::new(),
                        }],
                    );
                    answer
                }
                Ok(Decision::Deny(denial)) => format!("DENIED {}", denial.message),
                Ok(Decision::Hold(hold)) => format!("HELD {}", hold.approval.id),
                Err(error) => format!("DENIED {error}"),
            };
            if write
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let ended = tokio::select! {
        _ = relay => None,
        ended = endings.wait(|version| {
            let pipeline = pipeline.clone();
            let context = context.clone();
            async move { gatehouse_session::connect_withdrawn(&pipeline, &context, &version).await }
        }) => Some(ended),
    };
    let reason = match &ended {
        None => "client closed the connection".to_owned(),
        Some(EndedBy::ShutDown) => "gatehouse shut down".to_owned(),
        Some(EndedBy::CredentialExpired) => "the credential expired".to_owned(),
        Some(EndedBy::Revoked(reason) | EndedBy::PolicyWithdrawn(reason)) => reason.clone(),
    };
    if ended.is_some() {
        let _ = write.write_all(format!("BYE {reason}\n").as_bytes()).await;
    }
    let _ = write.shutdown().await;
    let _ = gateway.pipeline.record_disconnect(&context, &reason).await;
}
