//! WebSocket, server side, as far as kubectl's client (gorilla/websocket) needs it: the
//! handshake's accept key, binary messages both ways, pings answered with pongs (kubectl pings
//! every 5 s and gives up on a peer that does not answer), and the closing handshake.

mod frame;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};
use std::time::Duration;
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long closing waits for the client's answering close.
const LINGER: Duration = Duration::from_secs(5);
/// The largest message assembled from fragments.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Close code: normal closure.
const NORMAL: u16 = 1000;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    STANDARD.encode(sha.finalize())
}

enum Out {
    Message(Bytes),
    Pong(Bytes),
    Close,
}

/// Sends binary messages.
#[derive(Clone)]
pub struct Sender(mpsc::Sender<Out>);

impl Sender {
    /// Send one binary message; false once the connection is gone.
    pub async fn send(&self, message: Bytes) -> bool {
        self.0.send(Out::Message(message)).await.is_ok()
    }
}

/// An open WebSocket, to send on and close; [`start`] returns the messages the client sends
/// beside it.
pub struct WebSocket {
    out: mpsc::Sender<Out>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

/// Run the WebSocket on `io`: the socket, and the binary messages the client sends, in order
/// (ending when the client closes or goes).
pub fn start<S>(io: S) -> (WebSocket, mpsc::Receiver<Bytes>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (read, write) = tokio::io::split(io);
    let (out, queued) = mpsc::channel(64);
    let (messages, incoming) = mpsc::channel(64);
    let socket = WebSocket {
        reader: tokio::spawn(read_messages(read, messages, out.clone())),
        writer: tokio::spawn(write_frames(write, queued)),
        out,
    };
    (socket, incoming)
}

impl WebSocket {
    pub fn sender(&self) -> Sender {
        Sender(self.out.clone())
    }

    /// Send a normal close after what is queued, and wait (a while) for the client's close.
    pub async fn close(self) {
        let Self {
            out,
            mut reader,
            mut writer,
        } = self;
        let _ = out.send(Out::Close).await;
        drop(out);
        for task in [&mut reader, &mut writer] {
            if tokio::time::timeout(LINGER, &mut *task).await.is_err() {
                task.abort();
            }
        }
    }
}

async fn read_messages<S: AsyncRead>(
    mut read: ReadHalf<S>,
    messages: mpsc::Sender<Bytes>,
    out: mpsc::Sender<Out>,
) {
    let mut message = BytesMut::new();
    let mut binary = false;
    while let Ok(Some(frame)) = frame::read(&mut read).await {
        match frame.opcode {
            frame::PING => {
                let _ = out.send(Out::Pong(frame.payload)).await;
            }
            frame::CLOSE => {
                let _ = out.send(Out::Close).await;
                return;
            }
            frame::PONG => {}
            opcode @ (frame::BINARY | frame::TEXT | frame::CONTINUATION) => {
                if opcode != frame::CONTINUATION {
                    message.clear();
                    binary = opcode == frame::BINARY;
                }
                message.extend_from_slice(&frame.payload);
                if message.len() > MAX_MESSAGE {
                    return;
                }
                // Every channel protocol kubectl speaks is binary; text messages are dropped.
                // Reading goes on after the receiver is gone, up to the client's close, so
                // closing never leaves unread bytes that would reset the connection.
                if frame.fin && binary {
                    let _ = messages.send(message.split().freeze()).await;
                }
            }
            _ => return,
        }
    }
}

async fn write_frames<S: AsyncWrite>(mut write: WriteHalf<S>, mut queued: mpsc::Receiver<Out>) {
    while let Some(out) = queued.recv().await {
        let bytes = match out {
            Out::Message(message) => frame::encode(frame::BINARY, &message),
            Out::Pong(payload) => frame::encode(frame::PONG, &payload),
            Out::Close => frame::encode(frame::CLOSE, &NORMAL.to_be_bytes()),
        };
        if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
            return;
        }
        if bytes.first() == Some(&(0x80 | frame::CLOSE)) {
            break;
        }
    }
    let _ = write.shutdown().await;
}

/// The byte stream a WebSocket carries in its binary messages, however they cut it (how
/// kubectl tunnels SPDY through a WebSocket); the socket closes when this side shuts down
/// writing.
pub fn into_byte_stream(socket: WebSocket, mut incoming: mpsc::Receiver<Bytes>) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut read, mut write) = tokio::io::split(theirs);
    let sender = socket.sender();
    tokio::spawn(async move {
        let inbound = async {
            while let Some(message) = incoming.recv().await {
                if write.write_all(&message).await.is_err() {
                    break;
                }
            }
            let _ = write.shutdown().await;
        };
        let outbound = async {
            let mut buffer = vec![0; 32 * 1024];
            while let Ok(n @ 1..) = read.read(&mut buffer).await {
                let chunk = Bytes::copy_from_slice(buffer.get(..n).unwrap_or_default());
                if !sender.send(chunk).await {
                    break;
                }
            }
            socket.close().await;
        };
        tokio::join!(inbound, outbound);
    });
    ours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_is_the_rfcs_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
