//! The request in the pipeline's terms: action, effect, text, fingerprint, the digest
//! approvals bind to, the Cedar attributes, selected headers, and problem answers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_core::{Attribute, Effect, ProtocolRequest};
use gatehouse_httpapi::{HttpApiRequest, HttpInput, PROBLEM_CONTENT_TYPE, Problem, attribute};
use support::{get, read};

#[test]
fn effects_follow_actions() {
    let cases = [
        ("GET", Effect::Read),
        ("HEAD", Effect::Read),
        ("OPTIONS", Effect::Read),
        ("POST", Effect::Write),
        ("PUT", Effect::Write),
        ("PATCH", Effect::Write),
        ("DELETE", Effect::Write),
        ("TRACE", Effect::Unknown),
    ];
    for (method, effect) in cases {
        let request = HttpApiRequest::new(read(method, "/x", &[], b"").unwrap());
        assert_eq!(request.effect(), effect, "{method}");
    }
    let upgrade = attribute(&HttpInput {
        method: "GET",
        target: "/ws",
        headers: &[],
        selected_headers: &[],
        body: b"",
        json_body_limit: 0,
        websocket: true,
    })
    .unwrap();
    assert_eq!(HttpApiRequest::new(upgrade).effect(), Effect::Admin);
}

#[test]
fn text_is_the_decided_method_and_the_forwarded_target() {
    let plain = HttpApiRequest::new(get("/api/queues/%2F/q?columns=name").unwrap());
    assert_eq!(plain.text(), "GET /api/queues/%2F/q?columns=name");
    let claimed = HttpApiRequest::new(
        read(
            "post",
            "/api/users/7",
            &[("x-http-method-override", "DELETE")],
            b"",
        )
        .unwrap(),
    );
    assert_eq!(claimed.text(), "DELETE /api/users/7 (sent as POST)");
    assert_eq!(claimed.action(), "http:delete");
}

#[test]
fn fingerprints_replace_ids() {
    let cases = [
        ("/api/users/42", "GET /api/users/*"),
        ("/api/users/42/keys/7?x=1", "GET /api/users/*/keys/*"),
        ("/o/123e4567-e89b-12d3-a456-426614174000/", "GET /o/*/"),
        ("/c/0123456789ABCDEF", "GET /c/*"),
        ("/c/0123456789abcde", "GET /c/0123456789abcde"),
        ("/api/v2/queues/%2F", "GET /api/v2/queues/%2F"),
        ("/", "GET /"),
    ];
    for (target, fingerprint) in cases {
        let request = HttpApiRequest::new(get(target).unwrap());
        assert_eq!(request.fingerprint(), fingerprint, "{target}");
    }
}

#[test]
fn approvals_bind_to_the_body_digest() {
    let request = HttpApiRequest::new(read("POST", "/x", &[], b"abc").unwrap());
    let context = request.context().unwrap();
    assert_eq!(
        context.digest,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(request.attributes().body_sha256, context.digest);
    assert!(context.parameters.is_empty() && context.resolved.is_empty());
}

#[test]
fn cedar_attributes() {
    let selected = ["x-tenant".to_owned(), "accept".to_owned()];
    let headers = [
        ("content-type", "application/json; charset=utf-8"),
        ("x-tenant", "blue"),
        ("authorization", "Bearer secret"),
        ("x-tenant", "green"),
    ];
    let body = br#"{"name":"q","n":3,"o":{}}"#;
    let attributes = attribute(&HttpInput {
        method: "PUT",
        target: "/api/queues/%2F/q?a=1&b",
        headers: &headers,
        selected_headers: &selected,
        body,
        json_body_limit: 1024,
        websocket: false,
    })
    .unwrap();
    assert_eq!(
        attributes.headers,
        [
            ("x-tenant".to_owned(), "blue".to_owned()),
            ("x-tenant".to_owned(), "green".to_owned())
        ]
    );
    let request = HttpApiRequest::new(attributes);
    let set =
        |items: &[&str]| Attribute::Set(items.iter().map(|item| (*item).to_owned()).collect());
    let text = |value: &str| Attribute::String(value.to_owned());
    assert_eq!(
        ProtocolRequest::attributes(&request),
        vec![
            ("method", text("PUT")),
            ("sent_method", text("PUT")),
            ("path", text("/api/queues/%2F/q")),
            ("query", text("a=1&b")),
            ("segments", set(&["0=api", "1=queues", "2=/", "3=q"])),
            ("params", set(&["a=1", "b="])),
            ("headers", set(&["x-tenant=blue", "x-tenant=green"])),
            ("content_type", text("application/json")),
            ("body_bytes", Attribute::Long(body.len() as i64)),
            ("body_sha256", text(&request.attributes().body_sha256)),
            ("json_keys", set(&["name", "n", "o"])),
            ("json_values", set(&["name=q", "n=3"])),
            ("graphql_operation", text("")),
            ("graphql_name", text("")),
        ]
    );
}

#[test]
fn problems_serialize_as_rfc_9457() {
    let mut problem = Problem::new(403, "Forbidden", "no policy permits http:delete")
        .with_type("denied-by-policy");
    problem.action = Some("http:delete".to_owned());
    problem.connection = Some("rabbitmq".to_owned());
    let json: serde_json::Value = serde_json::from_slice(&problem.to_json()).unwrap();
    assert_eq!(
        json["type"],
        "https://gatehouse.dev/problems/denied-by-policy"
    );
    assert_eq!(json["status"], 403);
    assert_eq!(json["action"], "http:delete");
    assert_eq!(json["connection"], "rabbitmq");
    assert!(json.get("policy").is_none() && json.get("approval_id").is_none());
    assert_eq!(
        Problem::new(400, "Bad Request", "x").problem_type,
        "about:blank"
    );
    assert_eq!(PROBLEM_CONTENT_TYPE, "application/problem+json");
}
