//! Fuzz target: a request to an internal HTTP API as a client could send it, through the
//! reading the gateway decides on (`gatehouse_httpapi::attribute`: the request target kept
//! byte for byte and its segments and parameters decoded, method overrides, the strict JSON
//! body reader, the GraphQL operation lexer), and the pipeline request built from it.
//!
//! Input: `method \n target \n content-type \n override-header-value \n body` (the first four
//! as text, invalid UTF-8 replaced; missing parts empty; an empty content type or override
//! value sends no such header). A method ending in ` ws` asks for a WebSocket upgrade.
//!
//! Checked: nothing panics or hangs; an accepted path starts with `/`, has no `//`, no `.` or
//! `..` segment raw or decoded (nor before a `;`), no backslash or `%5C`, nothing outside
//! printable ASCII; reading the forwarded target (`request_target`) again with the same
//! headers and body gives equal attributes, so the gateway decides on exactly what it
//! forwards; the pipeline request's Cedar attributes are exactly the keys `HttpContext`
//! declares in the schema fragment, each once; its action is one the fragment lists.

use gatehouse_core::ProtocolRequest;
use gatehouse_httpapi::{HTTP_PROTOCOL, HttpApiRequest, HttpInput, attribute};
use std::sync::OnceLock;

/// The keys of `HttpContext` the protocol adds (the connect context's are the pipeline's).
fn declared_keys() -> &'static Vec<String> {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let fragment = HTTP_PROTOCOL.fragment;
        let start = fragment.find("type HttpContext = {").unwrap_or_default();
        let body = &fragment[start..];
        let body = &body[..body.find("};").unwrap_or(body.len())];
        body.lines()
            .skip(1)
            .map(str::trim)
            .filter(|line| !line.starts_with("//"))
            .filter_map(|line| {
                line.split_once(':')
                    .map(|(name, _)| name.trim_end_matches('?'))
            })
            .filter(|name| !["source_address", "now", "hour"].contains(name))
            .map(str::to_owned)
            .collect()
    })
}

/// `segment` percent-decoded (malformed escapes left as they are).
fn decode(segment: &str) -> Vec<u8> {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    out
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut parts = data.splitn(5, |&byte| byte == b'\n');
        let mut text = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let (method, target, content_type, claimed) = (text(), text(), text(), text());
        let body = parts.next().unwrap_or_default();
        let (method, websocket) = match method.strip_suffix(" ws") {
            Some(method) => (method, true),
            None => (method.as_str(), false),
        };
        let mut headers = Vec::new();
        if !content_type.is_empty() {
            headers.push(("content-type", content_type.as_str()));
        }
        if !claimed.is_empty() {
            headers.push(("x-http-method-override", claimed.as_str()));
        }
        let selected = ["x-http-method-override".to_owned()];
        let input = HttpInput {
            method,
            target: &target,
            headers: &headers,
            selected_headers: &selected,
            body,
            json_body_limit: 4096,
            websocket,
        };
        let Ok(attributes) = attribute(&input) else {
            return;
        };

        let path = attributes.path.as_str();
        assert!(path.starts_with('/'), "{path:?}");
        assert!(!path.contains("//"), "{path:?}");
        assert!(!path.contains('\\'), "{path:?}");
        assert!(!path.to_ascii_uppercase().contains("%5C"), "{path:?}");
        assert!(
            target.bytes().all(|byte| (0x21..=0x7e).contains(&byte)),
            "{target:?}"
        );
        for segment in path.split('/') {
            let decoded = decode(segment);
            let name = decoded
                .split(|&byte| byte == b';')
                .next()
                .unwrap_or_default();
            assert!(name != b"." && name != b"..", "{path:?}");
            assert!(
                decoded
                    .iter()
                    .all(|&byte| byte >= 0x20 && byte != 0x7f && byte != b'\\'),
                "{path:?}"
            );
        }
        assert_eq!(
            attributes.segments.len(),
            path.split('/')
                .filter(|segment| !segment.is_empty())
                .count(),
            "{path:?}"
        );

        let forwarded = attributes.request_target();
        let again = attribute(&HttpInput {
            target: &forwarded,
            ..input
        });
        assert_eq!(
            again.as_ref(),
            Ok(&attributes),
            "{target:?} forwarded as {forwarded:?}"
        );

        if let Some(operation) = &attributes.graphql {
            assert!(["query", "mutation", "subscription"].contains(&operation.kind.as_str()));
        }

        let request = HttpApiRequest::new(attributes.clone());
        assert!(HTTP_PROTOCOL.request_actions.contains(&request.action()));
        assert!(request.text().starts_with(&attributes.method));
        let mut keys: Vec<&str> = ProtocolRequest::attributes(&request)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let mut declared: Vec<&str> = declared_keys().iter().map(String::as_str).collect();
        keys.sort_unstable();
        declared.sort_unstable();
        assert_eq!(keys, declared, "attributes and HttpContext differ");
    });
}
