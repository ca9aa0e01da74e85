//! port-forward with the transport set aside: one forwarded connection joins the client's data
//! stream to the local address the test mapped the pod's port to
//! ([`crate::TestApiServer::set_pod_port`]), recording the bytes each way; a failure becomes
//! the message kubelet would write on the error stream.

pub mod over_spdy;
pub mod over_websocket;

use crate::sessions::{Forward, Recorder};
use bytes::Bytes;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What arrives from the client on a data stream; the channel closing without `End` means the
/// client abandoned it.
#[derive(Debug)]
pub enum Chunk {
    Data(Bytes),
    End,
}

/// Where one forwarded connection goes, and where it is recorded.
pub struct Target {
    pub pod: String,
    pub port: u16,
    pub to: Option<SocketAddr>,
    pub recorder: Recorder,
}

/// Join the client's stream to the pod's port until the pod side closes or the client
/// abandons the stream.
pub async fn forward(
    target: &Target,
    mut inbound: mpsc::Receiver<Chunk>,
    outbound: mpsc::Sender<Bytes>,
) -> Result<(), String> {
    let Target {
        pod,
        port,
        to,
        recorder,
    } = target;
    let at = recorder.add_forward(Forward {
        port: *port,
        target: *to,
        ..Forward::default()
    });
    let failed = |why: String| {
        let message = format!("error forwarding port {port} to pod {pod}, uid : {why}");
        recorder.forward(at, |f| f.error = Some(message.clone()));
        message
    };
    let Some(to) = to else {
        return Err(failed(format!(
            "port {port} is not mapped to a local address (TestApiServer::set_pod_port)"
        )));
    };
    let tcp = TcpStream::connect(to)
        .await
        .map_err(|e| failed(format!("failed to connect to {to}: {e}")))?;
    let (mut read, mut write) = tcp.into_split();
    // True when the client half-closed, false when it abandoned the stream.
    let upstream = async {
        while let Some(chunk) = inbound.recv().await {
            match chunk {
                Chunk::Data(data) => {
                    recorder.forward(at, |f| f.sent.extend_from_slice(&data));
                    if write.write_all(&data).await.is_err() {
                        return false;
                    }
                }
                Chunk::End => {
                    let _ = write.shutdown().await;
                    return true;
                }
            }
        }
        false
    };
    let downstream = async {
        let mut buffer = vec![0; 32 * 1024];
        while let Ok(n @ 1..) = read.read(&mut buffer).await {
            let data = Bytes::copy_from_slice(buffer.get(..n).unwrap_or_default());
            recorder.forward(at, |f| f.received.extend_from_slice(&data));
            if outbound.send(data).await.is_err() {
                return;
            }
        }
    };
    tokio::pin!(downstream);
    tokio::select! {
        () = &mut downstream => {}
        half_closed = upstream => if half_closed { downstream.await },
    }
    Ok(())
}
