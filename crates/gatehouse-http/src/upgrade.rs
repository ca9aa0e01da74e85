//! HTTP/1.1 upgrades (WebSocket, SPDY/3.1): the streams `kubectl exec`, `attach` and
//! `port-forward` run in. The adapter decides the upgrade request like any other, forwards it
//! with its `Upgrade` and `Connection` headers, and when the upstream switches protocols the
//! two upgraded connections are joined here. What crosses them can be watched (`StreamTap`):
//! for recordings, without changing a byte, and for decisions inside the stream (a
//! port-forward's ports), where the tap may hold bytes while it asks, drop what it refused and
//! answer the refusal itself. The relay ends when either side closes, the tap ends it, or the
//! client connection is cut (a revoked identity's shell ends too).

use crate::listener::ConnectionCut;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

/// Which way bytes cross a relayed stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the target.
    ToTarget,
    /// From the target to the client.
    ToClient,
}

/// What a tap lets through of the bytes it was shown.
#[derive(Debug, PartialEq, Eq)]
pub enum Passage {
    /// The bytes, as they came.
    Unchanged,
    /// Instead of them, `onward` to where they were going (possibly nothing yet: the tap holds
    /// a part it has not read whole) and `back` to where they came from (an answer the tap
    /// gives itself, such as a refusal).
    Rewritten { onward: Vec<u8>, back: Vec<u8> },
    /// End the relay before these bytes are forwarded: what must be recorded or decided and
    /// cannot be is not passed on.
    End,
}

/// What [`StreamTap::observe`] returns: it may wait (for a decision) before it answers.
pub type Observed<'a> = Pin<Box<dyn Future<Output = Passage> + Send + 'a>>;

/// Sees every byte a relayed stream carries, in order per direction, before it is forwarded.
/// One direction waits while the tap looks at its bytes; the other flows on.
pub trait StreamTap: Send + Sync + 'static {
    /// What to forward of `bytes`, which crossed the relay in `direction`.
    fn observe<'a>(&'a self, direction: Direction, bytes: &'a [u8]) -> Observed<'a>;
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
        let client_write = Arc::new(Mutex::new(client_write));
        let upstream_write = Arc::new(Mutex::new(upstream_write));
        let to_target = Ends {
            onward: upstream_write.clone(),
            back: client_write.clone(),
        };
        let to_client = Ends {
            onward: client_write,
            back: upstream_write,
        };
        let mut cut = cut.subscribe();
        let reason = tokio::select! {
            reason = copy(client_read, to_target, Direction::ToTarget, tap.clone()) => reason,
            reason = copy(upstream_read, to_client, Direction::ToClient, tap.clone()) => reason,
            _ = cut.wait_for(|cut| *cut) => "the session was ended by gatehouse".to_owned(),
        };
        if let Some(tap) = &tap {
            tap.finished(&reason);
        }
    })
}

/// Where one direction's bytes go: on, or back where they came from (a tap's own answer).
/// Each writer is shared with the other direction, which writes its answers there.
struct Ends<W> {
    onward: Arc<Mutex<W>>,
    back: Arc<Mutex<W>>,
}

/// Copy one direction, showing each chunk to the tap before it is written on.
async fn copy<R, W>(
    mut from: R,
    ends: Ends<W>,
    direction: Direction,
    tap: Option<Arc<dyn StreamTap>>,
) -> String
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
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
        let passage = match &tap {
            Some(tap) => tap.observe(direction, chunk).await,
            None => Passage::Unchanged,
        };
        let (onward, back) = match &passage {
            Passage::Unchanged => (chunk, &[][..]),
            Passage::Rewritten { onward, back } => (onward.as_slice(), back.as_slice()),
            Passage::End => {
                return "gatehouse could not record or decide the stream, so it was ended"
                    .to_owned();
            }
        };
        if let Err(error) = write(&ends.back, back).await {
            return format!("write failed: {error}");
        }
        if let Err(error) = write(&ends.onward, onward).await {
            return format!("write failed: {error}");
        }
    }
    let _ = ends.onward.lock().await.shutdown().await;
    match direction {
        Direction::ToTarget => "the client closed the stream".to_owned(),
        Direction::ToClient => "the target closed the stream".to_owned(),
    }
}

/// Write `bytes` whole (nothing when empty), flushed.
async fn write<W: AsyncWrite + Unpin>(to: &Mutex<W>, bytes: &[u8]) -> std::io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut to = to.lock().await;
    to.write_all(bytes).await?;
    to.flush().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Sends each chunk on twice and answers `ack` back; ends the relay at a `!`.
    struct Doubler;

    impl StreamTap for Doubler {
        fn observe<'a>(&'a self, _: Direction, bytes: &'a [u8]) -> Observed<'a> {
            let passage = if bytes.contains(&b'!') {
                Passage::End
            } else {
                Passage::Rewritten {
                    onward: bytes.repeat(2),
                    back: b"ack".to_vec(),
                }
            };
            Box::pin(std::future::ready(passage))
        }

        fn finished(&self, _: &str) {}
    }

    /// Relay what `sent` writes towards a target through `Doubler`: (what the target got,
    /// what came back to the sender, the relay's reason for ending).
    async fn through_doubler(sent: &[u8]) -> (Vec<u8>, Vec<u8>, String) {
        let (mut client, client_end) = tokio::io::duplex(1024);
        let (mut target, target_end) = tokio::io::duplex(1024);
        let (client_read, client_write) = tokio::io::split(client_end);
        let (_, target_write) = tokio::io::split(target_end);
        let ends = Ends {
            onward: Arc::new(Mutex::new(target_write)),
            back: Arc::new(Mutex::new(client_write)),
        };
        client.write_all(sent).await.unwrap();
        let relay = tokio::spawn(copy(
            client_read,
            ends,
            Direction::ToTarget,
            Some(Arc::new(Doubler)),
        ));
        client.shutdown().await.unwrap();
        let reason = relay.await.unwrap();
        let mut got = Vec::new();
        let mut answered = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            target.read_to_end(&mut got),
        )
        .await;
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            client.read_to_end(&mut answered),
        )
        .await;
        (got, answered, reason)
    }

    #[tokio::test]
    async fn a_tap_rewrites_what_goes_on_and_answers_back() {
        let (got, answered, reason) = through_doubler(b"hi").await;
        assert_eq!(got, b"hihi");
        assert_eq!(answered, b"ack");
        assert_eq!(reason, "the client closed the stream");
    }

    #[tokio::test]
    async fn a_tap_that_ends_the_relay_lets_nothing_of_the_chunk_through() {
        let (got, answered, reason) = through_doubler(b"stop!").await;
        assert!(got.is_empty());
        assert!(answered.is_empty());
        assert!(reason.contains("could not record or decide"), "{reason}");
    }

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
