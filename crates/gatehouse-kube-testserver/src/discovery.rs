//! Discovery, what kubectl reads before anything else to map `po` or `deploy` to a URL:
//! `/version`, `/api` (APIVersions), `/apis` (APIGroupList), `/apis/<group>` (APIGroup) and
//! each group version's APIResourceList, all built from the catalogue. Requests for the
//! aggregated form (`as=APIGroupDiscoveryList`) get these same legacy documents, typed plain
//! `application/json`, which kubectl takes as "no aggregated discovery here" and reads as is.

use crate::catalogue::{self, GROUPS, VERBS};
use serde_json::{Value, json};

/// The Kubernetes release this server says it is (`/version`). It matters to more than version
/// checks: Google Cloud SDK's `kubectl` is a dispatcher that asks `/version` first and runs the
/// `kubectl.1.NN` of the server's minor version, so this choice decides which kubectl a test of
/// the default `kubectl` really runs (1.32: the dispatcher's own 1.32.4).
pub const KUBERNETES_VERSION: (u32, u32, u32) = (1, 32, 4);

pub fn version() -> Value {
    let (major, minor, patch) = KUBERNETES_VERSION;
    json!({
        "major": major.to_string(),
        "minor": minor.to_string(),
        "gitVersion": format!("v{major}.{minor}.{patch}"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/api`: the legacy core group's one version.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group(name: &str, version: &str) -> Value {
    let group_version = json!({"groupVersion": format!("{name}/{version}"), "version": version});
    json!({
        "name": name,
        "versions": [group_version],
        "preferredVersion": group_version,
    })
}

/// `/apis`: the named groups.
pub fn groups() -> Value {
    let groups: Vec<Value> = GROUPS.iter().map(|(n, v)| group(n, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<name>`: one named group, if served.
pub fn named_group(name: &str) -> Option<Value> {
    let (name, version) = GROUPS.iter().find(|(n, _)| *n == name)?;
    let mut document = group(name, version);
    if let Some(map) = document.as_object_mut() {
        map.insert("kind".into(), json!("APIGroup"));
        map.insert("apiVersion".into(), json!("v1"));
    }
    Some(document)
}

/// `/api/v1` or `/apis/<group>/<version>`: the resources of a group version and their
/// subresources, with the verbs, scope, kinds and short names kubectl maps names with.
pub fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for resource in catalogue::in_group_version(group, version) {
        resources.push(json!({
            "name": resource.plural,
            "singularName": resource.singular,
            "namespaced": resource.namespaced,
            "kind": resource.kind,
            "verbs": VERBS,
            "shortNames": resource.short_names,
            "categories": resource.categories,
        }));
        for sub in resource.subresources {
            let mut entry = json!({
                "name": format!("{}/{}", resource.plural, sub.name),
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": sub.kind,
                "verbs": sub.verbs,
            });
            if let (Some(g), Some(v), Some(map)) = (sub.group, sub.version, entry.as_object_mut()) {
                map.insert("group".into(), json!(g));
                map.insert("version".into(), json!(v));
            }
            resources.push(entry);
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn core_resources_carry_short_names_and_subresources() {
        let list = resource_list("", "v1");
        let resources = list["resources"].as_array().unwrap();
        let named = |name: &str| {
            resources
                .iter()
                .find(|r| r["name"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(named("pods")["shortNames"], json!(["po"]));
        assert_eq!(named("pods/exec")["kind"], "PodExecOptions");
        assert_eq!(named("namespaces")["namespaced"], false);
        assert_eq!(list["groupVersion"], "v1");
    }

    #[test]
    fn the_scale_subresource_names_its_own_group() {
        let list = resource_list("apps", "v1");
        let scale = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .unwrap();
        assert_eq!(
            (scale["group"].as_str(), scale["kind"].as_str()),
            (Some("autoscaling"), Some("Scale"))
        );
        assert_eq!(list["groupVersion"], "apps/v1");
    }

    #[test]
    fn groups_and_versions() {
        assert_eq!(
            groups()["groups"][0]["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
        assert_eq!(named_group("apps").unwrap()["kind"], "APIGroup");
        assert!(named_group("batch").is_none());
        assert_eq!(version()["gitVersion"], "v1.32.4");
    }
}
