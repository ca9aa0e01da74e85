//! One side of a MySQL connection as whole protocol messages: the codec's `PacketReader` fed
//! from the socket, and writes gathered into a buffer that is sent in large pieces (a result
//! set is thousands of small packets).

use crate::MysqlError;
use gatehouse_mysql_wire::packet::{Message, PacketReader, write_message};
use gatehouse_session::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Written bytes are sent once this many are waiting.
const SEND_AT: usize = 64 * 1024;

pub(crate) struct PacketStream {
    stream: Box<dyn Stream>,
    reader: PacketReader,
    pending: Vec<u8>,
    /// `client` or `server`, for errors.
    side: &'static str,
}

impl PacketStream {
    pub fn new(stream: Box<dyn Stream>, max_message: usize, side: &'static str) -> Self {
        PacketStream {
            stream,
            reader: PacketReader::new(max_message),
            pending: Vec::new(),
            side,
        }
    }

    /// Bytes that arrived before the session began (a connector's leftover).
    pub fn push_received(&mut self, bytes: &[u8]) {
        self.reader.push(bytes);
    }

    /// The next whole message; `None` when the peer closed the connection between messages.
    pub async fn read(&mut self) -> Result<Option<Message>, MysqlError> {
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            if let Some(message) = self
                .reader
                .next_message()
                .map_err(MysqlError::wire(self.side))?
            {
                return Ok(Some(message));
            }
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                if self.reader.buffered() == 0 {
                    return Ok(None);
                }
                return Err(MysqlError::Protocol(format!(
                    "the {} closed the connection in the middle of a message",
                    self.side
                )));
            }
            self.reader.push(chunk.get(..read).unwrap_or_default());
        }
    }

    /// The next message, which must be there: a closed connection is an error naming `what`
    /// was expected.
    pub async fn expect(&mut self, what: &str) -> Result<Message, MysqlError> {
        self.read().await?.ok_or_else(|| {
            MysqlError::Protocol(format!(
                "the {} closed the connection instead of sending {what}",
                self.side
            ))
        })
    }

    /// One single-packet message read byte-exactly off the socket, nothing beyond it: for the
    /// message after which the client starts TLS without waiting for an answer (its
    /// ClientHello may already be on the way and must reach the TLS layer untouched).
    pub async fn read_exact_packet(&mut self, limit: usize) -> Result<(u8, Vec<u8>), MysqlError> {
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header).await?;
        let [a, b, c, sequence] = header;
        let length = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
        if length > limit {
            return Err(MysqlError::Protocol(format!(
                "the {}'s first message is {length} bytes, more than a login can be ({limit})",
                self.side
            )));
        }
        let mut payload = vec![0u8; length];
        self.stream.read_exact(&mut payload).await?;
        Ok((sequence, payload))
    }

    /// Queue `payload` as a message starting at `sequence`; returns the next sequence id.
    pub async fn write(&mut self, sequence: u8, payload: &[u8]) -> Result<u8, MysqlError> {
        let next = write_message(&mut self.pending, sequence, payload);
        if self.pending.len() >= SEND_AT {
            self.flush().await?;
        }
        Ok(next)
    }

    /// Send everything queued.
    pub async fn flush(&mut self) -> Result<(), MysqlError> {
        if !self.pending.is_empty() {
            self.stream.write_all(&self.pending).await?;
            self.pending.clear();
        }
        self.stream.flush().await?;
        Ok(())
    }

    /// Queue, send, and ignore failures: for the last words to a peer being dropped.
    pub async fn say_last(&mut self, sequence: u8, payload: &[u8]) {
        if self.write(sequence, payload).await.is_ok() {
            let _ = self.flush().await;
        }
        let _ = self.stream.shutdown().await;
    }

    /// Send what is queued, then read and discard what the peer still sends (at most `limit`
    /// bytes, for at most `linger`) before closing: a client still writing the message that
    /// ended its session then reads gatehouse's ERR instead of a connection reset.
    pub async fn drain_and_close(&mut self, limit: usize, linger: std::time::Duration) {
        let _ = self.flush().await;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut left = limit;
        let _ = tokio::time::timeout(linger, async {
            while left > 0 {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => left = left.saturating_sub(read),
                }
            }
        })
        .await;
        let _ = self.stream.shutdown().await;
    }

    /// Whether bytes beyond the messages read so far have arrived.
    pub fn has_buffered(&self) -> bool {
        self.reader.buffered() > 0
    }

    /// The stream, for a TLS upgrade; nothing may be buffered (checked by the caller).
    pub fn into_stream(self) -> Box<dyn Stream> {
        self.stream
    }
}
