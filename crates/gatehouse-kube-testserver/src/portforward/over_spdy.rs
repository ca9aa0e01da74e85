//! port-forward over SPDY: for each connection it accepts locally, the client opens an `error`
//! and a `data` stream with the same `port` and `requestID` headers; once both are open the
//! pair is forwarded, and when forwarding ends the data stream gets its FIN and the error
//! stream the failure message, if any, then its FIN (the client waits for it). Many pairs share
//! one connection, which lasts until the client closes it.

use super::{Chunk, Target, forward};
use crate::sessions::Recorder;
use crate::shared::Shared;
use crate::spdy::{Connection, Event, Stream};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A requestID's streams as they arrive.
#[derive(Default)]
struct Pair {
    error: Option<Stream>,
    data: Option<Stream>,
}

pub async fn serve(
    mut conn: Connection,
    shared: Arc<Shared>,
    namespace: String,
    pod: String,
    recorder: Recorder,
) {
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    while let Some(stream) = conn.next_stream().await {
        let port = stream
            .header("port")
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p > 0);
        if let Some(port) = port {
            recorder.update(|s| s.stream_ports.push(port));
        }
        let kind = stream.header("streamtype").unwrap_or_default().to_owned();
        let (Some(port), "error" | "data") = (port, kind.as_str()) else {
            stream.writer.reset().await;
            continue;
        };
        let id = stream.header("requestid").unwrap_or_default().to_owned();
        let pair = pairs.entry(id.clone()).or_default();
        if kind == "error" {
            pair.error = Some(stream);
        } else {
            pair.data = Some(stream);
        }
        if pair.error.is_some()
            && pair.data.is_some()
            && let Some(Pair {
                error: Some(error),
                data: Some(data),
            }) = pairs.remove(&id)
        {
            let target = Target {
                pod: pod.clone(),
                port,
                to: shared.pods().port(&namespace, &pod, port),
                recorder: recorder.clone(),
            };
            tokio::spawn(forward_pair(target, error, data));
        }
    }
    conn.close().await;
}

async fn forward_pair(target: Target, error: Stream, data: Stream) {
    let Stream {
        events: mut data_events,
        writer: data_writer,
        ..
    } = data;
    let (chunks, inbound) = mpsc::channel(64);
    let (outbound, mut replies) = mpsc::channel::<Bytes>(64);
    let relay_in = async move {
        while let Some(event) = data_events.recv().await {
            let chunk = match event {
                Event::Data(bytes) => Chunk::Data(bytes),
                Event::End => Chunk::End,
                Event::Reset => return,
            };
            if chunks.send(chunk).await.is_err() {
                return;
            }
        }
    };
    let writer = data_writer.clone();
    let relay_out = async move {
        while let Some(bytes) = replies.recv().await {
            if !writer.write(bytes).await {
                return;
            }
        }
    };
    let done = async {
        let (result, ()) = tokio::join!(forward(&target, inbound, outbound), relay_out);
        data_writer.finish().await;
        if let Err(message) = result {
            error.writer.write(Bytes::from(message)).await;
        }
        error.writer.finish().await;
    };
    // The client's side of the data stream may stay open after forwarding ends (kubectl resets
    // it only once it has seen the FIN), so relaying it must not hold up the end.
    let relaying = async {
        relay_in.await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = done => {}
        () = relaying => {}
    }
}
