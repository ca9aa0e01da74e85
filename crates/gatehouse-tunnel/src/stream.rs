//! One HTTP/2 stream as a byte stream (`AsyncRead + AsyncWrite`), so the PostgreSQL session
//! code and `copy_bidirectional` can use a tunnelled session like a TCP connection.
//!
//! Back-pressure is HTTP/2's: received data is acknowledged (its flow-control capacity
//! released) only as the reader consumes it, and writes wait for the peer's window, so a slow
//! client makes the far end stop reading from the target instead of buffering without bound.

use bytes::{Buf, Bytes};
use h2::{RecvStream, SendStream};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest chunk sent in one DATA frame batch.
const MAX_CHUNK: usize = 64 * 1024;

/// A tunnelled session's bytes in both directions.
pub(crate) struct TunnelStream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// Received but not yet read.
    pending: Bytes,
    /// Says who is at the other end in I/O errors ("the agent `dc1`").
    peer: String,
}

impl TunnelStream {
    pub(crate) fn new(send: SendStream<Bytes>, recv: RecvStream, peer: String) -> Self {
        TunnelStream {
            send,
            recv,
            pending: Bytes::new(),
            peer,
        }
    }

    fn broken(&self, error: h2::Error) -> io::Error {
        // A reset with CANCEL or NO_ERROR is the other end closing the session on purpose.
        if error.is_reset()
            && matches!(
                error.reason(),
                Some(h2::Reason::CANCEL | h2::Reason::NO_ERROR)
            )
        {
            return io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("{} ended the session", self.peer),
            );
        }
        let kind = if error.is_io() {
            io::ErrorKind::BrokenPipe
        } else {
            io::ErrorKind::ConnectionAborted
        };
        io::Error::new(kind, format!("the tunnel to {} broke: {error}", self.peer))
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => self.pending = data,
                Some(Err(error)) => return Poll::Ready(Err(self.broken(error))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.pending.len().min(buf.remaining());
        buf.put_slice(self.pending.get(..n).unwrap_or_default());
        self.pending.advance(n);
        // Acknowledge only what was consumed: the peer may send that much more.
        if let Err(error) = self.recv.flow_control().release_capacity(n) {
            return Poll::Ready(Err(self.broken(error)));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let wanted = buf.len().min(MAX_CHUNK);
        self.send.reserve_capacity(wanted);
        loop {
            match ready!(self.send.poll_capacity(cx)) {
                Some(Ok(0)) => continue,
                Some(Ok(granted)) => {
                    let n = granted.min(wanted);
                    let chunk = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
                    return match self.send.send_data(chunk, false) {
                        Ok(()) => Poll::Ready(Ok(n)),
                        Err(error) => Poll::Ready(Err(self.broken(error))),
                    };
                }
                Some(Err(error)) => return Poll::Ready(Err(self.broken(error))),
                None => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        format!("the tunnel to {} closed this session", self.peer),
                    )));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // DATA frames are handed to the connection as they are written.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.send.send_data(Bytes::new(), true) {
            Ok(()) => Poll::Ready(Ok(())),
            // Already closed or reset: nothing more can be sent either way.
            Err(_) => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::hub::{CONNECTION_WINDOW, STREAM_WINDOW};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A session whose reader stops reading holds the writer at the stream's flow-control
    /// window: nothing piles up in between, however much the writer has to send.
    #[tokio::test]
    async fn a_reader_that_stops_reading_stops_the_writer_at_the_window() {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let (stream_tx, stream_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut connection = h2::server::Builder::new()
                .initial_window_size(STREAM_WINDOW)
                .initial_connection_window_size(CONNECTION_WINDOW)
                .handshake::<_, Bytes>(server_io)
                .await
                .unwrap();
            let (request, mut respond) = connection.accept().await.unwrap().unwrap();
            let send = respond
                .send_response(http::Response::new(()), false)
                .unwrap();
            let _ = stream_tx.send(TunnelStream::new(
                send,
                request.into_body(),
                "client".into(),
            ));
            while connection.accept().await.is_some() {}
        });
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(client_io)
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut sender = sender.ready().await.unwrap();
        let (response, send) = sender
            .send_request(http::Request::post("/v1/sessions").body(()).unwrap(), false)
            .unwrap();
        let mut writer = stream_rx.await.unwrap();
        let response = response.await.unwrap();
        let mut reader = TunnelStream::new(send, response.into_body(), "server".into());

        const TOTAL: usize = 16 << 20;
        let written = Arc::new(AtomicUsize::new(0));
        let counter = written.clone();
        let writing = tokio::spawn(async move {
            let chunk = vec![7u8; 32 * 1024];
            while counter.load(Ordering::Relaxed) < TOTAL {
                let n = writer.write(&chunk).await.unwrap();
                counter.fetch_add(n, Ordering::Relaxed);
            }
            writer.shutdown().await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stalled_at = written.load(Ordering::Relaxed);
        let window = usize::try_from(STREAM_WINDOW).unwrap();
        assert!(
            stalled_at <= window,
            "the writer got {stalled_at} bytes ahead of a reader that reads nothing (window {window})"
        );
        assert!(!writing.is_finished());

        // Once the reader reads, everything arrives, in order and complete.
        let mut received = Vec::new();
        reader.read_to_end(&mut received).await.unwrap();
        writing.await.unwrap();
        assert!(received.len() >= TOTAL);
        assert!(received.iter().all(|b| *b == 7));
    }
}
