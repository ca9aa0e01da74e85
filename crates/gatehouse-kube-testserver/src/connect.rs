//! The connect subresources, `pods/NAME/exec`, `attach` and `portforward`: which transport the
//! client asks for (`Upgrade: websocket` with a subprotocol, or `Upgrade: SPDY/3.1` with
//! `X-Stream-Protocol-Version`), the protocol both sides speak, the `101 Switching Protocols`
//! that says so, and the session run on the upgraded connection once hyper hands it over. A
//! request that asks for no upgrade gets the API's 400.

use crate::body;
use crate::catalogue::Resource;
use crate::portforward::{self, Target};
use crate::remotecommand::{self, Options, attach, exec};
use crate::respond::{Call, Response};
use crate::sessions::{Recorder, StreamKind, StreamSession, Transport};
use crate::shared::Shared;
use crate::spdy;
use crate::status::ApiError;
use crate::websocket;
use hyper::header::{HeaderName, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;

/// The channel subprotocols exec and attach speak over WebSocket, preferred first.
const EXEC_WEBSOCKET: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// The stream protocol versions exec and attach speak over SPDY.
const EXEC_SPDY: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// SPDY tunnelled in WebSocket, what kubectl 1.31 and later port-forward with.
const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
const PORTFORWARD_WEBSOCKET: &[&str] = &[TUNNEL, "v4.channel.k8s.io"];
const PORTFORWARD_SPDY: &[&str] = &["portforward.k8s.io"];

/// Answer a connect request on pod `name`.
pub fn answer(
    shared: &Arc<Shared>,
    call: &Call,
    resource: &'static Resource,
    namespace: &str,
    name: &str,
    sub: &str,
) -> Result<Response, ApiError> {
    if *call.method != Method::GET && *call.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let pod = shared
        .store()
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    let kind = match sub {
        "exec" => StreamKind::Exec,
        "attach" => StreamKind::Attach,
        _ => StreamKind::PortForward,
    };
    let options = match kind {
        StreamKind::PortForward => None,
        _ => Some(Options::parse(&call.query, &pod, kind == StreamKind::Exec)?),
    };
    let (transport, protocol) = negotiate(shared, call.headers, kind)?;
    let mut session = StreamSession::new(kind, namespace, name, transport);
    session.protocol.clone_from(&protocol);
    if let Some(options) = &options {
        session.container = Some(options.container.clone());
        session.command.clone_from(&options.command);
        session.tty = options.tty;
    }
    session.ports = ports(call);
    let dir = shared
        .pods()
        .dir(namespace, name)
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    let upgrade = call.take_upgrade().ok_or_else(|| {
        ApiError::bad_request("the connection cannot be upgraded (HTTP/1.1 is required)")
    })?;
    let response = switching(call.headers, transport, &protocol)?;
    let recorder = Recorder::open(shared, session);
    let run = Run {
        shared: shared.clone(),
        namespace: namespace.to_owned(),
        pod: name.to_owned(),
        kind,
        transport,
        protocol,
        options,
        dir,
        ports: ports(call),
        recorder,
    };
    tokio::spawn(run.on(upgrade));
    Ok(response)
}

/// The transport and protocol for this request, or why there is none.
fn negotiate(
    shared: &Shared,
    headers: &HeaderMap,
    kind: StreamKind,
) -> Result<(Transport, String), ApiError> {
    let upgrade = header_text(headers, "upgrade").to_ascii_lowercase();
    let streaming = kind != StreamKind::PortForward;
    if upgrade == "websocket" && shared.websockets {
        let offered = list(headers, "sec-websocket-protocol");
        let supported = if streaming {
            EXEC_WEBSOCKET
        } else {
            PORTFORWARD_WEBSOCKET
        };
        let chosen = choose(&offered, supported)?;
        let transport = if chosen == TUNNEL {
            Transport::SpdyOverWebSocket
        } else {
            Transport::WebSocket
        };
        return Ok((transport, chosen));
    }
    if upgrade.contains("spdy/3.1") {
        let offered = list(headers, "x-stream-protocol-version");
        if offered.is_empty() {
            // Clients from before version negotiation; kubelet speaks the first protocol.
            return Ok((Transport::Spdy, String::new()));
        }
        let supported = if streaming {
            EXEC_SPDY
        } else {
            PORTFORWARD_SPDY
        };
        return Ok((Transport::Spdy, choose(&offered, supported)?));
    }
    Err(ApiError::bad_request("Upgrade request required"))
}

/// The first protocol the client offers that this server speaks.
fn choose(offered: &[String], supported: &[&str]) -> Result<String, ApiError> {
    offered
        .iter()
        .find(|p| supported.contains(&p.as_str()))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {supported:?}"
                ),
            )
        })
}

/// The `101 Switching Protocols` for the chosen transport.
fn switching(
    headers: &HeaderMap,
    transport: Transport,
    protocol: &str,
) -> Result<Response, ApiError> {
    let mut response = hyper::Response::new(body::full(Vec::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    };
    set("connection", "Upgrade");
    match transport {
        Transport::Spdy => {
            set("upgrade", "SPDY/3.1");
            if !protocol.is_empty() {
                set("x-stream-protocol-version", protocol);
            }
        }
        Transport::WebSocket | Transport::SpdyOverWebSocket => {
            let key = header_text(headers, "sec-websocket-key");
            if key.is_empty() {
                return Err(ApiError::bad_request(
                    "a WebSocket upgrade needs Sec-WebSocket-Key",
                ));
            }
            set("upgrade", "websocket");
            set("sec-websocket-accept", &websocket::accept_key(key));
            set("sec-websocket-protocol", protocol);
        }
    }
    Ok(response)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
}

/// Every value of a header that may repeat or list values with commas.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The ports a port-forward names in its query (`ports`, or kubelet's `port`), each value
/// possibly a comma-separated list.
fn ports(call: &Call) -> Vec<u16> {
    call.query
        .all("ports")
        .chain(call.query.all("port"))
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// A session, waiting for its connection.
struct Run {
    shared: Arc<Shared>,
    namespace: String,
    pod: String,
    kind: StreamKind,
    transport: Transport,
    protocol: String,
    options: Option<Options>,
    dir: std::path::PathBuf,
    ports: Vec<u16>,
    recorder: Recorder,
}

impl Run {
    async fn on(self, upgrade: OnUpgrade) {
        if let Ok(upgraded) = upgrade.await {
            let io = TokioIo::new(upgraded);
            let recorder = self.recorder.clone();
            match (self.options.clone(), self.transport) {
                (Some(options), Transport::Spdy) => {
                    let conn = spdy::start(io);
                    let protocol = self.protocol.clone();
                    remotecommand::over_spdy::serve(conn, &protocol, &options, recorder, |i, o| {
                        self.command(options.clone(), i, o)
                    })
                    .await;
                }
                (Some(options), _) => {
                    let (socket, incoming) = websocket::start(io);
                    let command = options.command.clone();
                    remotecommand::over_websocket::serve(
                        socket,
                        incoming,
                        command,
                        recorder,
                        |i, o| self.command(options, i, o),
                    )
                    .await;
                }
                (None, Transport::Spdy) => self.forward(spdy::start(io)).await,
                (None, Transport::SpdyOverWebSocket) => {
                    let (socket, incoming) = websocket::start(io);
                    let stream = websocket::into_byte_stream(socket, incoming);
                    self.forward(spdy::start(stream)).await;
                }
                (None, Transport::WebSocket) => {
                    let (socket, incoming) = websocket::start(io);
                    let targets = self.targets();
                    portforward::over_websocket::serve(socket, incoming, targets).await;
                }
            }
        }
        self.recorder.update(|s| s.ended = true);
    }

    /// Run exec's command or attach to the main process.
    async fn command(
        &self,
        options: Options,
        inputs: remotecommand::Inputs,
        outputs: remotecommand::Outputs,
    ) {
        if self.kind == StreamKind::Exec {
            exec::run(&options, &self.dir, &self.pod, inputs, outputs).await;
        } else {
            let main = self.shared.pods().main(&self.namespace, &self.pod);
            attach::run(main, inputs, outputs).await;
        }
    }

    async fn forward(&self, conn: spdy::Connection) {
        portforward::over_spdy::serve(
            conn,
            self.shared.clone(),
            self.namespace.clone(),
            self.pod.clone(),
            self.recorder.clone(),
        )
        .await;
    }

    fn targets(&self) -> Vec<Target> {
        let pods = self.shared.pods();
        self.ports
            .iter()
            .map(|&port| Target {
                pod: self.pod.clone(),
                port,
                to: pods.port(&self.namespace, &self.pod, port),
                recorder: self.recorder.clone(),
            })
            .collect()
    }
}
