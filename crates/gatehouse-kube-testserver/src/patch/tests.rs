#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use serde_json::json;

fn deployment() -> Value {
    json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "envoy:1"},
    ]}}}})
}

#[test]
fn merge_patch_sets_removes_and_replaces_lists() {
    let mut target = deployment();
    merge(
        &mut target,
        &json!({"spec": {"replicas": 3, "paused": null}, "metadata": {"labels": {"a": "b"}}}),
    );
    assert_eq!(target["spec"]["replicas"], 3);
    assert_eq!(target["metadata"]["labels"]["a"], "b");
    merge(
        &mut target,
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "only"}]}}}}),
    );
    assert_eq!(
        target["spec"]["template"]["spec"]["containers"],
        json!([{"name": "only"}])
    );
    merge(&mut target, &json!({"spec": {"replicas": null}}));
    assert!(target["spec"].get("replicas").is_none());
}

#[test]
fn strategic_merge_merges_containers_by_name() {
    let mut target = deployment();
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
        "containers": [{"name": "web", "image": "nginx:1.27"}],
    }}}});
    strategic(&mut target, &patch);
    let containers = &target["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers[0],
        json!({"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]})
    );
    assert_eq!(containers[1]["image"], "envoy:1");
    assert!(
        target["spec"]["template"]["spec"]
            .get("$setElementOrder/containers")
            .is_none()
    );
}

#[test]
fn strategic_merge_adds_and_deletes_named_items() {
    let mut target = deployment();
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"},
        {"name": "logger", "image": "fluent:2"},
    ]}}}});
    strategic(&mut target, &patch);
    let names: Vec<_> = target["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "logger"]);
}

#[test]
fn strategic_merge_directives_on_maps() {
    let mut target = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                                     "finalizers": ["a", "b"], "selector": {"x": 1}}});
    let patch = json!({"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        "$deleteFromPrimitiveList/finalizers": ["a"],
        "selector": {"$patch": "replace", "y": 2},
    }});
    strategic(&mut target, &patch);
    assert_eq!(target["spec"]["strategy"], json!({"type": "Recreate"}));
    assert_eq!(target["spec"]["finalizers"], json!(["b"]));
    assert_eq!(target["spec"]["selector"], json!({"y": 2}));
    strategic(
        &mut target,
        &json!({"spec": {"selector": {"$patch": "delete"}}}),
    );
    assert!(target["spec"].get("selector").is_none());
}

#[test]
fn json_patch_operations() {
    let mut target = json!({"metadata": {"labels": {"a/b": "1"}}, "list": [1, 2]});
    let ops = json!([
        {"op": "test", "path": "/metadata/labels/a~1b", "value": "1"},
        {"op": "add", "path": "/list/-", "value": 3},
        {"op": "add", "path": "/list/0", "value": 0},
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
        {"op": "copy", "from": "/list", "path": "/copy"},
        {"op": "move", "from": "/copy", "path": "/moved"},
        {"op": "remove", "path": "/list/1"},
    ]);
    json_patch(&mut target, &ops).unwrap();
    assert_eq!(
        target,
        json!({"metadata": {"labels": {"a/b": "2"}}, "list": [0, 2, 3], "moved": [0, 1, 2, 3]})
    );
}

#[test]
fn a_failing_json_patch_changes_nothing() {
    let mut target = json!({"a": 1});
    let ops =
        json!([{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/missing"}]);
    assert!(json_patch(&mut target, &ops).is_err());
    assert_eq!(target, json!({"a": 1}));
    assert!(
        json_patch(
            &mut target,
            &json!([{"op": "test", "path": "/a", "value": 2}])
        )
        .is_err()
    );
    assert!(json_patch(&mut target, &json!({"op": "add"})).is_err());
}

#[test]
fn patch_types_by_content_type() {
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json"),
        Some(PatchType::Merge)
    );
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
        Some(PatchType::Strategic)
    );
    assert_eq!(
        PatchType::from_content_type("application/json-patch+json"),
        Some(PatchType::Json)
    );
    assert_eq!(
        PatchType::from_content_type("application/apply-patch+yaml"),
        None
    );
}
