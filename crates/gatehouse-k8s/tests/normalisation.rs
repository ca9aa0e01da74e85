//! The one canonical request target the gateway decides on and forwards: what is decoded,
//! what is collapsed, what is re-encoded, and every spelling that is refused rather than
//! guessed at.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_k8s::{AttributionError, MAX_PATH_BYTES, TargetPart, attribute};

fn forwarded(target: &str) -> String {
    attribute("GET", target).unwrap().request_target()
}

fn refusal(target: &str) -> AttributionError {
    attribute("GET", target).expect_err(target)
}

#[test]
fn unreserved_escapes_are_decoded_and_others_kept_in_upper_case() {
    assert_eq!(
        forwarded("/api/v1/namespaces/%64efault/pods"),
        "/api/v1/namespaces/default/pods"
    );
    assert_eq!(
        forwarded("/api/v1/pods/a%2db%7Ec%5f"),
        "/api/v1/pods/a-b~c_"
    );
    assert_eq!(
        forwarded("/api/v1/pods/a%3ab%40c"),
        "/api/v1/pods/a%3Ab%40c"
    );
    assert_eq!(forwarded("/api/v1/pods/%c3%a9"), "/api/v1/pods/%C3%A9");
    let a = attribute("GET", "/api/v1/namespaces/a%3ab/pods/%c3%a9").unwrap();
    assert_eq!((a.namespace.as_str(), a.name.as_str()), ("a:b", "é"));
}

#[test]
fn raw_characters_that_cannot_stand_in_a_segment_are_encoded() {
    assert_eq!(forwarded("/api/v1/pods/a b"), "/api/v1/pods/a%20b");
    assert_eq!(forwarded("/api/v1/pods/é{x}"), "/api/v1/pods/%C3%A9%7Bx%7D");
    assert_eq!(
        forwarded("/api/v1/pods/a:b@c;d=e"),
        "/api/v1/pods/a:b@c;d=e"
    );
    let a = attribute("GET", "/api/v1/pods/a b").unwrap();
    assert_eq!(a.name, "a b");
    assert_eq!(a, attribute("GET", "/api/v1/pods/a%20b").unwrap());
}

#[test]
fn empty_segments_collapse_and_a_trailing_slash_stays() {
    assert_eq!(forwarded("//api//v1///pods"), "/api/v1/pods");
    assert_eq!(forwarded("/api/v1/pods/"), "/api/v1/pods/");
    assert_eq!(forwarded("//"), "/");
    let collapsed = attribute("DELETE", "/api/v1/namespaces//ns//pods//web").unwrap();
    assert_eq!(collapsed.path, "/api/v1/namespaces/ns/pods/web");
    assert_eq!(
        (collapsed.verb.as_str(), collapsed.name.as_str()),
        ("delete", "web")
    );
}

#[test]
fn the_query_is_decoded_and_re_encoded_canonically() {
    let a = attribute(
        "GET",
        "/api/v1/pods?labelSelector=app%3Dweb+x&watch&limit=5",
    )
    .unwrap();
    assert_eq!(
        a.query,
        [
            ("labelSelector".to_owned(), "app=web x".to_owned()),
            ("watch".to_owned(), String::new()),
            ("limit".to_owned(), "5".to_owned()),
        ]
    );
    assert_eq!(
        a.verb, "watch",
        "a bare `watch` is true, as kube-apiserver converts it"
    );
    assert_eq!(
        a.request_target(),
        "/api/v1/pods?labelSelector=app%3Dweb%20x&watch=&limit=5"
    );
    assert_eq!(attribute("GET", &a.request_target()).unwrap(), a);
    assert_eq!(forwarded("/api/v1/pods?&&"), "/api/v1/pods");
}

#[test]
fn dry_run_is_read_from_the_query() {
    let dry = attribute("POST", "/api/v1/namespaces/a/pods?dryRun=All").unwrap();
    assert!(dry.dry_run);
    assert!(
        !attribute("POST", "/api/v1/namespaces/a/pods?dryRun=all")
            .unwrap()
            .dry_run
    );
    assert!(
        !attribute("POST", "/api/v1/namespaces/a/pods")
            .unwrap()
            .dry_run
    );
}

#[test]
fn ambiguous_paths_are_refused() {
    use AttributionError::*;
    let cases: &[(&str, AttributionError)] = &[
        ("/api/v1/namespaces/a%2Fb/pods", EncodedSlash),
        ("/api/v1/namespaces/a%2fb/pods", EncodedSlash),
        ("/api/v1/pods/a%00", ControlCharacter),
        ("/api/v1/pods/a%0Ab", ControlCharacter),
        ("/api/v1/pods/a\tb", ControlCharacter),
        ("/api/v1/pods/a\u{85}b", ControlCharacter),
        ("/api/v1/pods/a%7F", ControlCharacter),
        ("/api/v1/pods/a%5Cb", Backslash),
        ("/api/v1/pods/a%5cb", Backslash),
        ("/api/v1/pods/a\\b", Backslash),
        ("/api/v1/pods/a%2", MalformedPercent(TargetPart::Path)),
        ("/api/v1/pods/a%zz", MalformedPercent(TargetPart::Path)),
        ("/api/v1/pods/%", MalformedPercent(TargetPart::Path)),
        ("/api/v1/pods/%ff", NotUtf8(TargetPart::Path)),
        ("/api/v1/pods/%c0%ae", NotUtf8(TargetPart::Path)),
        ("/api/v1/pods/%252e%252e", EncodedPercent),
        ("/api/v1/./pods", DotSegment),
        ("/api/v1/../v1/pods", DotSegment),
        ("/api/v1/pods/..", DotSegment),
        ("/api/v1/pods/%2e%2e", DotSegment),
        ("/api/v1/pods/%2E.", DotSegment),
        ("/api/v1/pods/.%2e/", DotSegment),
        ("/api/v1/pods/%2e", DotSegment),
        ("api/v1/pods", PathNotAbsolute),
        ("", PathNotAbsolute),
        ("*", PathNotAbsolute),
        ("/api/v1/pods#x", Fragment),
        ("/api/v1/pods?watch=1#x", Fragment),
        ("/api/v1/pods?watch=1;x=2", QuerySemicolon),
        (
            "/api/v1/pods?watch=%zz",
            MalformedPercent(TargetPart::Query),
        ),
        ("/api/v1/pods?command=%ff", NotUtf8(TargetPart::Query)),
        ("/api/v1/pods?command=a%00b", NulInQuery),
    ];
    for (target, want) in cases {
        assert_eq!(&refusal(target), want, "{target:?}");
    }
}

#[test]
fn dotted_names_that_are_not_dot_segments_pass() {
    let a = attribute("GET", "/api/v1/namespaces/a/configmaps/...").unwrap();
    assert_eq!(a.name, "...");
    assert_eq!(
        attribute("GET", "/api/v1/pods/.hidden").unwrap().name,
        ".hidden"
    );
}

#[test]
fn long_paths_are_refused() {
    let at_limit = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
    assert!(attribute("GET", &at_limit).is_ok());
    let over = format!("/{}", "a".repeat(MAX_PATH_BYTES));
    assert_eq!(
        refusal(&over),
        AttributionError::PathTooLong {
            len: MAX_PATH_BYTES + 1,
            max: MAX_PATH_BYTES
        }
    );
}

#[test]
fn methods_must_be_tokens_and_are_matched_as_sent() {
    assert!(matches!(
        attribute("", "/api"),
        Err(AttributionError::InvalidMethod(_))
    ));
    assert!(matches!(
        attribute("GE T", "/api"),
        Err(AttributionError::InvalidMethod(_))
    ));
    // kube-apiserver matches methods case-sensitively: `get` has no resource verb.
    let lower = attribute("get", "/api/v1/pods/web").unwrap();
    assert_eq!((lower.verb.as_str(), lower.action()), ("", "k8s:unknown"));
    let options = attribute("OPTIONS", "/api/v1/pods").unwrap();
    assert_eq!(options.verb, "");
    assert_eq!(attribute("OPTIONS", "/metrics").unwrap().verb, "options");
}

#[test]
fn a_special_verb_without_a_resource_is_refused_as_kube_apiserver_refuses_it() {
    for target in ["/api/v1/watch", "/api/v1/proxy/", "/apis/apps/v1/watch"] {
        assert!(
            matches!(
                refusal(target),
                AttributionError::NoResourceAfterVerb { .. }
            ),
            "{target}"
        );
    }
}
