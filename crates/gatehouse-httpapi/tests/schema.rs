//! The `http` Cedar fragment: it loads with the base schema, policies written against it
//! validate, and the attributes a request carries are the ones it declares (a policy reading
//! every one of them decides without an error).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_core::{Action, ConnectionInfo, Identity, IdentityKind};
use gatehouse_httpapi::{HTTP, HTTP_PROTOCOL, HttpApiRequest};
use gatehouse_policy::{PolicyEngine, PolicyRequest, PolicySchema};

fn engine(policy: &str) -> PolicyEngine {
    let schema = PolicySchema::new(&[&HTTP_PROTOCOL]).unwrap_or_else(|error| panic!("{error}"));
    PolicyEngine::from_sources(&[("test.cedar".to_owned(), policy.to_owned())], &schema)
        .unwrap_or_else(|error| panic!("{error}"))
}

fn decide(engine: &PolicyEngine, request: HttpApiRequest) -> gatehouse_policy::PolicyVerdict {
    let identity = Identity::new("ana", IdentityKind::Human, vec!["ops".to_owned()]);
    let connection = ConnectionInfo {
        name: "rabbitmq".to_owned(),
        kind: HTTP,
        environment: "prod".to_owned(),
        tags: Vec::new(),
        description: "RabbitMQ management API".to_owned(),
    };
    let action = Action::of(request);
    engine.decide(&PolicyRequest {
        identity: &identity,
        connection: &connection,
        action: &action,
        source_address: None,
        now_unix_seconds: 1_700_000_000,
    })
}

#[test]
fn the_sample_policy_validates_and_decides() {
    let engine = engine(
        r#"permit(principal, action == Gatehouse::Action::"http:get", resource) when { context.path like "/api/queues/*" && context.segments.contains("0=api") };"#,
    );
    let allowed = decide(
        &engine,
        HttpApiRequest::new(support::get("/api/queues/%2F/q").unwrap()),
    );
    assert!(allowed.allowed && allowed.errors.is_empty(), "{allowed:?}");
    let elsewhere = decide(
        &engine,
        HttpApiRequest::new(support::get("/api/users").unwrap()),
    );
    assert!(
        !elsewhere.allowed && elsewhere.errors.is_empty(),
        "{elsewhere:?}"
    );
}

#[test]
fn every_declared_attribute_is_present_with_its_type() {
    let engine = engine(
        r#"
        permit(principal, action in Gatehouse::Action::"http:any", resource) when {
            context.source_address.isIpv4() && context.now > 0 && context.hour >= 0 &&
            context.method == "DELETE" && context.sent_method == "POST" &&
            context.path == "/api/queues/%2F/q" && context.query == "_method=DELETE" &&
            context.segments.contains("2=/") && context.params.contains("_method=DELETE") &&
            context.headers.isEmpty() && context.content_type == "application/json" &&
            context.body_bytes == 17 && context.body_sha256 != "" &&
            context.json_keys.contains("if-empty") &&
            context.json_values.contains("if-empty=true") &&
            context.graphql_operation == "" && context.graphql_name == ""
        };
        permit(principal, action in Gatehouse::Action::"http:write", resource)
            when { context.graphql_operation == "mutation" && context.graphql_name == "Drop" };
        "#,
    );
    let delete = support::read(
        "POST",
        "/api/queues/%2F/q?_method=DELETE",
        &[("content-type", "application/json")],
        br#"{"if-empty":true}"#,
    )
    .unwrap();
    let verdict = decide(&engine, HttpApiRequest::new(delete));
    assert!(verdict.allowed && verdict.errors.is_empty(), "{verdict:?}");
    assert_eq!(verdict.determining_policies.len(), 1, "{verdict:?}");

    let mutation = support::post_json("/graphql", r#"{"query":"mutation Drop { drop }"}"#).unwrap();
    let verdict = decide(&engine, HttpApiRequest::new(mutation));
    assert!(verdict.allowed && verdict.errors.is_empty(), "{verdict:?}");

    let query = support::post_json("/graphql", r#"{"query":"query Q { q }"}"#).unwrap();
    let verdict = decide(&engine, HttpApiRequest::new(query));
    assert!(!verdict.allowed && verdict.errors.is_empty(), "{verdict:?}");
}

#[test]
fn a_policy_naming_an_undeclared_attribute_is_refused() {
    let schema = PolicySchema::new(&[&HTTP_PROTOCOL]).unwrap();
    let policy = r#"permit(principal, action == Gatehouse::Action::"http:get", resource) when { context.verb == "get" };"#;
    assert!(
        PolicyEngine::from_sources(&[("test.cedar".to_owned(), policy.to_owned())], &schema)
            .is_err()
    );
}
