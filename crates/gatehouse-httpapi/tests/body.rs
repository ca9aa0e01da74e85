//! Bodies: content types, JSON fields and their refusals, and GraphQL operations.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_httpapi::{GraphqlOperation, HttpApiError, HttpInput, attribute};
use support::{assert_actionable, get, post_json, read};

fn operation(kind: &str, name: &str) -> Option<GraphqlOperation> {
    Some(GraphqlOperation {
        kind: kind.to_owned(),
        name: name.to_owned(),
    })
}

#[test]
fn json_top_level_keys_and_scalars() {
    let body = r#"{"name":"orders","durable":true,"args":{"x":1},"ttl":1E3,"neg":-0.50,
        "none":null,"list":[1,2],"text":"a=b \"q\" \u00e9","off":false}"#;
    let attributes = post_json("/api/queues/%2F/orders", body).unwrap();
    assert_eq!(
        attributes.json_keys,
        [
            "name", "durable", "args", "ttl", "neg", "none", "list", "text", "off"
        ]
    );
    assert_eq!(
        attributes.json_values,
        [
            "name=orders",
            "durable=true",
            "ttl=1E3",
            "neg=-0.50",
            "none=null",
            "text=a=b \"q\" é",
            "off=false",
        ]
    );
    assert_eq!(attributes.content_type, "application/json");
    assert_eq!(attributes.body_bytes, body.len() as u64);
    assert_eq!(attributes.graphql, None);
}

#[test]
fn json_media_types() {
    let body = br#"{"a":1}"#;
    for (content_type, is_json) in [
        ("application/json", true),
        ("Application/JSON; charset=utf-8", true),
        ("application/merge-patch+json", true),
        ("application/vnd.api+json", true),
        ("text/plain", false),
        ("application/x-www-form-urlencoded", false),
    ] {
        let attributes = read("PUT", "/x", &[("content-type", content_type)], body).unwrap();
        assert_eq!(!attributes.json_keys.is_empty(), is_json, "{content_type}");
        assert_eq!(
            attributes.content_type,
            content_type.split(';').next().unwrap().to_ascii_lowercase()
        );
    }
    let none = read("PUT", "/x", &[], body).unwrap();
    assert_eq!((none.content_type.as_str(), none.json_keys.len()), ("", 0));
}

#[test]
fn json_bodies_that_are_not_objects_have_no_fields() {
    for body in ["[1,2]", "\"text\"", "42", "null"] {
        let attributes = post_json("/x", body).unwrap();
        assert!(attributes.json_keys.is_empty() && attributes.json_values.is_empty());
    }
    assert!(post_json("/x", "").unwrap().json_keys.is_empty());
}

#[test]
fn doubtful_json_is_refused() {
    for body in [
        r#"{"a":1,"a":2}"#,
        r#"{"a":1,"\u0061":2}"#,
        r#"{"a":{"b":1,"b":1}}"#,
        r#"[{"b":1,"b":1}]"#,
    ] {
        let error = post_json("/x", body).unwrap_err();
        assert!(
            matches!(error, HttpApiError::DuplicateJsonKey(_)),
            "{body}: {error}"
        );
        assert_actionable(&error);
    }
    for body in [
        "{",
        "{\"a\":1,}",
        "{'a':1}",
        "\u{feff}{}",
        "{} x",
        "{\"a\":\"\\ud800\"}",
    ] {
        let error = post_json("/x", body).unwrap_err();
        assert!(
            matches!(error, HttpApiError::InvalidJson(_)),
            "{body}: {error}"
        );
        assert_actionable(&error);
    }
    let deep = "[".repeat(200) + &"]".repeat(200);
    assert!(matches!(
        post_json("/x", &deep),
        Err(HttpApiError::InvalidJson(_))
    ));
}

#[test]
fn bodies_over_the_limit_are_not_read() {
    let body = br#"{"a":1,"a":2,"query":"mutation { x }"}"#;
    let input = HttpInput {
        method: "POST",
        target: "/graphql",
        headers: &[("content-type", "application/json")],
        selected_headers: &[],
        body,
        json_body_limit: body.len() - 1,
        websocket: false,
    };
    let attributes = attribute(&input).unwrap();
    assert!(attributes.json_keys.is_empty() && attributes.json_values.is_empty());
    assert_eq!(attributes.graphql, None);
    assert_eq!(attributes.body_bytes, body.len() as u64);
    let within = HttpInput {
        json_body_limit: body.len(),
        ..input
    };
    assert!(matches!(
        attribute(&within),
        Err(HttpApiError::DuplicateJsonKey(_))
    ));
}

#[test]
fn two_content_types_are_refused() {
    let headers = [
        ("content-type", "application/json"),
        ("content-type", "text/plain"),
    ];
    let error = read("POST", "/x", &headers, b"{}").unwrap_err();
    assert_eq!(error, HttpApiError::ContentTypeRepeated(2));
    assert_actionable(&error);
}

#[test]
fn graphql_operations() {
    let json = |body: &str| post_json("/api/graphql", body).unwrap().graphql;
    assert_eq!(json(r#"{"query":"{ me { id } }"}"#), operation("query", ""));
    assert_eq!(
        json(r#"{"query":"query Me { me { id } }","operationName":null}"#),
        operation("query", "Me")
    );
    assert_eq!(
        json(
            r#"{"query":"mutation Drop($id: ID!) { drop(id: $id) { ok } }","variables":{"id":1}}"#
        ),
        operation("mutation", "Drop")
    );
    assert_eq!(
        json(r#"{"query":"query A { a } mutation B { b }","operationName":"B"}"#),
        operation("mutation", "B")
    );
    assert_eq!(
        json(r#"{"query":"query A { a } mutation B { b }","operationName":"A"}"#),
        operation("query", "A")
    );
    assert_eq!(
        json(r#"{"query":"subscription Ticks { ticks }"}"#),
        operation("subscription", "Ticks")
    );
    // Braces inside comments, strings and block strings end nothing.
    let tricky = r##"{"query":"# } mutation M { x }\nquery Q { a(s: \"} mutation X {\", b: \"\"\" }\\\"\"\" { \"\"\") }\nfragment F on T { f }","operationName":"Q"}"##;
    assert_eq!(json(tricky), operation("query", "Q"));
    // The last segment names GraphQL in any case; a trailing slash adds none.
    let upper = post_json("/GraphQL/", r#"{"query":"mutation { x }"}"#).unwrap();
    assert_eq!(upper.graphql, operation("mutation", ""));
    // Not a GraphQL path: no operation, whatever the body says.
    let elsewhere = post_json("/api/graphql/schema", r#"{"query":"mutation { x }"}"#).unwrap();
    assert_eq!(elsewhere.graphql, None);
}

#[test]
fn graphql_over_get_and_as_a_document_body() {
    let get_query = get("/graphql?query=query+Q+%7B+a+%7D&operationName=Q").unwrap();
    assert_eq!(get_query.graphql, operation("query", "Q"));
    let get_mutation = get("/graphql?query=mutation%7Bx%7D").unwrap();
    assert_eq!(get_mutation.graphql, operation("mutation", ""));
    assert_eq!(get("/graphql").unwrap().graphql, None);
    let document = read(
        "POST",
        "/anything?operationName=B",
        &[("content-type", "application/graphql")],
        b"query A { a } mutation B { b }",
    )
    .unwrap();
    assert_eq!(document.graphql, operation("mutation", "B"));
}

#[test]
fn doubtful_graphql_is_refused() {
    use HttpApiError as E;
    let cases: &[(&str, &str, HttpApiError)] = &[
        (
            r#"[{"query":"{ a }"},{"query":"mutation { b }"}]"#,
            "/graphql",
            E::GraphqlBatch,
        ),
        (
            r#"{"query":"query A { a } mutation B { b }"}"#,
            "/graphql",
            E::GraphqlAmbiguous(2),
        ),
        (
            r#"{"query":"{ a } mutation B { b }"}"#,
            "/graphql",
            E::GraphqlAmbiguous(2),
        ),
        (
            r#"{"query":"query A { a }","operationName":"B"}"#,
            "/graphql",
            E::GraphqlOperationNotFound("B".to_owned()),
        ),
        (
            r#"{"query":"query A { a } mutation A { b }","operationName":"A"}"#,
            "/graphql",
            E::GraphqlOperationNotFound("A".to_owned()),
        ),
        (
            r#"{"query":"fragment F on T { f }"}"#,
            "/graphql",
            E::GraphqlNoOperation,
        ),
        (r#"{"query":""}"#, "/graphql", E::GraphqlNoOperation),
        (
            r#"{"extensions":{"persistedQuery":{"sha256Hash":"ab"}}}"#,
            "/graphql",
            E::GraphqlNoDocument,
        ),
        (r#"{"query":42}"#, "/graphql", E::GraphqlNoDocument),
        (r#""{ a }""#, "/graphql", E::GraphqlNoDocument),
        (
            r#"{"query":"{ a }","operationName":7}"#,
            "/graphql",
            E::GraphqlOperationNameType,
        ),
        (
            r#"{"query":"{ a }"}"#,
            "/graphql?query=mutation%7Bx%7D",
            E::GraphqlTwoPlaces,
        ),
        (
            r#"{"query":"{ a }"}"#,
            "/graphql?operationName=X",
            E::GraphqlTwoPlaces,
        ),
    ];
    for (body, target, expected) in cases {
        let error = post_json(target, body).unwrap_err();
        assert_eq!(&error, expected, "{body}");
        assert_actionable(&error);
    }
    for body in [
        r#"{"query":"{ a "}"#,
        r#"{"query":"{ a ) }"}"#,
        r#"{"query":"type T { a: Int }"}"#,
    ] {
        let error = post_json("/graphql", body).unwrap_err();
        assert!(matches!(error, E::GraphqlUnreadable(_)), "{body}: {error}");
        assert_actionable(&error);
    }
    let form = read(
        "POST",
        "/graphql",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"query=mutation+%7Bx%7D",
    );
    assert_eq!(form.unwrap_err(), E::GraphqlNoDocument);
    assert_eq!(
        get("/graphql?query=%7Ba%7D&query=mutation%7Bb%7D").unwrap_err(),
        E::GraphqlRepeated("`query` parameter")
    );
}
