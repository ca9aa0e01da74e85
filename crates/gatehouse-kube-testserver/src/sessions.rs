//! The record of every exec, attach and port-forward connection, kept up to date while it
//! runs, so a test can assert what the cluster saw: the command, the bytes on stdin, the exit
//! code, the terminal sizes, the ports and the bytes forwarded.

use crate::shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a streaming connection was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Exec,
    Attach,
    PortForward,
}

/// How the connection was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `Upgrade: websocket` with a channel subprotocol (`v5.channel.k8s.io`, …).
    WebSocket,
    /// `Upgrade: SPDY/3.1`.
    Spdy,
    /// SPDY framing inside WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`), how
    /// kubectl 1.31 and later port-forward.
    SpdyOverWebSocket,
}

/// A terminal size a client sent on the resize stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// One forwarded connection of a port-forward.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Forward {
    /// The pod's port the client asked for.
    pub port: u16,
    /// Where the test mapped that port ([`crate::TestApiServer::set_pod_port`]), if it did.
    pub target: Option<SocketAddr>,
    /// Bytes from the client to the pod.
    pub sent: Vec<u8>,
    /// Bytes from the pod to the client.
    pub received: Vec<u8>,
    /// What the error stream said, if forwarding failed.
    pub error: Option<String>,
}

/// One exec, attach or port-forward connection as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSession {
    pub kind: StreamKind,
    pub namespace: String,
    pub pod: String,
    /// The container exec'd or attached to; `None` for port-forward.
    pub container: Option<String>,
    pub transport: Transport,
    /// The negotiated subprotocol or stream protocol version (`v5.channel.k8s.io`,
    /// `v4.channel.k8s.io`, `portforward.k8s.io`, …).
    pub protocol: String,
    /// exec's command and arguments.
    pub command: Vec<String>,
    pub tty: bool,
    /// Every byte received on stdin.
    pub stdin: Vec<u8>,
    /// Every byte sent on stdout (with a TTY, stderr's too).
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Whether the client closed stdin.
    pub stdin_closed: bool,
    pub resizes: Vec<TerminalSize>,
    /// exec's exit code, once the command ended.
    pub exit_code: Option<i32>,
    /// The message of a failure status that was not an exit code (a command that does not
    /// exist).
    pub failure: Option<String>,
    /// The ports asked for in the query (port-forward over WebSocket's `ports`).
    pub ports: Vec<u16>,
    /// The port of every stream a SPDY port-forward opened (data and error streams alike,
    /// paired or not), in order.
    pub stream_ports: Vec<u16>,
    pub forwards: Vec<Forward>,
    /// Whether the connection has ended.
    pub ended: bool,
}

impl StreamSession {
    pub(crate) fn new(kind: StreamKind, namespace: &str, pod: &str, transport: Transport) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            container: None,
            transport,
            protocol: String::new(),
            command: Vec::new(),
            tty: false,
            stdin: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdin_closed: false,
            resizes: Vec::new(),
            exit_code: None,
            failure: None,
            ports: Vec::new(),
            stream_ports: Vec::new(),
            forwards: Vec::new(),
            ended: false,
        }
    }
}

/// A running connection's way to its entry in the record.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    index: usize,
}

impl Recorder {
    /// Add `session` to the record.
    pub fn open(shared: &Arc<Shared>, session: StreamSession) -> Self {
        let mut sessions = shared.sessions();
        sessions.push(session);
        Self {
            shared: shared.clone(),
            index: sessions.len() - 1,
        }
    }

    pub fn update(&self, change: impl FnOnce(&mut StreamSession)) {
        if let Some(session) = self.shared.sessions().get_mut(self.index) {
            change(session);
        }
    }

    /// Start recording one forwarded connection; the index for [`Recorder::forward`].
    pub fn add_forward(&self, forward: Forward) -> usize {
        let mut at = 0;
        self.update(|s| {
            s.forwards.push(forward);
            at = s.forwards.len() - 1;
        });
        at
    }

    pub fn forward(&self, at: usize, change: impl FnOnce(&mut Forward)) {
        self.update(|s| {
            if let Some(forward) = s.forwards.get_mut(at) {
                change(forward);
            }
        });
    }
}
