//! WebSocket frames (RFC 6455 section 5): what a client sends is masked and may be fragmented;
//! what a server sends is unmasked, one frame per message.

use bytes::Bytes;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xa;

/// The largest frame payload read; kubectl's frames are at most 33 KiB.
const MAX_PAYLOAD: u64 = 16 * 1024 * 1024;

#[derive(Debug, PartialEq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Bytes,
}

/// The next frame, or `None` when the peer closed the connection between frames.
pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 2];
    match reader.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let [first, second] = head;
    let length = match second & 0x7f {
        126 => u64::from(reader.read_u16().await?),
        127 => reader.read_u64().await?,
        short => u64::from(short),
    };
    if length > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "WebSocket frame too large",
        ));
    }
    let mut mask = [0u8; 4];
    if second & 0x80 != 0 {
        reader.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0; usize::try_from(length).unwrap_or_default()];
    reader.read_exact(&mut payload).await?;
    for (byte, key) in payload.iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
    Ok(Some(Frame {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        payload: Bytes::from(payload),
    }))
}

/// One unmasked, final frame.
pub fn encode(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | opcode);
    match payload.len() {
        short @ 0..=125 => out.push(u8::try_from(short).unwrap_or_default()),
        medium @ 126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&u16::try_from(medium).unwrap_or_default().to_be_bytes());
        }
        long => {
            out.push(127);
            out.extend_from_slice(&u64::try_from(long).unwrap_or_default().to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn unmasks_what_a_client_sends() {
        // RFC 6455 5.7: a masked "Hello".
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let frame = read(&mut &masked[..]).await.unwrap().unwrap();
        assert_eq!(
            frame,
            Frame {
                fin: true,
                opcode: TEXT,
                payload: Bytes::from_static(b"Hello")
            }
        );
    }

    #[tokio::test]
    async fn reads_back_each_length_form() {
        for size in [0, 125, 126, 70_000] {
            let payload = vec![7u8; size];
            let encoded = encode(BINARY, &payload);
            let frame = read(&mut &encoded[..]).await.unwrap().unwrap();
            assert_eq!((frame.opcode, frame.payload.len()), (BINARY, size));
        }
    }
}
