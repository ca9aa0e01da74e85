//! OpenAPI v2 (`/openapi/v2`), which kubectl 1.27 and 1.28 cannot apply without. client-go asks
//! for and decodes only the protobuf form (gnostic's `openapi.v2.Document`), so the one document is written here as
//! protobuf by hand: every field used is a string or a message, both length-delimited.

use super::{PATCH_PARAMETERS, object_path};
use crate::catalogue::{RESOURCES, Resource};
use crate::discovery::KUBERNETES_VERSION;
use serde_json::json;

/// The media type of the answer. client-go asks for
/// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, but Go's media type parser
/// refuses the `@` in a response, so the answer is typed as the API server types it.
pub const MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The patch formats every object accepts, as `consumes`.
const PATCH_FORMATS: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// The encoded `Document`: swagger (1), info (2), paths (8).
pub fn document() -> Vec<u8> {
    let (major, minor, patch) = KUBERNETES_VERSION;
    let mut info = Vec::new();
    field(&mut info, 1, b"Kubernetes");
    field(&mut info, 2, format!("v{major}.{minor}.{patch}").as_bytes());
    let mut paths = Vec::new();
    for resource in RESOURCES {
        // Paths.path (2): NamedPathItem { name (1), value (2): PathItem { patch (8) } }.
        let mut item = Vec::new();
        field(&mut item, 8, &patch_operation(resource));
        let mut named = Vec::new();
        field(&mut named, 1, object_path(resource).as_bytes());
        field(&mut named, 2, &item);
        field(&mut paths, 2, &named);
    }
    let mut document = Vec::new();
    field(&mut document, 1, b"2.0");
    field(&mut document, 2, &info);
    field(&mut document, 8, &paths);
    document
}

/// An `Operation`: operation_id (5), consumes (7), parameters (8), vendor_extension (13).
fn patch_operation(resource: &Resource) -> Vec<u8> {
    let mut operation = Vec::new();
    field(
        &mut operation,
        5,
        format!("patch{}", resource.kind).as_bytes(),
    );
    for format in PATCH_FORMATS {
        field(&mut operation, 7, format.as_bytes());
    }
    for name in PATCH_PARAMETERS {
        // ParametersItem.parameter (1) → Parameter.non_body_parameter (2) →
        // NonBodyParameter.query_parameter_sub_schema (3) → in (2), name (4), type (6).
        let mut query = Vec::new();
        field(&mut query, 2, b"query");
        field(&mut query, 4, name.as_bytes());
        field(&mut query, 6, b"string");
        let non_body = message(3, &query);
        let parameter = message(2, &non_body);
        field(&mut operation, 8, &message(1, &parameter));
    }
    // NamedAny { name (1), value (2): Any { yaml (2) } }; JSON is YAML.
    let kind = json!({"group": resource.group, "version": resource.version, "kind": resource.kind});
    let mut named = Vec::new();
    field(&mut named, 1, b"x-kubernetes-group-version-kind");
    field(&mut named, 2, &message(2, kind.to_string().as_bytes()));
    field(&mut operation, 13, &named);
    operation
}

/// A message holding the one field `number`.
fn message(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    field(&mut out, number, bytes);
    out
}

/// A length-delimited field (wire type 2): tag, length, bytes.
fn field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    varint(out, u64::from(number) << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(message(1, b"2.0"), [0x0a, 3, b'2', b'.', b'0']);
    }

    #[test]
    fn the_document_starts_with_its_swagger_version_and_names_each_kind() {
        let document = document();
        assert!(document.starts_with(&[0x0a, 3, b'2', b'.', b'0']));
        let text = String::from_utf8_lossy(&document);
        assert!(text.contains(r#""kind":"ConfigMap""#) && text.contains("fieldValidation"));
    }
}
