//! OpenAPI v3: `/openapi/v3`, an index of one JSON document per group version.

use super::{PATCH_PARAMETERS, group_version_path, group_versions, object_path};
use crate::catalogue::{self, Resource};
use crate::discovery::KUBERNETES_VERSION;
use serde_json::{Map, Value, json};

/// `/openapi/v3`: where each group version's document is, with a hash of its content that
/// clients cache it by.
pub fn index() -> Value {
    let mut paths = Map::new();
    for (group, version) in group_versions() {
        let path = group_version_path(group, version);
        let hash = fnv1a(document(group, version).to_string().as_bytes());
        let url = format!("/openapi/v3/{path}?hash={hash:016X}");
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/apps/v1`.
pub fn document(group: &str, version: &str) -> Value {
    let (major, minor, patch) = KUBERNETES_VERSION;
    let mut paths = Map::new();
    for resource in catalogue::in_group_version(group, version) {
        paths.insert(
            object_path(resource),
            json!({"patch": patch_operation(resource)}),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.{patch}")},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

fn patch_operation(resource: &Resource) -> Value {
    let parameters: Vec<Value> = PATCH_PARAMETERS
        .iter()
        .map(|name| json!({"name": name, "in": "query", "schema": {"type": "string"}}))
        .collect();
    json!({
        "description": format!("partially update the specified {}", resource.kind),
        "operationId": format!("patch{}", resource.kind),
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
            "group": resource.group,
            "version": resource.version,
            "kind": resource.kind,
        },
    })
}

/// FNV-1a, 64 bits: a content hash for the index's URLs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_index_points_at_each_group_version() {
        let index = index();
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="), "{url}");
        assert!(index["paths"]["api/v1"].is_object());
    }

    #[test]
    fn patch_operations_name_their_kind_and_field_validation() {
        let document = document("", "v1");
        let patch = &document["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "ConfigMap"
        );
        let names: Vec<_> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        assert!(names.contains(&json!("fieldValidation")));
        assert!(document["paths"]["/api/v1/namespaces/{name}"].is_object());
    }
}
