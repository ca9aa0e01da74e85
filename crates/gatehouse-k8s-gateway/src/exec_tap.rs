//! Recording what an exec or attach carries over WebSocket (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`): every binary message starts with its channel: 0 stdin, 1 stdout,
//! 2 stderr, 3 the final status, 4 a terminal resize (JSON `{"Width":..,"Height":..}`), 255
//! (v5) a stream closed. The tap reads the frames of both directions (client frames are
//! masked, per RFC 6455) and records them as the recording format's terminal events, tied to
//! the exec's request; a frame it cannot read ends the stream, so nothing unrecorded passes.
//! The same exec over SPDY is `spdy_tap.rs`'s.

use crate::stream_record::StreamRecord;
use gatehouse_http::upgrade::{Direction, Observed, Passage, StreamTap};
use gatehouse_http::websocket::{Frame, FrameReader};
use gatehouse_recording::TerminalStream;
use std::sync::{Mutex, PoisonError};

/// One direction's frames being read.
#[derive(Default)]
struct Reading {
    frames: FrameReader,
    /// The channel of a fragmented message's continuation frames.
    channel: Option<u8>,
}

/// Records an exec or attach stream into the session's recording.
pub struct ExecTap {
    record: StreamRecord,
    readers: Mutex<[Reading; 2]>,
}

impl ExecTap {
    pub fn new(record: StreamRecord) -> Self {
        ExecTap {
            record,
            readers: Mutex::new(Default::default()),
        }
    }

    /// Read `bytes`; false when they are not WebSocket framing the tap can read.
    fn read(&self, direction: Direction, bytes: &[u8]) -> bool {
        self.record.count(direction, bytes.len());
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        let index = usize::from(direction == Direction::ToClient);
        let Some(reading) = readers.get_mut(index) else {
            return false;
        };
        match reading.frames.frames(bytes) {
            Ok(frames) => {
                for frame in frames {
                    self.record_frame(direction, reading, frame);
                }
                true
            }
            Err(_) => {
                self.record.event(
                    "unreadable stream",
                    serde_json::json!({ "direction": format!("{direction:?}") }),
                );
                false
            }
        }
    }

    fn record_frame(&self, direction: Direction, reading: &mut Reading, frame: Frame) {
        let channel = match frame.opcode {
            // A continuation carries on the message's channel, without a channel byte.
            0 => match reading.channel {
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
        reading.channel = Some(channel);
        self.record_channel(
            direction,
            channel,
            frame.payload.get(1..).unwrap_or_default(),
        );
    }

    fn record_channel(&self, direction: Direction, channel: u8, data: &[u8]) {
        match (direction, channel) {
            (Direction::ToTarget, 0) => self.record.terminal(TerminalStream::Input, data),
            (Direction::ToClient, 1) => self.record.terminal(TerminalStream::Output, data),
            (Direction::ToClient, 2) => self.record.terminal(TerminalStream::Error, data),
            (Direction::ToTarget, 4) => self.record.resizes(data),
            (Direction::ToClient, 3) => self.record.status(data),
            _ => {}
        }
    }
}

impl StreamTap for ExecTap {
    fn observe<'a>(&'a self, direction: Direction, bytes: &'a [u8]) -> Observed<'a> {
        let passage = if self.read(direction, bytes) {
            Passage::Unchanged
        } else {
            Passage::End
        };
        Box::pin(std::future::ready(passage))
    }

    fn finished(&self, reason: &str) {
        self.record.finished(reason);
    }
}
