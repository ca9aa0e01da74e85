//! What an identity without `data:unmasked` must not read, masked as the answer streams. Answers
//! that carry Secrets — a Secret, a list, a Table with objects, watch events, a TokenRequest's
//! token — have every value under `data` and `stringData` replaced by a placeholder that stays
//! valid base64 (so clients still decode the object), and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, which holds an applied Secret
//! whole, replaced too. A certificate signing request's issued certificate (`status.certificate`,
//! a working client credential once paired with its key) is replaced the same way. ConfigMaps and pods (whose env values hold secrets often enough) go
//! through the masking detectors. gatehouse asks for JSON; a compressed or non-JSON answer is
//! refused, never passed through. Masking is `gatehouse-mask`'s streaming JSON masker: memory
//! stays bounded whatever the size of a list, watches are masked event by event, and a body it
//! cannot read ends the stream rather than pass unmasked bytes.

use crate::answer::{self, Refusal};
use gatehouse_http::body::{BoxError, ProxyBody};
use gatehouse_http::transformed::{ChunkTransform, TransformedBody};
use gatehouse_k8s::{RequestAttributes, StatusReason};
use gatehouse_mask::{
    JsonMaskRules, JsonMode, JsonReplacement, JsonStreamMasker, JsonStreamOptions, MaskError,
    Masker,
};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// What a masked value reads as once decoded.
const PLACEHOLDER: &str = "gatehouse:masked";

/// The masking of Kubernetes answers: the Secret rules and the detectors.
#[derive(Debug, Clone)]
pub struct KubeMasking {
    masker: Arc<Masker>,
    secrets: Arc<JsonMaskRules>,
    certificates: Arc<JsonMaskRules>,
    detected: Arc<JsonMaskRules>,
}

/// Which masking an answer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carries {
    Secrets,
    /// Certificate signing requests, whose status holds the issued certificate.
    Certificates,
    FreeText,
}

impl KubeMasking {
    /// Masking with `masker`'s detectors (and its strategies for what they find).
    pub fn new(masker: Arc<Masker>) -> Result<Self, MaskError> {
        let secrets = JsonMaskRules::new()
            .rule("**.data", JsonReplacement::Base64Of(PLACEHOLDER.to_owned()))?
            .rule(
                "**.stringData",
                JsonReplacement::Text(PLACEHOLDER.to_owned()),
            )?
            .rule(
                r#"**.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#,
                JsonReplacement::Text(format!("{{\"gatehouse\":\"{PLACEHOLDER}\"}}")),
            )?
            .rule(
                "status.token",
                JsonReplacement::Text(PLACEHOLDER.to_owned()),
            )?
            .rule(
                "object.status.token",
                JsonReplacement::Text(PLACEHOLDER.to_owned()),
            )?;
        let certificates = JsonMaskRules::new().rule(
            "**.status.certificate",
            JsonReplacement::Base64Of(PLACEHOLDER.to_owned()),
        )?;
        Ok(KubeMasking {
            masker,
            secrets: Arc::new(secrets),
            certificates: Arc::new(certificates),
            detected: Arc::new(JsonMaskRules::new().scan_unmatched(true)),
        })
    }

    /// Whether the answer to this request must be masked for an identity that may not see
    /// data unmasked.
    pub fn applies_to(&self, request: &RequestAttributes) -> bool {
        carries(request).is_some()
    }
}

fn carries(request: &RequestAttributes) -> Option<Carries> {
    if !request.is_resource_request {
        return None;
    }
    if request.api_group == "certificates.k8s.io" {
        return (request.resource == "certificatesigningrequests").then_some(Carries::Certificates);
    }
    if !request.api_group.is_empty() {
        return None;
    }
    match (request.resource.as_str(), request.subresource.as_str()) {
        ("secrets", _) | ("serviceaccounts", "token") => Some(Carries::Secrets),
        ("configmaps", "") | ("pods", "") => Some(Carries::FreeText),
        _ => None,
    }
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

/// The answer with its values masked as it streams, or a refusal when it cannot be masked.
pub fn masked_answer(
    mut parts: hyper::http::response::Parts,
    body: Incoming,
    request: &RequestAttributes,
    masking: &KubeMasking,
) -> Result<Response<ProxyBody>, Refusal> {
    let refuse = |what: &str| {
        answer::status(
            StatusReason::BadGateway,
            &format!(
                "the API server answered with {what}, which gatehouse cannot mask; its values are masked for this identity"
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
    let rules = match carries(request) {
        Some(Carries::Secrets) => masking.secrets.clone(),
        Some(Carries::Certificates) => masking.certificates.clone(),
        Some(Carries::FreeText) | None => masking.detected.clone(),
    };
    let options = JsonStreamOptions {
        mode: if request.verb == "watch" {
            JsonMode::Lines
        } else {
            JsonMode::Document
        },
        ..JsonStreamOptions::default()
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let tally = MaskTally::default();
    parts.extensions.insert(tally.clone());
    let masking = TalliedMasking {
        masker: JsonStreamMasker::new(masking.masker.clone(), rules, options),
        tally,
    };
    let masked = TransformedBody::new(body, vec![Box::new(masking)], Box::new(|_| {}));
    Ok(Response::from_parts(parts, ProxyBody::new(masked)))
}

/// How many values a masked answer has masked so far, per detector (`email`) and per path rule
/// (`path:**.data`), as the audit outcome counts them: a response extension, read when the
/// answer's body ends (or the client goes away) to record the request's outcome.
#[derive(Debug, Clone, Default)]
pub struct MaskTally(Arc<Mutex<BTreeMap<String, u64>>>);

impl MaskTally {
    /// The counts so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, counts: &gatehouse_mask::MaskCounts) {
        if counts.is_empty() {
            return;
        }
        let detectors = counts.detectors().iter().map(|(k, v)| (k.clone(), *v));
        let paths = counts
            .path_rules()
            .iter()
            .map(|(k, v)| (format!("path:{k}"), *v));
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = detectors.chain(paths).collect();
    }
}

/// The streaming JSON masker, keeping the answer's [`MaskTally`] up to date chunk by chunk. A
/// masking error ends the body with that error (`TransformedBody`): the client sees a cut
/// stream, never the rest unmasked.
struct TalliedMasking {
    masker: JsonStreamMasker,
    tally: MaskTally,
}

impl ChunkTransform for TalliedMasking {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BoxError> {
        let pushed = self.masker.push(chunk);
        self.tally.update(self.masker.counts());
        Ok(pushed?)
    }

    fn finish(&mut self) -> Result<Vec<u8>, BoxError> {
        let finished = self.masker.finish();
        self.tally.update(self.masker.counts());
        Ok(finished?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use base64::Engine;

    fn masking() -> KubeMasking {
        let masker = Masker::new(
            &gatehouse_mask::MaskConfig::default(),
            gatehouse_mask::HashKey::new([7; 32]),
        );
        KubeMasking::new(Arc::new(masker.unwrap())).unwrap()
    }

    fn masked(rules: &Arc<JsonMaskRules>, masking: &KubeMasking, text: &str) -> serde_json::Value {
        let mut stream = JsonStreamMasker::new(
            masking.masker.clone(),
            rules.clone(),
            JsonStreamOptions::default(),
        );
        let mut out = stream.push(text.as_bytes()).unwrap();
        out.extend(stream.finish().unwrap());
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn secret_values_and_the_last_applied_copy_are_replaced_by_valid_base64() {
        let masking = masking();
        let list = serde_json::json!({
            "kind": "SecretList",
            "items": [{
                "metadata": {"name": "db", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}", "team": "core"}},
                "data": {"password": "aHVudGVyMg=="},
                "stringData": {"user": "root"}
            }]
        });
        let out = masked(&masking.secrets, &masking, &list.to_string());
        let text = out.to_string();
        assert!(!text.contains("aHVudGVyMg=="), "{text}");
        assert!(!text.contains("root"), "{text}");
        let placeholder = out["items"][0]["data"]["password"].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(placeholder)
            .unwrap();
        assert_eq!(decoded, PLACEHOLDER.as_bytes());
        assert_eq!(out["items"][0]["metadata"]["annotations"]["team"], "core");
    }

    #[test]
    fn an_issued_certificate_is_replaced_in_objects_lists_tables_and_watch_events() {
        let masking = masking();
        let issued = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=";
        let csr = serde_json::json!({"kind": "CertificateSigningRequest", "spec": {"request": "UkVR", "signerName": "kubernetes.io/kube-apiserver-client"}, "status": {"certificate": issued}});
        let documents = [
            csr.clone(),
            serde_json::json!({"kind": "CertificateSigningRequestList", "items": [csr.clone()]}),
            serde_json::json!({"kind": "Table", "rows": [{"cells": ["csr"], "object": csr.clone()}]}),
            serde_json::json!({"type": "ADDED", "object": csr}),
        ];
        for document in documents {
            let out = masked(&masking.certificates, &masking, &document.to_string());
            let text = out.to_string();
            assert!(!text.contains(issued), "{text}");
            assert!(text.contains("UkVR"), "{text}");
            let placeholder = base64::engine::general_purpose::STANDARD.encode(PLACEHOLDER);
            assert!(text.contains(&placeholder), "{text}");
        }
    }

    #[test]
    fn configmap_values_go_through_the_detectors() {
        let masking = masking();
        let map = r#"{"kind":"ConfigMap","data":{"owner":"ana@example.com","replicas":"3"}}"#;
        let out = masked(&masking.detected, &masking, map);
        assert_ne!(out["data"]["owner"], "ana@example.com");
        assert_eq!(out["data"]["replicas"], "3");
    }
}
