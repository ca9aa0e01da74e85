//! Just enough OpenAPI for `kubectl apply`, which validates a manifest before sending it and
//! refuses without an OpenAPI document ("failed to download openapi"). Every kubectl from 1.27
//! reads v3 ([`v3`], JSON) to learn whether the server validates fields itself; 1.27 and 1.28
//! also load v2 ([`v2`], protobuf only) before doing anything and stop if it is missing, while
//! later ones read it only while computing a patch and do without.
//!
//! Both list the PATCH operation of every object path with its
//! `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter, which tells
//! kubectl the server validates fields itself (it then sends `fieldValidation=Strict`). Neither
//! carries schemas, so kubectl computes apply's strategic merge patches from its built-in types,
//! as it does for any server whose schema it cannot use.

pub mod v2;
pub mod v3;

use crate::catalogue::{GROUPS, Resource};

/// The query parameters every PATCH operation lists.
const PATCH_PARAMETERS: &[&str] = &["dryRun", "fieldManager", "fieldValidation", "force"];

/// The path of a group version: `api/v1` or `apis/apps/v1`.
fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// The group versions served: the core `v1` and the named groups.
fn group_versions() -> impl Iterator<Item = (&'static str, &'static str)> {
    std::iter::once(("", "v1")).chain(GROUPS.iter().copied())
}

/// The path template of one object: `/api/v1/namespaces/{namespace}/pods/{name}`.
fn object_path(resource: &Resource) -> String {
    let base = format!("/{}", group_version_path(resource.group, resource.version));
    if resource.namespaced {
        format!(
            "{base}/namespaces/{{namespace}}/{}/{{name}}",
            resource.plural
        )
    } else {
        format!("{base}/{}/{{name}}", resource.plural)
    }
}
