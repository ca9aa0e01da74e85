//! The `Status` objects the gateway answers with have the shape kubectl reads: kind `Status`,
//! apiVersion `v1`, status `Failure`, the reason and code it prints, and details naming the
//! object.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_k8s::{StatusReason, attribute, status};
use serde_json::json;

#[test]
fn every_reason_has_its_code_and_the_shape_kubectl_reads() {
    let reasons = [
        (StatusReason::Forbidden, "Forbidden", 403),
        (StatusReason::BadRequest, "BadRequest", 400),
        (
            StatusReason::RequestEntityTooLarge,
            "RequestEntityTooLarge",
            413,
        ),
        (StatusReason::Unauthorized, "Unauthorized", 401),
        (StatusReason::InternalError, "InternalError", 500),
        (StatusReason::NotFound, "NotFound", 404),
    ];
    for (reason, name, code) in reasons {
        assert_eq!(reason.code(), code);
        let object = status(reason, "the message", None);
        assert_eq!(
            object,
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": "the message",
                "reason": name,
                "code": code,
            })
        );
    }
}

#[test]
fn details_name_the_object_as_kube_apiserver_does() {
    let scale = attribute("PATCH", "/apis/apps/v1/namespaces/a/deployments/web/scale").unwrap();
    let object = status(
        StatusReason::Forbidden,
        "denied by policy \"no-scale\"",
        Some(&scale),
    );
    assert_eq!(
        object["details"],
        json!({"name": "web", "group": "apps", "kind": "deployments"})
    );
    assert_eq!(object["message"], "denied by policy \"no-scale\"");

    let list = attribute("GET", "/api/v1/namespaces/a/pods").unwrap();
    let object = status(StatusReason::Forbidden, "no", Some(&list));
    assert_eq!(object["details"], json!({"kind": "pods"}));

    let version = attribute("GET", "/version").unwrap();
    let object = status(StatusReason::Forbidden, "no", Some(&version));
    assert!(
        object.get("details").is_none(),
        "a non-resource request names no object"
    );
}

#[test]
fn the_body_is_json_kubectl_can_decode() {
    let text = status(StatusReason::BadRequest, "a \"quoted\"\nmessage", None).to_string();
    let back: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back["message"], "a \"quoted\"\nmessage");
    assert_eq!(back["kind"], "Status");
}
