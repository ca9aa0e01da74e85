//! SPDY/3.1 frames on the wire: an 8-byte header (a control bit, then version and type for
//! control frames or the stream id for data frames; flags and a 24-bit length) and the
//! payload. Header blocks are left compressed here; the connection inflates them in order.

use bytes::Bytes;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The version every control frame carries.
const VERSION: u16 = 3;
/// FIN, on data frames and on SYN_STREAM and SYN_REPLY.
pub const FLAG_FIN: u8 = 0x01;
/// The largest payload one frame can carry (24-bit length).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;

/// RST_STREAM status: the stream was refused or is unknown.
pub const INVALID_STREAM: u32 = 2;

/// A frame as read, with what this server acts on; the others are `Ignored`.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Bytes,
    },
    SynStream {
        stream: u32,
        fin: bool,
        block: Bytes,
    },
    /// HEADERS: its block still has to be inflated to keep the compression context in step.
    Headers {
        block: Bytes,
    },
    RstStream {
        stream: u32,
    },
    Ping {
        id: u32,
    },
    GoAway,
    /// SETTINGS, WINDOW_UPDATE (kubectl's spdystream does no flow control), SYN_REPLY and
    /// unknown types.
    Ignored,
}

/// The next frame, or `None` when the peer closed the connection between frames.
pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match reader.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let [w0, w1, w2, w3, flags, l0, l1, l2] = head;
    let length = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).await?;
    let payload = Bytes::from(payload);
    let fin = flags & FLAG_FIN != 0;
    if w0 & 0x80 == 0 {
        let stream = u32::from_be_bytes([w0, w1, w2, w3]);
        return Ok(Some(Frame::Data {
            stream,
            fin,
            data: payload,
        }));
    }
    let word = |at: usize| {
        payload
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_be_bytes(b) & 0x7fff_ffff)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short control frame"))
    };
    let frame = match u16::from_be_bytes([w2, w3]) {
        SYN_STREAM => Frame::SynStream {
            stream: word(0)?,
            fin,
            block: payload.slice(10.min(payload.len())..),
        },
        HEADERS => Frame::Headers {
            block: payload.slice(4.min(payload.len())..),
        },
        RST_STREAM => Frame::RstStream { stream: word(0)? },
        PING => Frame::Ping { id: word(0)? },
        GOAWAY => Frame::GoAway,
        _ => Frame::Ignored,
    };
    Ok(Some(frame))
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&length_word(flags, payload.len()));
    out.extend_from_slice(payload);
    out
}

fn length_word(flags: u8, length: usize) -> [u8; 4] {
    let length = u32::try_from(length.min(MAX_PAYLOAD)).unwrap_or_default();
    let [_, l0, l1, l2] = length.to_be_bytes();
    [flags, l0, l1, l2]
}

/// A DATA frame; `data` must fit one frame ([`MAX_PAYLOAD`]).
pub fn data(stream: u32, fin: bool, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&length_word(if fin { FLAG_FIN } else { 0 }, data.len()));
    out.extend_from_slice(data);
    out
}

pub fn syn_reply(stream: u32, block: &[u8]) -> Vec<u8> {
    let mut payload = stream.to_be_bytes().to_vec();
    payload.extend_from_slice(block);
    control(SYN_REPLY, 0, &payload)
}

pub fn rst_stream(stream: u32, status: u32) -> Vec<u8> {
    let mut payload = stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&status.to_be_bytes());
    control(RST_STREAM, 0, &payload)
}

pub fn ping(id: u32) -> Vec<u8> {
    control(PING, 0, &id.to_be_bytes())
}

/// GOAWAY with status OK, naming the last stream this side accepted.
pub fn goaway(last_stream: u32) -> Vec<u8> {
    let mut payload = last_stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&0u32.to_be_bytes());
    control(GOAWAY, 0, &payload)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn parse(bytes: &[u8]) -> Option<Frame> {
        read(&mut &bytes[..]).await.unwrap()
    }

    #[tokio::test]
    async fn reads_what_it_writes() {
        assert_eq!(
            parse(&data(5, true, b"hi")).await,
            Some(Frame::Data {
                stream: 5,
                fin: true,
                data: Bytes::from_static(b"hi")
            })
        );
        assert_eq!(parse(&ping(7)).await, Some(Frame::Ping { id: 7 }));
        assert_eq!(parse(&goaway(3)).await, Some(Frame::GoAway));
        assert_eq!(
            parse(&rst_stream(9, INVALID_STREAM)).await,
            Some(Frame::RstStream { stream: 9 })
        );
        assert_eq!(parse(&syn_reply(1, b"x")).await, Some(Frame::Ignored));
        assert_eq!(parse(b"").await, None);
    }

    #[tokio::test]
    async fn reads_a_syn_stream_as_kubectl_sends_it() {
        let mut payload = 3u32.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0, 0, 0, 0, 0x60, 0]);
        payload.extend_from_slice(b"block");
        let frame = control(SYN_STREAM, FLAG_FIN, &payload);
        assert_eq!(
            parse(&frame).await,
            Some(Frame::SynStream {
                stream: 3,
                fin: true,
                block: Bytes::from_static(b"block")
            })
        );
    }
}
