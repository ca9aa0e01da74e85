//! WebSocket frames (RFC 6455) as a relay's tap reads them: cut from a byte stream that
//! arrives in arbitrary pieces, client frames unmasked, at most [`MAX_FRAME`] bytes each. The
//! Kubernetes exec tap reads `v4`/`v5.channel.k8s.io` messages with it, its SPDY tap kubectl
//! 1.31's port-forward, whose SPDY frames travel inside WebSocket binary messages (that tap
//! also writes new binary messages ([`binary_message`]) and forwards the server's frames a
//! whole message at a time ([`WholeMessages`]), so that what it adds lands between messages),
//! and the HTTP API adapter records every message of a relayed WebSocket.

use crate::HttpProxyError;

/// The largest frame read (kubectl sends at most 32 KiB per message).
pub const MAX_FRAME: usize = 1 << 20;

/// The most bytes of one unfinished message (and the control frames inside it) held back.
const MAX_HELD: usize = 4 * MAX_FRAME;

/// A frame over [`MAX_FRAME`].
const TOO_LARGE: HttpProxyError =
    HttpProxyError::WebSocketFraming("a WebSocket frame larger than the tap reads");

/// The opcode of a binary message.
pub const BINARY: u8 = 2;

/// One direction's frames being read.
#[derive(Default)]
pub struct FrameReader {
    pending: Vec<u8>,
}

/// A frame's opcode (0 continues a message, 1 text, 2 binary, 8 and up control) and its
/// payload, unmasked.
pub struct Frame {
    pub opcode: u8,
    /// The last frame of its message.
    pub fin: bool,
    /// An extension's bits (RSV1-3) are set: the payload is not plain (e.g. compressed).
    pub extended: bool,
    pub payload: Vec<u8>,
    /// The frame as it came.
    pub wire: Vec<u8>,
}

impl FrameReader {
    /// The complete frames in `pending` after `bytes`; `Err` when the stream is not
    /// WebSocket framing the tap can read.
    pub fn frames(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, HttpProxyError> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame()? {
            frames.push(frame);
        }
        if self.pending.len() > MAX_FRAME + 14 {
            return Err(TOO_LARGE);
        }
        Ok(frames)
    }

    /// The first frame of `pending`, if it is complete.
    fn next_frame(&mut self) -> Result<Option<Frame>, HttpProxyError> {
        let Some(&[first, second]) = self.pending.get(..2) else {
            return Ok(None);
        };
        let masked = second & 0x80 != 0;
        let (length, mut offset) = match second & 0x7f {
            126 => match self.pending.get(2..4) {
                Some(&[a, b]) => (usize::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match self
                .pending
                .get(2..10)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
            {
                Some(bytes) => (
                    usize::try_from(u64::from_be_bytes(bytes)).map_err(|_| TOO_LARGE)?,
                    10,
                ),
                None => return Ok(None),
            },
            short => (usize::from(short), 2),
        };
        if length > MAX_FRAME {
            return Err(TOO_LARGE);
        }
        let key = if masked {
            let Some(key) = self
                .pending
                .get(offset..offset + 4)
                .and_then(|k| <[u8; 4]>::try_from(k).ok())
            else {
                return Ok(None);
            };
            offset += 4;
            Some(key)
        } else {
            None
        };
        let Some(payload) = self.pending.get(offset..offset + length) else {
            return Ok(None);
        };
        let payload = match key {
            Some(key) => payload
                .iter()
                .zip(key.iter().cycle())
                .map(|(byte, mask)| byte ^ mask)
                .collect(),
            None => payload.to_vec(),
        };
        let wire = self.pending.drain(..offset + length).collect();
        Ok(Some(Frame {
            opcode: first & 0x0f,
            fin: first & 0x80 != 0,
            extended: first & 0x70 != 0,
            payload,
            wire,
        }))
    }
}

/// One whole binary message carrying `payload`: masked (with `mask`) as a client sends it,
/// or unmasked as a server does.
pub fn binary_message(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = vec![0x80 | BINARY];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        short @ 0..=125 => frame.push(mask_bit | u8::try_from(short).unwrap_or(125)),
        medium @ 126..=0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&u16::try_from(medium).unwrap_or(u16::MAX).to_be_bytes());
        }
        long => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&u64::try_from(long).unwrap_or(u64::MAX).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            frame.extend_from_slice(&key);
            frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        }
        None => frame.extend_from_slice(payload),
    }
    frame
}

/// Frames let through a whole message at a time: a message's frames, and the control frames
/// sent between them, are held until its last frame has come.
#[derive(Default)]
pub struct WholeMessages {
    held: Vec<u8>,
    in_message: bool,
}

impl WholeMessages {
    /// The bytes of `frames` that may go on now; `Err` when an unfinished message grows past
    /// what is held.
    pub fn release(&mut self, frames: Vec<Frame>) -> Result<Vec<u8>, HttpProxyError> {
        let mut released = Vec::new();
        for frame in frames {
            self.held.extend(frame.wire);
            if frame.opcode < 8 {
                self.in_message = !frame.fin;
            }
            if !self.in_message {
                released.append(&mut self.held);
            }
        }
        if self.held.len() > MAX_HELD {
            return Err(HttpProxyError::WebSocketFraming(
                "a WebSocket message longer than the tap holds",
            ));
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// A binary frame as a client sends it (masked with `key`).
    fn client_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![0x82];
        match payload.len() {
            short @ 0..=125 => frame.push(0x80 | u8::try_from(short).unwrap()),
            long => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(long).unwrap().to_be_bytes());
            }
        }
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        frame
    }

    #[test]
    fn frames_split_anywhere_are_read_whole_and_unmasked() {
        let mut stream = client_frame(b"\x00ls -la\n", [1, 2, 3, 4]);
        let long = [b"\x00".as_slice(), &vec![b'x'; 300]].concat();
        stream.extend(client_frame(&long, [9, 8, 7, 6]));
        for split in 0..stream.len() {
            let mut reader = FrameReader::default();
            let mut frames = reader.frames(&stream[..split]).unwrap();
            frames.extend(reader.frames(&stream[split..]).unwrap());
            assert_eq!(frames.len(), 2, "split at {split}");
            assert_eq!(frames[0].payload, b"\x00ls -la\n");
            assert_eq!(frames[1].payload, long);
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_refused() {
        let mut header = vec![0x82, 127];
        header.extend_from_slice(&u64::try_from(MAX_FRAME + 1).unwrap().to_be_bytes());
        assert!(FrameReader::default().frames(&header).is_err());
    }
}
