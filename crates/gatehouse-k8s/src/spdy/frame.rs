//! SPDY/3.1 frames on the wire: an 8-byte header (a control bit, then version and type for
//! control frames or the stream id for data frames; flags and a 24-bit length) and the
//! payload. [`FrameReader`] cuts a byte stream that arrives in arbitrary pieces into whole
//! frames, refusing one longer than its limit before buffering it; [`Frame::parse`] reads one.
//! Header blocks are left compressed here; [`super::Inflater`] inflates them in order.

use crate::AttributionError;

/// The version every control frame carries.
const VERSION: u16 = 3;
/// FIN, on data frames and on SYN_STREAM, SYN_REPLY and HEADERS.
pub const FLAG_FIN: u8 = 0x01;
/// The largest payload one frame can carry (24-bit length).
pub const MAX_PAYLOAD: usize = (1 << 24) - 1;
/// The frame header's length.
const HEADER: usize = 8;

const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;

/// RST_STREAM status: the stream is unknown or not in a state to receive this frame.
pub const INVALID_STREAM: u32 = 2;
/// RST_STREAM status: the stream was refused before any processing.
pub const REFUSED_STREAM: u32 = 3;

/// One frame, its payload borrowed from the wire bytes it was read from.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        stream: u32,
        fin: bool,
        data: &'a [u8],
    },
    /// A stream opened; its compressed header block says what it is for.
    SynStream {
        stream: u32,
        fin: bool,
        block: &'a [u8],
    },
    SynReply {
        stream: u32,
        fin: bool,
        block: &'a [u8],
    },
    /// More headers for a stream; the block must still be inflated, to keep the compression
    /// context in step.
    Headers {
        stream: u32,
        fin: bool,
        block: &'a [u8],
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_stream: u32,
    },
    /// SETTINGS, WINDOW_UPDATE and types SPDY/3.1 does not define: nothing here acts on them.
    Other {
        kind: u16,
    },
}

impl<'a> Frame<'a> {
    /// Read one whole frame (as [`FrameReader::next_frame`] returns them).
    pub fn parse(wire: &'a [u8]) -> Result<Frame<'a>, AttributionError> {
        let Some((&[w0, w1, w2, w3, flags, ..], payload)) = wire.split_first_chunk::<HEADER>()
        else {
            return Err(malformed("a frame is shorter than its 8-byte header"));
        };
        let fin = flags & FLAG_FIN != 0;
        if w0 & 0x80 == 0 {
            return Ok(Frame::Data {
                stream: u32::from_be_bytes([w0, w1, w2, w3]),
                fin,
                data: payload,
            });
        }
        let version = u16::from_be_bytes([w0 & 0x7f, w1]);
        if version != VERSION {
            return Err(malformed(&format!(
                "a control frame has version {version}, not SPDY/3's"
            )));
        }
        let kind = u16::from_be_bytes([w2, w3]);
        let word = |at: usize| {
            payload
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| malformed(&format!("control frame of type {kind} is too short")))
        };
        let stream = || word(0).map(|id| id & 0x7fff_ffff);
        let block = |at: usize| {
            payload
                .get(at..)
                .ok_or_else(|| malformed(&format!("control frame of type {kind} is too short")))
        };
        Ok(match kind {
            SYN_STREAM => Frame::SynStream {
                stream: stream()?,
                fin,
                block: block(10)?,
            },
            SYN_REPLY => Frame::SynReply {
                stream: stream()?,
                fin,
                block: block(4)?,
            },
            HEADERS => Frame::Headers {
                stream: stream()?,
                fin,
                block: block(4)?,
            },
            RST_STREAM => Frame::RstStream {
                stream: stream()?,
                status: word(4)?,
            },
            PING => Frame::Ping { id: word(0)? },
            GOAWAY => Frame::GoAway {
                last_stream: stream()?,
            },
            kind => Frame::Other { kind },
        })
    }
}

fn malformed(why: &str) -> AttributionError {
    AttributionError::SpdyMalformed(why.to_owned())
}

/// Cuts a byte stream into whole frames. Holds at most one frame's bytes beyond what it has
/// handed out: a frame whose header announces more than the limit is refused at once.
pub struct FrameReader {
    pending: Vec<u8>,
    /// Where the first byte not yet handed out is.
    start: usize,
    max_payload: usize,
}

impl FrameReader {
    /// A reader that refuses frames whose payload is longer than `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        FrameReader {
            pending: Vec::new(),
            start: 0,
            max_payload: max_payload.min(MAX_PAYLOAD),
        }
    }

    /// Add bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }

    /// The next whole frame's bytes, `None` until one is complete.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, AttributionError> {
        let rest = self.pending.get(self.start..).unwrap_or_default();
        let Some(&[_, _, _, _, _, l0, l1, l2]) = rest.first_chunk::<HEADER>() else {
            return Ok(None);
        };
        let length = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
        if length > self.max_payload {
            return Err(AttributionError::SpdyFrameTooLarge {
                len: length,
                max: self.max_payload,
            });
        }
        let Some(frame) = rest.get(..HEADER + length) else {
            return Ok(None);
        };
        let frame = frame.to_vec();
        self.start += frame.len();
        Ok(Some(frame))
    }

    /// Whether a frame has begun and not ended: a stream that stops here was cut mid-frame.
    pub fn is_mid_frame(&self) -> bool {
        self.pending.len() > self.start
    }
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
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
    let mut out = Vec::with_capacity(HEADER + data.len());
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(&length_word(if fin { FLAG_FIN } else { 0 }, data.len()));
    out.extend_from_slice(data);
    out
}

/// A SYN_STREAM opening `stream` (no associated stream, the highest priority).
pub fn syn_stream(stream: u32, fin: bool, block: &[u8]) -> Vec<u8> {
    let mut payload = stream.to_be_bytes().to_vec();
    payload.extend_from_slice(&[0; 6]);
    payload.extend_from_slice(block);
    control(SYN_STREAM, if fin { FLAG_FIN } else { 0 }, &payload)
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

/// The SYN_STREAM, SYN_REPLY or HEADERS frame `wire` with its header block replaced by
/// `block`, every other field kept (priority, flags, stream ids): what a relay sends when it
/// compresses a direction's headers itself.
pub fn with_header_block(wire: &[u8], block: &[u8]) -> Result<Vec<u8>, AttributionError> {
    let fixed = match Frame::parse(wire)? {
        Frame::SynStream { .. } => HEADER + 10,
        Frame::SynReply { .. } | Frame::Headers { .. } => HEADER + 4,
        _ => {
            return Err(malformed(
                "only SYN_STREAM, SYN_REPLY and HEADERS carry headers",
            ));
        }
    };
    let length = fixed - HEADER + block.len();
    if length > MAX_PAYLOAD {
        return Err(AttributionError::SpdyFrameTooLarge {
            len: length,
            max: MAX_PAYLOAD,
        });
    }
    let mut out = wire.get(..fixed).unwrap_or_default().to_vec();
    let flags = out.get(4).copied().unwrap_or_default();
    if let Some(word) = out.get_mut(4..HEADER) {
        word.copy_from_slice(&length_word(flags, length));
    }
    out.extend_from_slice(block);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn parse_one(bytes: &[u8]) -> Frame<'_> {
        Frame::parse(bytes).unwrap()
    }

    #[test]
    fn reads_what_it_writes() {
        let data = data(5, true, b"hi");
        assert_eq!(
            parse_one(&data),
            Frame::Data {
                stream: 5,
                fin: true,
                data: b"hi"
            }
        );
        assert_eq!(parse_one(&ping(7)), Frame::Ping { id: 7 });
        assert_eq!(parse_one(&goaway(3)), Frame::GoAway { last_stream: 3 });
        let reset = rst_stream(9, REFUSED_STREAM);
        assert_eq!(
            parse_one(&reset),
            Frame::RstStream {
                stream: 9,
                status: REFUSED_STREAM
            }
        );
        let reply = syn_reply(1, b"x");
        assert_eq!(
            parse_one(&reply),
            Frame::SynReply {
                stream: 1,
                fin: false,
                block: b"x"
            }
        );
        let syn = syn_stream(3, true, b"block");
        assert_eq!(
            parse_one(&syn),
            Frame::SynStream {
                stream: 3,
                fin: true,
                block: b"block"
            }
        );
    }

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let mut stream = data(1, false, b"first");
        stream.extend(syn_stream(3, false, b"headers"));
        stream.extend(data(3, true, &[7; 300]));
        for split in 0..stream.len() {
            let mut reader = FrameReader::new(1024);
            let mut frames = Vec::new();
            for piece in [&stream[..split], &stream[split..]] {
                reader.push(piece);
                while let Some(frame) = reader.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames.concat(), stream, "split at {split}");
            assert_eq!(frames.len(), 3);
            assert!(!reader.is_mid_frame());
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_from_its_header() {
        let mut reader = FrameReader::new(16);
        reader.push(&data(1, false, &[0; 17])[..8]);
        assert_eq!(
            reader.next_frame(),
            Err(AttributionError::SpdyFrameTooLarge { len: 17, max: 16 })
        );
    }

    #[test]
    fn short_or_foreign_control_frames_are_refused() {
        let short_reset = control(RST_STREAM, 0, &[0, 0, 0, 1]);
        assert!(Frame::parse(&short_reset).is_err());
        let short_syn = control(SYN_STREAM, 0, &[0, 0, 0, 1, 0, 0]);
        assert!(Frame::parse(&short_syn).is_err());
        let mut spdy2 = ping(1);
        spdy2[1] = 2;
        assert!(Frame::parse(&spdy2).is_err());
        assert!(Frame::parse(&[0x80, 3]).is_err());
        assert_eq!(parse_one(&control(4, 0, &[])), Frame::Other { kind: 4 });
    }

    #[test]
    fn a_header_block_is_replaced_keeping_the_rest() {
        let original = syn_stream(5, true, b"old block");
        let replaced = with_header_block(&original, b"new").unwrap();
        assert_eq!(replaced, syn_stream(5, true, b"new"));
        assert!(with_header_block(&ping(1), b"x").is_err());
    }
}
