//! Message framing: `tag byte + i32 length + body` after startup, `i32 length + body` during
//! startup. Lengths come from untrusted peers, so every read is bounded by a limit and a
//! violation is an error, never an allocation of what the peer asked for.

use super::tags::frontend;
use crate::PgError;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// One regular message. `raw` is the whole message including its 5-byte header, ready to
/// relay unchanged; `body` is the payload after the header.
#[derive(Debug, Clone)]
pub struct Frame {
    pub tag: u8,
    pub raw: Bytes,
}

impl Frame {
    /// The payload after the tag and length.
    pub fn body(&self) -> &[u8] {
        self.raw.get(5..).unwrap_or_default()
    }
}

/// A startup-phase message: the first word of its body is a request code or protocol version.
#[derive(Debug)]
pub struct StartupFrame {
    pub code: i32,
    pub body: Bytes,
}

/// Reads frames from one side of a connection through a reusable buffer.
pub struct FrameReader<R> {
    io: R,
    buffer: BytesMut,
    max_message: usize,
    peer: &'static str,
}

const READ_CHUNK: usize = 64 * 1024;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// `peer` names the other side in errors ("client", "server").
    pub fn new(io: R, max_message: usize, peer: &'static str) -> Self {
        FrameReader {
            io,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            max_message,
            peer,
        }
    }

    /// The underlying stream, for writing replies during a handshake.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// Give back the underlying stream and any bytes read but not yet consumed.
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.io, self.buffer)
    }

    /// Resume reading a stream with bytes already buffered.
    pub fn from_parts(io: R, buffer: BytesMut, max_message: usize, peer: &'static str) -> Self {
        FrameReader {
            io,
            buffer,
            max_message,
            peer,
        }
    }

    /// Read whatever the peer sends next into the buffer without consuming it, while fewer
    /// than `limit` bytes are buffered (past that, wait forever): `false` once the peer has
    /// closed the connection. Cancel-safe, so it can race other waits.
    pub async fn read_ahead(&mut self, limit: usize) -> Result<bool, PgError> {
        if self.buffer.len() >= limit {
            return std::future::pending().await;
        }
        self.fill().await
    }

    /// Whether the complete frames already buffered include a `Terminate` (`X`): the peer
    /// has said goodbye even if the connection is still open.
    pub fn buffered_terminate(&self) -> bool {
        let mut rest: &[u8] = &self.buffer;
        while let Some(total) = regular_length(rest) {
            if total < 5 || rest.len() < total {
                return false;
            }
            if rest.first() == Some(&frontend::TERMINATE) {
                return true;
            }
            rest = rest.get(total..).unwrap_or_default();
        }
        false
    }

    /// True when a complete regular frame is already buffered (so reading it will not wait).
    pub fn has_buffered_frame(&self) -> bool {
        match regular_length(&self.buffer) {
            Some(len) => self.buffer.len() >= len,
            None => false,
        }
    }

    /// The next regular frame, or `None` on a clean end of stream between frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, PgError> {
        loop {
            if let Some(total) = regular_length(&self.buffer) {
                let declared = total.saturating_sub(1);
                if declared < 4 {
                    return Err(PgError::Protocol(format!(
                        "{} sent a message with invalid length {declared}",
                        self.peer
                    )));
                }
                if total > self.max_message {
                    return Err(PgError::MessageTooLarge {
                        peer: self.peer,
                        size: total,
                        limit: self.max_message,
                    });
                }
                if self.buffer.len() >= total {
                    let raw = self.buffer.split_to(total).freeze();
                    let tag = raw.first().copied().unwrap_or_default();
                    return Ok(Some(Frame { tag, raw }));
                }
                self.buffer.reserve(total - self.buffer.len());
            }
            if !self.fill().await? {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(PgError::Protocol(format!(
                        "{} closed the connection in the middle of a message",
                        self.peer
                    )))
                };
            }
        }
    }

    /// The next startup-phase frame (no tag byte).
    pub async fn next_startup(&mut self) -> Result<Option<StartupFrame>, PgError> {
        loop {
            if self.buffer.len() >= 4 {
                let mut header = self.buffer.get(..4).unwrap_or_default();
                let len = usize::try_from(header.get_i32()).unwrap_or(0);
                if !(8..=self.max_message).contains(&len) {
                    return Err(PgError::Protocol(format!(
                        "{} sent a startup message with invalid length {len}",
                        self.peer
                    )));
                }
                if self.buffer.len() >= len {
                    let mut frame = self.buffer.split_to(len).freeze();
                    frame.advance(4);
                    let code = frame.get_i32();
                    return Ok(Some(StartupFrame { code, body: frame }));
                }
            }
            if !self.fill().await? {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(PgError::Protocol(format!(
                        "{} closed the connection in the middle of a startup message",
                        self.peer
                    )))
                };
            }
        }
    }

    /// Read and throw away whatever the peer still sends, up to `limit` bytes or end of
    /// stream. Used before closing on a protocol error: a client still writing a large
    /// message would otherwise get a connection reset instead of reading the error we sent.
    pub async fn discard_incoming(&mut self, limit: usize) {
        self.buffer.clear();
        let mut discarded = 0usize;
        while discarded < limit {
            match self.io.read_buf(&mut self.buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    discarded += read;
                    self.buffer.clear();
                }
            }
        }
    }

    /// True when nothing at all is buffered (used before switching a stream to TLS: bytes
    /// sent ahead of the handshake would be a plaintext injection).
    pub fn buffer_is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    async fn fill(&mut self) -> Result<bool, PgError> {
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(READ_CHUNK);
        }
        let read = self.io.read_buf(&mut self.buffer).await?;
        Ok(read > 0)
    }
}

/// Total length (tag + declared length) of the regular frame at the start of `buffer`.
fn regular_length(buffer: &[u8]) -> Option<usize> {
    let header = buffer.get(1..5)?;
    let declared = i32::from_be_bytes([
        *header.first()?,
        *header.get(1)?,
        *header.get(2)?,
        *header.get(3)?,
    ]);
    Some(usize::try_from(declared).unwrap_or(0).saturating_add(1))
}
