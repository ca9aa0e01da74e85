//! One HTTP API request in the pipeline's terms: its `http:*` action, effect, canonical text
//! (the decided method and exactly the target forwarded), a fingerprint stable across ids,
//! and the Cedar context `schema/http.cedarschema` declares. The body's digest is what an
//! approval binds to, so an approved request runs once and only with the approved body.

use crate::attribution::HttpRequestAttributes;
use gatehouse_core::{Attribute, Effect, ProtocolRequest, StatementContext};

/// The request in the pipeline's terms (implements [`ProtocolRequest`]).
#[derive(Debug, Clone)]
pub struct HttpApiRequest {
    attributes: HttpRequestAttributes,
    /// `METHOD target`, with ` (sent as SENT)` when an override changed the method.
    text: String,
    /// `METHOD path` with id-like segments as `*`.
    fingerprint: String,
    context: StatementContext,
}

impl HttpApiRequest {
    /// The request `attributes` describe.
    pub fn new(attributes: HttpRequestAttributes) -> HttpApiRequest {
        let mut text = format!("{} {}", attributes.method, attributes.request_target());
        if attributes.method != attributes.sent_method {
            text.push_str(&format!(" (sent as {})", attributes.sent_method));
        }
        let fingerprint = format!(
            "{} {}",
            attributes.method,
            fingerprint_path(&attributes.path)
        );
        let context = StatementContext {
            parameters: Vec::new(),
            resolved: Vec::new(),
            digest: attributes.body_sha256.clone(),
        };
        HttpApiRequest {
            attributes,
            text,
            fingerprint,
            context,
        }
    }

    /// What the request was read as.
    pub fn attributes(&self) -> &HttpRequestAttributes {
        &self.attributes
    }
}

/// `path` with every segment that looks like an id (all digits, a UUID, 16 or more hex
/// digits) replaced by `*`.
fn fingerprint_path(path: &str) -> String {
    path.split('/')
        .map(|segment| if is_id(segment) { "*" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_id(segment: &str) -> bool {
    let all = |check: fn(&u8) -> bool| !segment.is_empty() && segment.bytes().all(|b| check(&b));
    all(u8::is_ascii_digit)
        || (all(u8::is_ascii_hexdigit) && segment.len() >= 16)
        || is_uuid(segment)
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(segment: &str) -> bool {
    let groups: Vec<&str> = segment.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl ProtocolRequest for HttpApiRequest {
    fn action(&self) -> &'static str {
        self.attributes.action()
    }

    fn effect(&self) -> Effect {
        match self.action() {
            "http:get" | "http:head" | "http:options" => Effect::Read,
            "http:post" | "http:put" | "http:patch" | "http:delete" => Effect::Write,
            "http:websocket" => Effect::Admin,
            _ => Effect::Unknown,
        }
    }

    fn text(&self) -> &str {
        &self.text
    }

    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn context(&self) -> Option<&StatementContext> {
        Some(&self.context)
    }

    /// The `HttpContext` of `schema/http.cedarschema`, beside the connect context.
    fn attributes(&self) -> Vec<(&'static str, Attribute)> {
        let request = &self.attributes;
        let text = |value: &str| Attribute::String(value.to_owned());
        let pairs = |pairs: &[(String, String)]| {
            Attribute::Set(
                pairs
                    .iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect(),
            )
        };
        let segments = request
            .segments
            .iter()
            .enumerate()
            .map(|(index, segment)| format!("{index}={segment}"))
            .collect();
        let (graphql_operation, graphql_name) = match &request.graphql {
            Some(operation) => (operation.kind.as_str(), operation.name.as_str()),
            None => ("", ""),
        };
        vec![
            ("method", text(&request.method)),
            ("sent_method", text(&request.sent_method)),
            ("path", text(&request.path)),
            ("query", text(&request.query)),
            ("segments", Attribute::Set(segments)),
            ("params", pairs(&request.query_params)),
            ("headers", pairs(&request.headers)),
            ("content_type", text(&request.content_type)),
            (
                "body_bytes",
                Attribute::Long(i64::try_from(request.body_bytes).unwrap_or(i64::MAX)),
            ),
            ("body_sha256", text(&request.body_sha256)),
            ("json_keys", Attribute::Set(request.json_keys.clone())),
            ("json_values", Attribute::Set(request.json_values.clone())),
            ("graphql_operation", text(graphql_operation)),
            ("graphql_name", text(graphql_name)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_like_segments_become_stars() {
        assert_eq!(
            fingerprint_path(
                "/api/users/42/keys/0123456789abcdef0/x/123e4567-e89b-12d3-a456-426614174000/"
            ),
            "/api/users/*/keys/*/x/*/"
        );
        assert_eq!(fingerprint_path("/api/v1/cafe/%2F"), "/api/v1/cafe/%2F");
        assert_eq!(fingerprint_path("/"), "/");
    }
}
