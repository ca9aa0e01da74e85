//! A connect session once hyper hands over the upgraded connection: the transport's framing
//! started on it, and exec's command, attach's main process or port-forward's targets run
//! through it, the record marked ended when it is over.

use crate::portforward::{self, Target};
use crate::remotecommand::{self, Options, attach, exec};
use crate::sessions::{Recorder, StreamKind, Transport};
use crate::shared::Shared;
use crate::spdy;
use crate::websocket;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use std::sync::Arc;

/// A session, waiting for its connection.
pub struct Run {
    pub shared: Arc<Shared>,
    pub namespace: String,
    pub pod: String,
    pub kind: StreamKind,
    pub transport: Transport,
    pub protocol: String,
    pub options: Option<Options>,
    pub dir: PathBuf,
    pub ports: Vec<u16>,
    pub recorder: Recorder,
}

impl Run {
    pub async fn on(self, upgrade: OnUpgrade) {
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
