//! What a session recording keeps of each HTTP request: the exchange (method, target, status,
//! sizes, duration — the event every HTTP-speaking adapter writes) and, as the protocol's own
//! `request` event, the request's headers without credentials or cookies and the first bytes
//! of its body, so that `gatehouse sessions replay` shows what was sent.

use gatehouse_http::transformed::BodyEnd;
use gatehouse_recording::{EventKind, HttpExchange, ProtocolEvent};
use hyper::{HeaderMap, StatusCode, header};
use std::time::Instant;

/// Headers never recorded: they carry credentials.
const UNRECORDED: [header::HeaderName; 3] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
];

/// The `http` `request` event of request `number`.
pub fn request_detail(number: u64, headers: &HeaderMap, body: &[u8], keep: usize) -> EventKind {
    let recorded: serde_json::Map<String, serde_json::Value> = headers
        .keys()
        .filter(|name| !UNRECORDED.contains(name))
        .map(|name| {
            let values: Vec<serde_json::Value> = headers
                .get_all(name)
                .iter()
                .map(|value| {
                    String::from_utf8_lossy(value.as_bytes())
                        .into_owned()
                        .into()
                })
                .collect();
            (name.as_str().to_owned(), serde_json::Value::Array(values))
        })
        .collect();
    let kept = body.get(..keep.min(body.len())).unwrap_or_default();
    EventKind::Protocol(ProtocolEvent {
        request: Some(number),
        protocol: "http".to_owned(),
        name: "request".to_owned(),
        data: serde_json::json!({
            "headers": recorded,
            "body": String::from_utf8_lossy(kept),
            "body_bytes": body.len(),
            "body_truncated": kept.len() < body.len(),
        }),
    })
}

/// What the `http_exchange` event of one request records once its answer has ended.
pub struct Exchange {
    pub request: u64,
    pub method: String,
    /// Path and query as forwarded.
    pub target: String,
    pub status: StatusCode,
    pub request_bytes: u64,
    pub content_type: Option<String>,
    pub started: Instant,
}

impl Exchange {
    /// The event, now that the answer ended as `end` says.
    pub fn event(&self, end: &BodyEnd) -> EventKind {
        EventKind::HttpExchange(HttpExchange {
            request: self.request,
            method: self.method.clone(),
            target: self.target.clone(),
            status: self.status.as_u16(),
            request_bytes: self.request_bytes,
            response_bytes: end.bytes,
            duration_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            content_type: self.content_type.clone(),
            masked: end.masked.clone(),
        })
    }
}
