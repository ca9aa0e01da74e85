//! HTTP/1.1 upgrades (WebSocket, SPDY/3.1): the streams `kubectl exec`, `attach` and
//! `port-forward` run in. The adapter decides the upgrade request like any other, forwards it
//! with its `Upgrade` and `Connection` headers, and when the upstream switches protocols the
//! two upgraded connections are joined here. What crosses them can be watched (`StreamTap`),
//! for recordings, without changing a byte; the relay ends when either side closes or the
//! client connection is cut (a revoked identity's shell ends too).

use crate::listener::ConnectionCut;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Which way bytes cross a relayed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the target.
    ToTarget,
    /// From the target to the client.
    ToClient,
}

/// Sees every byte a relayed stream carries, in order per direction, before it is forwarded.
pub trait StreamTap: Send + Sync + 'static {
    /// `false` ends the relay before these bytes are forwarded: what must be recorded and
    /// cannot be is not passed on.
    fn observe(&self, direction: Direction, bytes: &[u8]) -> bool;
    /// The stream ended (`reason` says how).
    fn finished(&self, reason: &str);
}

/// The upgrade protocol a request asks for (`websocket`, `SPDY/3.1`), when it asks for one
/// the HTTP/1.1 way (`Connection: upgrade` and an `Upgrade` header).
pub fn requested_upgrade(headers: &HeaderMap) -> Option<String> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let protocol = headers.get(header::UPGRADE)?.to_str().ok()?.trim();
    (connection_upgrade && !protocol.is_empty()).then(|| protocol.to_owned())
}

/// Put back the upgrade headers that hop-by-hop stripping removed, for the upstream request.
pub fn restore_upgrade_headers(headers: &mut HeaderMap, protocol: &str) -> bool {
    let Ok(value) = HeaderValue::from_str(protocol) else {
        return false;
    };
    headers.insert(header::UPGRADE, value);
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    true
}

/// Join the client's upgraded connection and the upstream's once both have switched, copying
/// both ways until one side closes or `cut` fires; `tap` sees what crosses. Spawned: returns
/// at once with the relay's task, which the adapter awaits before it records the session's end.
pub fn relay(
    client: OnUpgrade,
    upstream: OnUpgrade,
    cut: ConnectionCut,
    tap: Option<Arc<dyn StreamTap>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(error) => {
                if let Some(tap) = &tap {
                    tap.finished(&format!("the upgrade did not complete: {error}"));
                }
                return;
            }
        };
        let (client_read, client_write) = tokio::io::split(TokioIo::new(client));
        let (upstream_read, upstream_write) = tokio::io::split(TokioIo::new(upstream));
        let mut cut = cut.subscribe();
        let reason = tokio::select! {
            reason = copy(client_read, upstream_write, Direction::ToTarget, tap.clone()) => reason,
            reason = copy(upstream_read, client_write, Direction::ToClient, tap.clone()) => reason,
            _ = cut.wait_for(|cut| *cut) => "the session was ended by gatehouse".to_owned(),
        };
        if let Some(tap) = &tap {
            tap.finished(&reason);
        }
    })
}

/// Copy one direction, showing each chunk to the tap before it is written on.
async fn copy<R, W>(
    mut from: R,
    mut to: W,
    direction: Direction,
    tap: Option<Arc<dyn StreamTap>>,
) -> String
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) => return format!("read failed: {error}"),
        };
        let Some(chunk) = buffer.get(..read) else {
            break;
        };
        if let Some(tap) = &tap
            && !tap.observe(direction, chunk)
        {
            return "gatehouse could not record the stream, so it was ended".to_owned();
        }
        if let Err(error) = to.write_all(chunk).await {
            return format!("write failed: {error}");
        }
    }
    let _ = to.shutdown().await;
    match direction {
        Direction::ToTarget => "the client closed the stream".to_owned(),
        Direction::ToClient => "the target closed the stream".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_needs_both_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(requested_upgrade(&headers), None);
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert_eq!(requested_upgrade(&headers).as_deref(), Some("websocket"));
    }
}
