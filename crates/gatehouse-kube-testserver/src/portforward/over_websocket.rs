//! port-forward over WebSocket, kubelet's `v4.channel.k8s.io` form (clients other than kubectl
//! use it): the query's `ports` each get two channels, data (2i) and error (2i+1), and the
//! first message on each is the port, 2 bytes little-endian. The ports are forwarded at once,
//! one connection each, and the WebSocket closes when all have ended.

use super::{Chunk, Target, forward};
use crate::websocket::WebSocket;
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Forward `targets` (one per port, in query order).
pub async fn serve(socket: WebSocket, mut incoming: mpsc::Receiver<Bytes>, targets: Vec<Target>) {
    let sender = socket.sender();
    let mut inbound = HashMap::new();
    let mut forwards = JoinSet::new();
    for (index, target) in targets.into_iter().enumerate() {
        let data = u8::try_from(index * 2).unwrap_or(u8::MAX);
        let port = target.port.to_le_bytes();
        for channel in [data, data.saturating_add(1)] {
            sender.send(message(channel, &port)).await;
        }
        let (chunks, received) = mpsc::channel(64);
        inbound.insert(data, chunks);
        let sender = sender.clone();
        forwards.spawn(async move {
            let (outbound, mut replies) = mpsc::channel::<Bytes>(64);
            let relay_out = async {
                while let Some(bytes) = replies.recv().await {
                    if !sender.send(message(data, &bytes)).await {
                        return;
                    }
                }
            };
            let (result, ()) = tokio::join!(forward(&target, received, outbound), relay_out);
            if let Err(error) = result {
                sender
                    .send(message(data.saturating_add(1), error.as_bytes()))
                    .await;
            }
        });
    }
    let demux = async {
        while let Some(bytes) = incoming.recv().await {
            let Some((channel, data)) = bytes.split_first() else {
                continue;
            };
            if let Some(chunks) = inbound.get(channel)
                && !data.is_empty()
            {
                let _ = chunks.send(Chunk::Data(Bytes::copy_from_slice(data))).await;
            }
        }
        // The client has gone: every forward is abandoned.
        inbound.clear();
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = async { while forwards.join_next().await.is_some() {} } => {}
        () = demux => {}
    }
    socket.close().await;
}

fn message(channel: u8, data: &[u8]) -> Bytes {
    let mut message = BytesMut::with_capacity(1 + data.len());
    message.extend_from_slice(&[channel]);
    message.extend_from_slice(data);
    message.freeze()
}
