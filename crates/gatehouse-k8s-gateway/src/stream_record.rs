//! What a relayed exec, attach or port-forward leaves in the session's recording, whatever
//! framing carried it (WebSocket channels or SPDY streams): terminal input and output, terminal
//! resizes, the exec's final status, the bytes each way and how the stream ended. Both taps
//! record through this, so `gatehouse sessions replay` and its asciicast export read one shape.

use gatehouse_http::upgrade::Direction;
use gatehouse_pipeline::SessionRecorder;
use gatehouse_recording::{EventKind, ProtocolEvent, TerminalData, TerminalResize, TerminalStream};
use std::sync::{Arc, Mutex, PoisonError};

/// Records one upgraded stream, tied to the request that opened it.
pub struct StreamRecord {
    recorder: Arc<SessionRecorder>,
    request: u64,
    /// Bytes to the target, bytes to the client.
    bytes: Mutex<[u64; 2]>,
}

impl StreamRecord {
    pub fn new(recorder: Arc<SessionRecorder>, request: u64) -> Self {
        StreamRecord {
            recorder,
            request,
            bytes: Mutex::new([0, 0]),
        }
    }

    /// Count bytes that crossed the relay.
    pub fn count(&self, direction: Direction, bytes: usize) {
        let index = usize::from(direction == Direction::ToClient);
        if let Some(count) = self
            .bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(index)
        {
            *count += u64::try_from(bytes).unwrap_or(u64::MAX);
        }
    }

    /// Terminal input or output (nothing for an empty piece).
    pub fn terminal(&self, stream: TerminalStream, data: &[u8]) {
        if !data.is_empty() {
            self.recorder.record(EventKind::Terminal(TerminalData::new(
                self.request,
                stream,
                data,
            )));
        }
    }

    /// Terminal resizes: one or more JSON objects `{"Width":..,"Height":..}`, as kubectl sends
    /// them; what does not parse is not a resize.
    pub fn resizes(&self, data: &[u8]) {
        let sizes = serde_json::Deserializer::from_slice(data).into_iter::<serde_json::Value>();
        for size in sizes.map_while(Result::ok) {
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
    }

    /// The exec's final status (a JSON `Status`, or text from older protocol versions).
    pub fn status(&self, data: &[u8]) {
        let status = serde_json::from_slice(data)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(data).into()));
        self.event("exec status", status);
    }

    /// A `k8s` protocol event tied to the request.
    pub fn event(&self, name: &str, data: serde_json::Value) {
        self.recorder.record(EventKind::Protocol(ProtocolEvent {
            request: Some(self.request),
            protocol: "k8s".to_owned(),
            name: name.to_owned(),
            data,
        }));
    }

    /// The stream ended: how, and the bytes each way.
    pub fn finished(&self, reason: &str) {
        let [to_target, to_client] = *self.bytes.lock().unwrap_or_else(PoisonError::into_inner);
        self.event(
            "stream end",
            serde_json::json!({ "reason": reason, "bytes_to_target": to_target, "bytes_to_client": to_client }),
        );
    }
}
