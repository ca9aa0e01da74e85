//! A relayed WebSocket in the session recording: each frame each way (`http` `websocket_frame`
//! events: direction, opcode, whether it ends its message, its size, and its payload — text as
//! text, binary as base64 — up to a limit), and how the stream ended. gatehouse asks the target
//! for no extension, so frames are plain; a frame it cannot read (an extension's bits set, a
//! frame over the size limit, bytes that are not WebSocket framing) ends the relay before it
//! is passed on: what must be recorded and cannot be is not forwarded.

use base64::Engine;
use gatehouse_http::upgrade::{Direction, Observed, Passage, StreamTap};
use gatehouse_http::websocket::{Frame, FrameReader};
use gatehouse_pipeline::SessionRecorder;
use gatehouse_recording::{EventKind, ProtocolEvent};
use std::sync::{Arc, Mutex, PoisonError};

/// Records one WebSocket, tied to the request that opened it.
pub struct WebSocketTap {
    recorder: Arc<SessionRecorder>,
    request: u64,
    /// Payload bytes kept per frame.
    keep: usize,
    /// Frames being read: to the target, to the client.
    readers: Mutex<[FrameReader; 2]>,
}

impl WebSocketTap {
    pub fn new(recorder: Arc<SessionRecorder>, request: u64, keep: usize) -> Self {
        WebSocketTap {
            recorder,
            request,
            keep,
            readers: Mutex::new([FrameReader::default(), FrameReader::default()]),
        }
    }

    fn event(&self, name: &str, data: serde_json::Value) {
        self.recorder.record(EventKind::Protocol(ProtocolEvent {
            request: Some(self.request),
            protocol: "http".to_owned(),
            name: name.to_owned(),
            data,
        }));
    }

    fn record(&self, direction: Direction, frame: &Frame) {
        let kept = frame
            .payload
            .get(..self.keep.min(frame.payload.len()))
            .unwrap_or_default();
        let payload = match frame.opcode {
            1 => serde_json::Value::String(String::from_utf8_lossy(kept).into_owned()),
            _ => serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(kept)),
        };
        self.event(
            "websocket_frame",
            serde_json::json!({
                "direction": match direction {
                    Direction::ToTarget => "to_target",
                    Direction::ToClient => "to_client",
                },
                "opcode": frame.opcode,
                "fin": frame.fin,
                "bytes": frame.payload.len(),
                "payload": payload,
                "truncated": kept.len() < frame.payload.len(),
            }),
        );
    }
}

impl StreamTap for WebSocketTap {
    fn observe<'a>(&'a self, direction: Direction, bytes: &'a [u8]) -> Observed<'a> {
        Box::pin(async move {
            let read = {
                let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
                let [to_target, to_client] = &mut *readers;
                match direction {
                    Direction::ToTarget => to_target.frames(bytes),
                    Direction::ToClient => to_client.frames(bytes),
                }
            };
            let frames = match read {
                Ok(frames) => frames,
                Err(error) => {
                    self.event(
                        "websocket_unreadable",
                        serde_json::json!({ "reason": error.to_string() }),
                    );
                    return Passage::End;
                }
            };
            for frame in &frames {
                if frame.extended {
                    self.event(
                        "websocket_unreadable",
                        serde_json::json!({"reason": "a frame using a WebSocket extension"}),
                    );
                    return Passage::End;
                }
                self.record(direction, frame);
            }
            Passage::Unchanged
        })
    }

    fn finished(&self, reason: &str) {
        self.event("websocket_end", serde_json::json!({ "reason": reason }));
    }
}
