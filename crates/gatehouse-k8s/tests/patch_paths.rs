//! The field paths each kind of patch touches, the strategic-merge directives, JSON pointers,
//! server-side apply bodies, and the limits and malformed bodies that are refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_k8s::{
    AttributionError, MAX_PATCH_DEPTH, MAX_PATCH_PATH_BYTES, MAX_PATCH_PATHS, PatchType,
    patch_paths,
};

const JSON: &str = "application/json-patch+json";
const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

fn paths(content_type: &str, body: &str) -> Vec<String> {
    let summary = patch_paths(content_type, body.as_bytes()).unwrap();
    summary.paths.into_iter().collect()
}

#[test]
fn content_types_name_the_patch_type() {
    let cases = [
        (JSON, PatchType::Json, "json"),
        (MERGE, PatchType::Merge, "merge"),
        (
            "Application/Merge-Patch+JSON; charset=utf-8",
            PatchType::Merge,
            "merge",
        ),
        (STRATEGIC, PatchType::Strategic, "strategic"),
        (APPLY, PatchType::Apply, "apply"),
    ];
    for (content_type, want, name) in cases {
        let body: &[u8] = if want == PatchType::Json {
            b"[]"
        } else {
            b"{}"
        };
        let summary = patch_paths(content_type, body).unwrap();
        assert_eq!(summary.patch_type, want);
        assert_eq!(summary.patch_type.as_str(), name);
        assert!(summary.paths.is_empty());
    }
    for other in ["application/json", "application/apply-patch+cbor", ""] {
        assert_eq!(
            patch_paths(other, b"{}"),
            Err(AttributionError::UnsupportedPatchType(other.to_owned()))
        );
    }
}

#[test]
fn merge_patches_give_their_leaves() {
    assert_eq!(
        paths(MERGE, r#"{"spec":{"replicas":3}}"#),
        ["spec.replicas"]
    );
    assert_eq!(
        paths(
            MERGE,
            r#"{"metadata":{"labels":{"app":"web","tier":null},"annotations":{}},"spec":{"paused":true}}"#
        ),
        [
            "metadata.annotations",
            "metadata.labels.app",
            "metadata.labels.tier",
            "spec.paused"
        ]
    );
    assert_eq!(
        paths(
            MERGE,
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:2"}]}}}}"#
        ),
        [
            "spec.template.spec.containers.image",
            "spec.template.spec.containers.name"
        ]
    );
}

#[test]
fn strategic_patches_descend_into_list_elements_without_an_index() {
    let body = r#"{"spec":{"template":{"spec":{"containers":[
        {"name":"app","image":"nginx:2"},
        {"name":"sidecar","image":"envoy:1","args":["--x","--y"]}
    ]}}}}"#;
    let touched = paths(STRATEGIC, body);
    assert!(touched.contains(&"spec.template.spec.containers.image".to_owned()));
    assert_eq!(
        touched,
        [
            "spec.template.spec.containers.args",
            "spec.template.spec.containers.image",
            "spec.template.spec.containers.name",
        ]
    );
    assert_eq!(
        paths(STRATEGIC, r#"{"spec":{"replicas":3}}"#),
        ["spec.replicas"]
    );
    assert_eq!(
        paths(STRATEGIC, r#"{"metadata":{"finalizers":[]}}"#),
        ["metadata.finalizers"]
    );
    assert_eq!(paths(STRATEGIC, r#"{"a":[[{"b":1}],[2]]}"#), ["a", "a.b"]);
}

#[test]
fn strategic_directives_name_what_they_change() {
    assert_eq!(
        paths(
            STRATEGIC,
            r#"{"spec":{"template":{"$patch":"replace","spec":{"x":1}}}}"#
        ),
        ["spec.template", "spec.template.spec.x"]
    );
    assert_eq!(
        paths(
            STRATEGIC,
            r#"{"spec":{"$setElementOrder/containers":[{"name":"a"}],"containers":[{"name":"a","image":"i"}]}}"#
        ),
        [
            "spec.containers",
            "spec.containers.image",
            "spec.containers.name"
        ]
    );
    assert_eq!(
        paths(
            STRATEGIC,
            r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["x"]}}"#
        ),
        ["metadata.finalizers"]
    );
    assert_eq!(
        paths(
            STRATEGIC,
            r#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#
        ),
        ["spec.strategy", "spec.strategy.type"]
    );
    assert_eq!(
        paths(
            STRATEGIC,
            r#"{"spec":{"containers":[{"name":"a","$patch":"delete"}]}}"#
        ),
        ["spec.containers", "spec.containers.name"]
    );
    // At the top, `$patch` stands for the whole object.
    assert_eq!(paths(STRATEGIC, r#"{"$patch":"replace"}"#), [""]);
    assert!(matches!(
        patch_paths(STRATEGIC, br#"{"$setElementOrder/":[]}"#),
        Err(AttributionError::MalformedPatch(_))
    ));
}

#[test]
fn directives_are_strategic_only() {
    assert_eq!(
        paths(MERGE, r#"{"spec":{"$patch":"replace"}}"#),
        ["spec.$patch"]
    );
    assert_eq!(
        paths(APPLY, r#"{"spec":{"$retainKeys":["a"]}}"#),
        ["spec.$retainKeys"]
    );
}

#[test]
fn json_patch_paths_are_decoded_pointers_without_indexes() {
    let body = r#"[
        {"op":"replace","path":"/spec/replicas","value":3},
        {"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"A"}},
        {"op":"remove","path":"/metadata/annotations/example.com~1owner"},
        {"op":"move","from":"/metadata/labels/a~0b","path":"/metadata/labels/c"},
        {"op":"copy","from":"/spec/x","path":"/spec/y"},
        {"op":"test","path":"/metadata/resourceVersion","value":"7"}
    ]"#;
    assert_eq!(
        paths(JSON, body),
        [
            "metadata.annotations.example.com/owner",
            "metadata.labels.a~b",
            "metadata.labels.c",
            "metadata.resourceVersion",
            "spec.replicas",
            "spec.template.spec.containers.env",
            "spec.x",
            "spec.y",
        ]
    );
    assert_eq!(
        paths(JSON, r#"[{"op":"replace","path":"","value":{}}]"#),
        [""]
    );
}

#[test]
fn malformed_json_patches_are_refused() {
    let bad = [
        r#"{"op":"add","path":"/a"}"#,
        r#"[1]"#,
        r#"[{"path":"/a"}]"#,
        r#"[{"op":"frobnicate","path":"/a"}]"#,
        r#"[{"op":"add"}]"#,
        r#"[{"op":"move","path":"/a"}]"#,
        r#"[{"op":"add","path":"a"}]"#,
        r#"[{"op":"add","path":"/a~2"}]"#,
        r#"[{"op":"add","path":"/a~"}]"#,
    ];
    for body in bad {
        assert!(
            matches!(
                patch_paths(JSON, body.as_bytes()),
                Err(AttributionError::MalformedPatch(_))
            ),
            "{body}"
        );
    }
}

#[test]
fn malformed_bodies_are_refused() {
    for (content_type, body) in [
        (MERGE, "{"),
        (MERGE, "[1]"),
        (MERGE, "null"),
        (STRATEGIC, "not json"),
        (STRATEGIC, ""),
        (APPLY, "[]"),
    ] {
        assert!(
            matches!(
                patch_paths(content_type, body.as_bytes()),
                Err(AttributionError::MalformedPatch(_))
            ),
            "{content_type} {body:?}"
        );
    }
}

#[test]
fn apply_accepts_json_and_leaves_yaml_undecided() {
    let json = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":2}}"#;
    assert_eq!(
        paths(APPLY, json),
        ["apiVersion", "kind", "metadata.name", "spec.replicas"]
    );
    let yaml = "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n";
    assert_eq!(
        patch_paths(APPLY, yaml.as_bytes()),
        Err(AttributionError::ApplyYamlUndecided)
    );
    assert_eq!(
        patch_paths(APPLY, b"{kind: Deployment}"),
        Err(AttributionError::ApplyYamlUndecided)
    );
}

#[test]
fn depth_is_capped() {
    let nested = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    assert!(patch_paths(MERGE, nested(MAX_PATCH_DEPTH).as_bytes()).is_ok());
    assert_eq!(
        patch_paths(MERGE, nested(MAX_PATCH_DEPTH + 1).as_bytes()),
        Err(AttributionError::PatchTooDeep(MAX_PATCH_DEPTH))
    );
    let lists = format!(
        r#"{{"a":{}1{}}}"#,
        "[".repeat(MAX_PATCH_DEPTH),
        "]".repeat(MAX_PATCH_DEPTH)
    );
    assert_eq!(
        patch_paths(STRATEGIC, lists.as_bytes()),
        Err(AttributionError::PatchTooDeep(MAX_PATCH_DEPTH))
    );
}

#[test]
fn the_number_of_paths_is_capped() {
    let fields = |count: usize| {
        let members: Vec<String> = (0..count).map(|i| format!(r#""f{i}":1"#)).collect();
        format!("{{{}}}", members.join(","))
    };
    assert_eq!(
        patch_paths(MERGE, fields(MAX_PATCH_PATHS).as_bytes())
            .unwrap()
            .paths
            .len(),
        MAX_PATCH_PATHS
    );
    assert_eq!(
        patch_paths(MERGE, fields(MAX_PATCH_PATHS + 1).as_bytes()),
        Err(AttributionError::TooManyPatchPaths(MAX_PATCH_PATHS))
    );
    let ops: Vec<String> = (0..=MAX_PATCH_PATHS)
        .map(|i| format!(r#"{{"op":"remove","path":"/f{i}"}}"#))
        .collect();
    assert_eq!(
        patch_paths(JSON, format!("[{}]", ops.join(",")).as_bytes()),
        Err(AttributionError::TooManyPatchPaths(MAX_PATCH_PATHS))
    );
}

#[test]
fn repeating_a_long_path_is_capped_so_the_walk_stays_linear() {
    let key = "k".repeat(100_000);
    let elements = vec![r#"{"a":1}"#; 100].join(",");
    let body = format!(r#"{{"{key}":[{elements}]}}"#);
    assert_eq!(
        patch_paths(STRATEGIC, body.as_bytes()),
        Err(AttributionError::PatchPathsTooLarge(MAX_PATCH_PATH_BYTES))
    );
    // Scalars of one list cost their path once.
    let scalars = vec!["1"; 100_000].join(",");
    let body = format!(r#"{{"{key}":[{scalars}]}}"#);
    assert_eq!(paths(MERGE, &body), [key]);
    // A pointer of many tokens is built in one pass.
    let pointer = "/a".repeat(200_000);
    let summary = patch_paths(
        JSON,
        format!(r#"[{{"op":"remove","path":"{pointer}"}}]"#).as_bytes(),
    );
    assert_eq!(
        summary.unwrap().paths.first().map(String::len),
        Some(200_000 * 2 - 1)
    );
}
