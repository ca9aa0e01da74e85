//! What an identity without `data:unmasked` reads of an answer: JSON masked as it streams
//! (the connection's path rules, then the detectors on every other string and number), NDJSON
//! document by document, text (`text/*`, server-sent events included) line by line through the
//! detectors. gatehouse asks the target for uncompressed answers; one that still comes
//! compressed, or in a content type gatehouse cannot read, is refused for these identities
//! unless the connection lists its type as passthrough. Memory stays bounded: JSON by the
//! streaming masker's limits, text by the longest line allowed.

use crate::gateway::HttpTarget;
use crate::problem::{self, Refusal};
use gatehouse_http::body::BoxError;
use gatehouse_http::transformed::ChunkTransform;
use gatehouse_mask::{
    JsonMode, JsonStreamMasker, JsonStreamOptions, LineMasker, MaskCounts, Masker,
};
use hyper::HeaderMap;
use hyper::header;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How an answer is masked, decided from its head.
pub enum AnswerMasking {
    /// Nothing to mask: no body, or a passthrough type.
    None,
    Transform(Box<dyn ChunkTransform>),
}

/// The masking an answer with `headers` needs, or the refusal when it cannot be masked.
pub fn for_answer(
    headers: &HeaderMap,
    has_body: bool,
    target: &HttpTarget,
    masker: &Arc<Masker>,
    max_line_bytes: usize,
) -> Result<AnswerMasking, Refusal> {
    if !has_body {
        return Ok(AnswerMasking::None);
    }
    let media_type = media_type(headers);
    let passthrough = target.passthrough.iter().any(|listed| {
        listed == &media_type
            || listed
                .strip_suffix("/*")
                .is_some_and(|family| media_type.split('/').next() == Some(family))
    });
    if passthrough {
        return Ok(AnswerMasking::None);
    }
    let refuse = |what: &str| {
        problem::bad_gateway(&format!(
            "the target answered with {what}, which gatehouse cannot mask, and this identity sees data masked; the connection may list the type in `passthrough_content_types`"
        ))
    };
    let encoded = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|value| !value.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Err(refuse("a compressed body"));
    }
    let json = |mode| {
        let options = JsonStreamOptions {
            mode,
            ..JsonStreamOptions::default()
        };
        Ok(AnswerMasking::Transform(Box::new(JsonMasking(
            JsonStreamMasker::new(masker.clone(), target.json_rules.clone(), options),
        ))))
    };
    match media_type.as_str() {
        "application/json" => json(JsonMode::Document),
        "application/x-ndjson" | "application/jsonl" | "application/json-lines" => {
            json(JsonMode::Lines)
        }
        kind if kind.ends_with("+json") => json(JsonMode::Document),
        kind if kind.starts_with("text/") => Ok(AnswerMasking::Transform(Box::new(
            TextMasking::new(masker.clone(), max_line_bytes),
        ))),
        "" => Err(refuse("a body without a content type")),
        other => Err(refuse(&format!("`{other}`"))),
    }
}

/// The lower-case media type of `Content-Type`, without parameters.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.split(';').next())
        .map(|kind| kind.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Counts by detector (`email`) and by path rule (`path:**.password`), as audit outcomes keep
/// them.
fn labelled(counts: &MaskCounts) -> BTreeMap<String, u64> {
    let detectors = counts.detectors().iter().map(|(k, v)| (k.clone(), *v));
    let paths = counts
        .path_rules()
        .iter()
        .map(|(k, v)| (format!("path:{k}"), *v));
    detectors.chain(paths).collect()
}

struct JsonMasking(JsonStreamMasker);

impl ChunkTransform for JsonMasking {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(self.0.push(chunk)?)
    }

    fn finish(&mut self) -> Result<Vec<u8>, BoxError> {
        Ok(self.0.finish()?)
    }

    fn counts(&self) -> BTreeMap<String, u64> {
        labelled(self.0.counts())
    }
}

/// Text masked a line at a time (a value the detectors find never spans lines).
pub struct TextMasking(LineMasker);

impl TextMasking {
    pub fn new(masker: Arc<Masker>, max_line_bytes: usize) -> Self {
        TextMasking(LineMasker::new(masker, max_line_bytes))
    }
}

impl ChunkTransform for TextMasking {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BoxError> {
        Ok(self.0.push(chunk)?)
    }

    fn finish(&mut self) -> Result<Vec<u8>, BoxError> {
        Ok(self.0.finish()?)
    }

    fn counts(&self) -> BTreeMap<String, u64> {
        labelled(self.0.counts())
    }
}
