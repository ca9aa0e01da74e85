//! exec and attach over WebSocket, the channel protocol (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`): every binary message starts with its channel, 0 stdin, 1 stdout,
//! 2 stderr, 3 the final `Status`, 4 terminal sizes; v5 adds 255, whose message `[255, n]`
//! closes channel n (kubectl closes stdin that way). After the status the server closes the
//! WebSocket, which is how the client's stdout and stderr end.

use super::{Input, Inputs, Output, Outputs, pipes, terminal_size};
use crate::sessions::Recorder;
use crate::websocket::WebSocket;
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// How long the "container runtime" takes to start the process after the upgrade. kubectl
/// (client-go's WebSocket executor) starts reading messages before it has registered its
/// stdout and stderr streams and drops what arrives on a stream not yet registered ("Unknown
/// stream id 2, discarding message"); against a real cluster the kubelet and runtime take far
/// longer than that window, so the test server waits as they would instead of racing kubectl.
const RUNTIME_START: Duration = Duration::from_millis(100);

pub async fn serve<F, R>(
    socket: WebSocket,
    mut incoming: mpsc::Receiver<Bytes>,
    command: Vec<String>,
    recorder: Recorder,
    run: F,
) where
    F: FnOnce(Inputs, Outputs) -> R,
    R: Future<Output = ()>,
{
    let (feed, inputs, outputs, mut drain) = pipes(recorder);
    let reading = async move {
        while let Some(message) = incoming.recv().await {
            if let Some(input) = decode(&message)
                && feed.send(input).await.is_err()
            {
                return;
            }
        }
    };
    let sender = socket.sender();
    let writing = async move {
        while let Some(output) = drain.recv().await {
            let last = matches!(output, Output::End(_));
            if !sender.send(encode(output, &command)).await || last {
                return;
            }
        }
    };
    let running = async move {
        tokio::time::sleep(RUNTIME_START).await;
        run(inputs, outputs).await;
    };
    let work = async { tokio::join!(running, writing) };
    tokio::pin!(work);
    tokio::select! {
        _ = &mut work => {}
        // The client went: the runner sees its input end and stops.
        () = reading => { work.await; }
    }
    socket.close().await;
}

fn decode(message: &[u8]) -> Option<Input> {
    let (&channel, data) = message.split_first()?;
    match (channel, data) {
        (STDIN, data) if !data.is_empty() => Some(Input::Stdin(Bytes::copy_from_slice(data))),
        (CLOSE, [STDIN]) => Some(Input::StdinEnd),
        (RESIZE, json) => serde_json::from_slice(json)
            .ok()
            .as_ref()
            .and_then(terminal_size)
            .map(Input::Resize),
        _ => None,
    }
}

fn encode(output: Output, command: &[String]) -> Bytes {
    let (channel, data) = match output {
        Output::Stdout(data) => (STDOUT, data),
        Output::Stderr(data) => (STDERR, data),
        Output::End(ending) => (ERROR, Bytes::from(ending.status(command).to_string())),
    };
    let mut message = BytesMut::with_capacity(1 + data.len());
    message.extend_from_slice(&[channel]);
    message.extend_from_slice(&data);
    message.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::TerminalSize;

    #[test]
    fn decodes_stdin_its_close_and_sizes() {
        assert_eq!(
            decode(b"\x00hi"),
            Some(Input::Stdin(Bytes::from_static(b"hi")))
        );
        assert_eq!(decode(&[CLOSE, STDIN]), Some(Input::StdinEnd));
        assert_eq!(
            decode(b"\x04{\"Width\":100,\"Height\":30}"),
            Some(Input::Resize(TerminalSize {
                width: 100,
                height: 30
            }))
        );
        assert_eq!(decode(b"\x00"), None);
        assert_eq!(decode(b""), None);
    }
}
