//! exec and attach over SPDY: the client opens one stream per channel, its `streamtype` header
//! saying which (`error`, `stdin`, `stdout`, `stderr`, `resize`), and the session starts once
//! all it asked for are open, as kubelet waits for them. Stdin ends with the stream's FIN;
//! terminal sizes arrive as a run of JSON objects; the final status goes on the error stream
//! (JSON from v4 on, plain text on failure before), and then every stream this side writes
//! gets its FIN, which is how the client's stdout and stderr end.

use super::{Input, Inputs, Options, Output, Outputs, pipes, terminal_size};
use crate::sessions::Recorder;
use crate::spdy::{Connection, Event, Stream, StreamWriter};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the client has to open the streams it asked for.
const STREAM_CREATION: Duration = Duration::from_secs(30);

pub async fn serve<F, R>(
    mut conn: Connection,
    protocol: &str,
    options: &Options,
    recorder: Recorder,
    run: F,
) where
    F: FnOnce(Inputs, Outputs) -> R,
    R: Future<Output = ()>,
{
    let resizable = matches!(protocol, "v3.channel.k8s.io" | "v4.channel.k8s.io");
    let expected = 1
        + usize::from(options.stdin)
        + usize::from(options.stdout)
        + usize::from(options.stderr)
        + usize::from(options.tty && resizable);
    let Some(mut streams) = wait_for_streams(&mut conn, expected).await else {
        conn.close().await;
        return;
    };
    let mut take = |kind: &str| streams.remove(kind);
    let (stdin, resize) = (take("stdin"), take("resize"));
    let writers = Writers {
        error: take("error").map(|s| s.writer),
        stdout: take("stdout").map(|s| s.writer),
        stderr: take("stderr").map(|s| s.writer),
        json_status: protocol == "v4.channel.k8s.io",
        command: options.command.clone(),
    };
    let (feed, inputs, outputs, mut drain) = pipes(recorder);
    // The input ends (the runner's sign that the client went) with the connection, not with
    // the stdin and resize streams.
    let reading = async {
        tokio::join!(
            feed_stdin(stdin, feed.clone()),
            feed_sizes(resize, feed.clone())
        );
        // Streams opened later are not part of the session.
        while conn.next_stream().await.is_some() {}
        drop(feed);
    };
    let writing = async move {
        while let Some(output) = drain.recv().await {
            if !writers.write(output).await {
                return;
            }
        }
    };
    let work = async { tokio::join!(run(inputs, outputs), writing) };
    tokio::pin!(work);
    tokio::select! {
        _ = &mut work => {}
        () = reading => { work.await; }
    }
    conn.close().await;
}

/// The streams by type, once `expected` are open; `None` if the client goes or is too slow.
async fn wait_for_streams(
    conn: &mut Connection,
    expected: usize,
) -> Option<HashMap<String, Stream>> {
    let mut streams = HashMap::new();
    let waiting = async {
        while streams.len() < expected {
            let stream = conn.next_stream().await?;
            let kind = stream.header("streamtype").unwrap_or_default().to_owned();
            streams.insert(kind, stream);
        }
        Some(())
    };
    tokio::time::timeout(STREAM_CREATION, waiting)
        .await
        .ok()??;
    Some(streams)
}

async fn feed_stdin(stream: Option<Stream>, feed: mpsc::Sender<Input>) {
    let Some(mut stream) = stream else {
        return;
    };
    while let Some(event) = stream.events.recv().await {
        let input = match event {
            Event::Data(data) => Input::Stdin(data),
            Event::End | Event::Reset => Input::StdinEnd,
        };
        if feed.send(input).await.is_err() {
            return;
        }
    }
}

async fn feed_sizes(stream: Option<Stream>, feed: mpsc::Sender<Input>) {
    let Some(mut stream) = stream else {
        return;
    };
    let mut pending = Vec::new();
    while let Some(Event::Data(data)) = stream.events.recv().await {
        pending.extend_from_slice(&data);
        let mut values = serde_json::Deserializer::from_slice(&pending).into_iter::<Value>();
        let mut read = 0;
        let mut sizes = Vec::new();
        while let Some(Ok(value)) = values.next() {
            read = values.byte_offset();
            sizes.extend(terminal_size(&value));
        }
        pending.drain(..read);
        for size in sizes {
            if feed.send(Input::Resize(size)).await.is_err() {
                return;
            }
        }
    }
}

/// The streams this side writes.
struct Writers {
    error: Option<StreamWriter>,
    stdout: Option<StreamWriter>,
    stderr: Option<StreamWriter>,
    json_status: bool,
    command: Vec<String>,
}

impl Writers {
    /// Write one output; false when the session is over (the status went, or the client).
    async fn write(&self, output: Output) -> bool {
        let (writer, data) = match output {
            Output::Stdout(data) => (&self.stdout, data),
            Output::Stderr(data) => (&self.stderr, data),
            Output::End(ending) => {
                let text = if self.json_status {
                    ending.status(&self.command).to_string()
                } else {
                    ending.message(&self.command)
                };
                if let Some(error) = &self.error
                    && !text.is_empty()
                {
                    error.write(Bytes::from(text)).await;
                }
                for writer in [&self.error, &self.stdout, &self.stderr]
                    .into_iter()
                    .flatten()
                {
                    writer.finish().await;
                }
                return false;
            }
        };
        match writer {
            Some(writer) => writer.write(data).await,
            None => true,
        }
    }
}
