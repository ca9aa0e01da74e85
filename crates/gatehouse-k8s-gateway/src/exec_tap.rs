//! Recording what an exec or attach carries. Over WebSocket (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`) every binary message starts with its channel: 0 stdin, 1 stdout,
//! 2 stderr, 3 the final status, 4 a terminal resize (JSON `{"Width":..,"Height":..}`), 255 (v5)
//! a stream closed. The tap reads the frames of both directions (client frames are masked, per
//! RFC 6455) and records them as the recording format's terminal events, tied to the exec's
//! request; a frame it cannot read ends the stream, so nothing unrecorded passes. SPDY streams
//! are relayed and their byte counts recorded (their channel headers are compressed; reading
//! them is not built yet).

use gatehouse_http::upgrade::{Direction, StreamTap};
use gatehouse_pipeline::SessionRecorder;
use gatehouse_recording::{EventKind, ProtocolEvent, TerminalData, TerminalResize, TerminalStream};
use std::sync::{Arc, Mutex, PoisonError};

/// The largest frame the tap reads (kubectl sends at most 32 KiB per message).
const MAX_FRAME: usize = 1 << 20;

/// One direction's frames being read.
#[derive(Default)]
struct FrameReader {
    pending: Vec<u8>,
    /// The channel of a fragmented message's continuation frames.
    channel: Option<u8>,
}

/// A frame's payload, unmasked, and whether it continues a message.
struct Frame {
    opcode: u8,
    payload: Vec<u8>,
}

impl FrameReader {
    /// The complete frames in `pending` after `bytes`; `Err` when the stream is not
    /// WebSocket framing the tap can read.
    fn frames(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, ()> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame()? {
            frames.push(frame);
        }
        if self.pending.len() > MAX_FRAME + 14 {
            return Err(());
        }
        Ok(frames)
    }

    /// The first frame of `pending`, if it is complete.
    fn next_frame(&mut self) -> Result<Option<Frame>, ()> {
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
                    usize::try_from(u64::from_be_bytes(bytes)).map_err(|_| ())?,
                    10,
                ),
                None => return Ok(None),
            },
            short => (usize::from(short), 2),
        };
        if length > MAX_FRAME {
            return Err(());
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
        self.pending.drain(..offset + length);
        Ok(Some(Frame {
            opcode: first & 0x0f,
            payload,
        }))
    }
}

/// Records an exec or attach stream into the session's recording.
pub struct ExecTap {
    recorder: Arc<SessionRecorder>,
    request: u64,
    websocket: bool,
    readers: Mutex<[FrameReader; 2]>,
    bytes: Mutex<[u64; 2]>,
}

impl ExecTap {
    pub fn new(recorder: Arc<SessionRecorder>, request: u64, websocket: bool) -> Self {
        ExecTap {
            recorder,
            request,
            websocket,
            readers: Mutex::new(Default::default()),
            bytes: Mutex::new([0, 0]),
        }
    }

    fn record_frame(&self, direction: Direction, reader: &mut FrameReader, frame: Frame) {
        let channel = match frame.opcode {
            // A continuation carries on the message's channel, without a channel byte.
            0 => match reader.channel {
                Some(channel) => {
                    self.record_channel(direction, channel, &frame.payload);
                    return;
                }
                None => return,
            },
            1 | 2 => frame.payload.first().copied(),
            _ => None,
        };
        let Some(channel) = channel else {
            return;
        };
        reader.channel = Some(channel);
        self.record_channel(
            direction,
            channel,
            frame.payload.get(1..).unwrap_or_default(),
        );
    }

    fn record_channel(&self, direction: Direction, channel: u8, data: &[u8]) {
        let stream = match (direction, channel) {
            (Direction::ToTarget, 0) => TerminalStream::Input,
            (Direction::ToClient, 1) => TerminalStream::Output,
            (Direction::ToClient, 2) => TerminalStream::Error,
            (Direction::ToTarget, 4) => {
                if let Ok(size) = serde_json::from_slice::<serde_json::Value>(data) {
                    let field = |name: &str| {
                        size.get(name)
                            .and_then(serde_json::Value::as_u64)
                            .and_then(|v| u16::try_from(v).ok())
                            .unwrap_or(0)
                    };
                    self.recorder
                        .record(EventKind::TerminalResize(TerminalResize {
                            request: self.request,
                            columns: field("Width"),
                            rows: field("Height"),
                        }));
                }
                return;
            }
            (Direction::ToClient, 3) => {
                self.protocol_event(
                    "exec status",
                    serde_json::from_slice(data).unwrap_or(serde_json::Value::Null),
                );
                return;
            }
            _ => return,
        };
        if !data.is_empty() {
            self.recorder.record(EventKind::Terminal(TerminalData::new(
                self.request,
                stream,
                data,
            )));
        }
    }

    fn protocol_event(&self, name: &str, data: serde_json::Value) {
        self.recorder.record(EventKind::Protocol(ProtocolEvent {
            request: Some(self.request),
            protocol: "k8s".to_owned(),
            name: name.to_owned(),
            data,
        }));
    }
}

impl StreamTap for ExecTap {
    fn observe(&self, direction: Direction, bytes: &[u8]) -> bool {
        let index = usize::from(direction == Direction::ToClient);
        if let Some(count) = self
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(index)
        {
            *count += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        }
        if !self.websocket {
            return true;
        }
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(reader) = readers.get_mut(index) else {
            return false;
        };
        match reader.frames(bytes) {
            Ok(frames) => {
                for frame in frames {
                    self.record_frame(direction, reader, frame);
                }
                true
            }
            Err(()) => {
                self.protocol_event(
                    "unreadable stream",
                    serde_json::json!({ "direction": format!("{direction:?}") }),
                );
                false
            }
        }
    }

    fn finished(&self, reason: &str) {
        let [to_target, to_client] = *self.bytes.lock().unwrap_or_else(PoisonError::into_inner);
        self.protocol_event(
            "stream end",
            serde_json::json!({ "reason": reason, "bytes_to_target": to_target, "bytes_to_client": to_client }),
        );
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
