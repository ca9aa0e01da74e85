//! Secret values never reach an identity that may not see them unmasked. Answers that carry
//! Secrets — a Secret, a list, a Table with objects, watch events, a TokenRequest's token — are
//! read as JSON (gatehouse asks for JSON; anything else, or a compressed answer, is refused,
//! never passed through) and every value under `data` and `stringData` is replaced by a
//! placeholder that stays valid base64, so clients still decode the object; the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, which holds the applied
//! Secret whole, is replaced too. Watches are masked event by event as they stream.

use crate::answer::{self, Refusal};
use crate::gateway::KubeLimits;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use gatehouse_http::body::{BoxError, ProxyBody, full};
use gatehouse_k8s::RequestAttributes;
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Response};
use serde_json::Value;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What a masked value reads as once decoded.
const PLACEHOLDER: &str = "gatehouse:masked";

/// The annotation `kubectl apply` keeps the applied object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Whether the answer to this request can carry Secret values.
pub fn carries_secrets(request: &RequestAttributes) -> bool {
    request.is_resource_request
        && (request.resource == "secrets"
            || (request.resource == "serviceaccounts" && request.subresource == "token"))
}

/// Ask for JSON only (never protobuf, which gatehouse does not mask).
pub fn ask_for_json(headers: &mut HeaderMap) {
    let asks_for_other = headers.get_all(header::ACCEPT).iter().any(|value| {
        value
            .to_str()
            .map_or(true, |text| text.contains("protobuf"))
    });
    if asks_for_other {
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
}

/// The answer with its Secret values masked, or a refusal when it cannot be masked.
pub async fn masked_answer(
    mut parts: hyper::http::response::Parts,
    body: Incoming,
    request: &RequestAttributes,
    limits: &KubeLimits,
) -> Result<Response<ProxyBody>, Refusal> {
    let refuse = |what: &str| {
        answer::status(
            gatehouse_k8s::StatusReason::BadGateway,
            &format!(
                "the API server answered with {what}, which gatehouse cannot mask; Secrets are masked for this identity"
            ),
        )
    };
    let encoded = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Err(refuse("a compressed body"));
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|text| text.trim_start().starts_with("application/json"));
    if !json {
        return Err(refuse("a body that is not JSON"));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    if request.verb == "watch" {
        let masked = WatchMasker {
            inner: body,
            pending: BytesMut::new(),
            limit: limits.max_masked_bytes,
        };
        return Ok(Response::from_parts(parts, ProxyBody::new(masked)));
    }
    let whole =
        gatehouse_http::body::read_bounded(body, limits.max_masked_bytes, Duration::from_secs(120))
            .await
            .map_err(|error| refuse(&format!("a body gatehouse could not read whole ({error})")))?;
    let mut document: Value =
        serde_json::from_slice(&whole).map_err(|_| refuse("malformed JSON"))?;
    mask(&mut document);
    Ok(Response::from_parts(parts, full(document.to_string())))
}

/// Replace every Secret value in `document`.
pub fn mask(document: &mut Value) {
    match document {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match (key.as_str(), value) {
                    ("data", Value::Object(values)) => {
                        let placeholder =
                            base64::engine::general_purpose::STANDARD.encode(PLACEHOLDER);
                        values
                            .values_mut()
                            .for_each(|v| *v = Value::String(placeholder.clone()));
                    }
                    ("stringData", Value::Object(values)) => {
                        values
                            .values_mut()
                            .for_each(|v| *v = Value::String(PLACEHOLDER.to_owned()));
                    }
                    ("token", Value::String(token)) => *token = PLACEHOLDER.to_owned(),
                    ("annotations", Value::Object(annotations)) => {
                        if let Some(applied) = annotations.get_mut(LAST_APPLIED) {
                            *applied =
                                Value::String(format!("{{\"gatehouse\":\"{PLACEHOLDER}\"}}"));
                        }
                    }
                    (_, value) => mask(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// A watch's body, masked one newline-delimited event at a time as it streams. An event
/// longer than the limit, or one that is not JSON, ends the stream with an error: nothing
/// unmasked is passed on.
struct WatchMasker {
    inner: Incoming,
    pending: BytesMut,
    limit: usize,
}

impl WatchMasker {
    /// The complete events in `pending`, masked, one per line.
    fn masked_events(&mut self, finished: bool) -> Result<Bytes, BoxError> {
        let mut out = Vec::new();
        loop {
            let end = match self.pending.iter().position(|b| *b == b'\n') {
                Some(newline) => newline + 1,
                None if finished && !self.pending.is_empty() => self.pending.len(),
                None => break,
            };
            let line = self.pending.split_to(end);
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let mut event: Value = serde_json::from_slice(text).map_err(|_| {
                BoxError::from(
                    "a watch event that is not JSON; the stream was ended unmasked data unsent",
                )
            })?;
            mask(&mut event);
            out.extend_from_slice(event.to_string().as_bytes());
            out.push(b'\n');
        }
        if self.pending.len() > self.limit {
            return Err(BoxError::from(
                "a watch event over the masking limit; the stream was ended",
            ));
        }
        Ok(Bytes::from(out))
    }
}

impl Body for WatchMasker {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(Box::new(error)))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    self.pending.extend_from_slice(&data);
                    match self.masked_events(false) {
                        Ok(events) if events.is_empty() => continue,
                        Ok(events) => return Poll::Ready(Some(Ok(Frame::data(events)))),
                        Err(error) => return Poll::Ready(Some(Err(error))),
                    }
                }
                Poll::Ready(None) => {
                    return match self.masked_events(true) {
                        Ok(events) if events.is_empty() => Poll::Ready(None),
                        Ok(events) => Poll::Ready(Some(Ok(Frame::data(events)))),
                        Err(error) => Poll::Ready(Some(Err(error))),
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn secret_values_and_the_last_applied_copy_are_replaced_by_valid_base64() {
        let mut list = serde_json::json!({
            "kind": "SecretList",
            "items": [{
                "metadata": {"name": "db", "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}", "team": "core"}},
                "data": {"password": "aHVudGVyMg=="},
                "stringData": {"user": "root"}
            }]
        });
        mask(&mut list);
        let text = list.to_string();
        assert!(!text.contains("aHVudGVyMg=="), "{text}");
        assert!(!text.contains("root"), "{text}");
        let placeholder = list["items"][0]["data"]["password"]
            .as_str()
            .unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD.decode(placeholder);
        assert_eq!(decoded.ok().as_deref(), Some(PLACEHOLDER.as_bytes()));
        assert_eq!(list["items"][0]["metadata"]["annotations"]["team"], "core");
    }
}
