//! Request targets: which paths and queries are read (and how), and which are refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_httpapi::{HttpApiError, TargetPart};
use support::{assert_actionable, get};

#[test]
fn accepted_paths_and_their_segments() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("/", "/", &[]),
        ("/api", "/api", &["api"]),
        ("/api/queues/", "/api/queues/", &["api", "queues"]),
        (
            "/api/queues/%2F/q",
            "/api/queues/%2F/q",
            &["api", "queues", "/", "q"],
        ),
        (
            "/api/queues/%2f/q?x=1",
            "/api/queues/%2f/q",
            &["api", "queues", "/", "q"],
        ),
        ("/a%20b/%C3%A9", "/a%20b/%C3%A9", &["a b", "é"]),
        ("/a/%FF", "/a/%FF", &["a", "\u{fffd}"]),
        ("/a/..x/.b/...", "/a/..x/.b/...", &["a", "..x", ".b", "..."]),
        ("/a/%2541", "/a/%2541", &["a", "%41"]),
        ("/a;v=1/b", "/a;v=1/b", &["a;v=1", "b"]),
        ("/GraphQL", "/GraphQL", &["GraphQL"]),
    ];
    for (target, path, segments) in cases {
        let attributes = get(target).unwrap_or_else(|error| panic!("{target}: {error}"));
        assert_eq!(attributes.path, *path, "{target}");
        assert_eq!(attributes.segments, *segments, "{target}");
    }
}

#[test]
fn refused_targets() {
    use HttpApiError as E;
    let cases: &[(&str, HttpApiError)] = &[
        ("", E::NotOriginForm(String::new())),
        ("*", E::NotOriginForm("*".to_owned())),
        ("http://h/x", E::NotOriginForm("http://h/x".to_owned())),
        ("api/x", E::NotOriginForm("api/x".to_owned())),
        ("/api/../x", E::DotSegment),
        ("/api/./x", E::DotSegment),
        ("/api/..", E::DotSegment),
        ("/api/%2e%2e/x", E::DotSegment),
        ("/api/%2E%2e/x", E::DotSegment),
        ("/api/.%2E/x", E::DotSegment),
        ("/api/%2e/x", E::DotSegment),
        ("/api/..;jsessionid=1/x", E::DotSegment),
        ("//x", E::EmptySegment),
        ("/a//b", E::EmptySegment),
        ("/a//", E::EmptySegment),
        ("/a\\b", E::Backslash),
        ("/a%5cb", E::Backslash),
        ("/a%5Cb", E::Backslash),
        ("/a%00b", E::EncodedControl(TargetPart::Path)),
        ("/a%0Ab", E::EncodedControl(TargetPart::Path)),
        ("/a%7f", E::EncodedControl(TargetPart::Path)),
        ("/a%252e%252e/b", E::DoubleEncoded),
        ("/a/%252e%252e/b", E::DoubleEncoded),
        ("/a%252Fb", E::DoubleEncoded),
        ("/a%255cb", E::DoubleEncoded),
        ("/a%2500b", E::DoubleEncoded),
        ("/a%25%32%65", E::DoubleEncoded),
        ("/a b", E::RawByte(TargetPart::Path)),
        ("/a\tb", E::RawByte(TargetPart::Path)),
        ("/é", E::RawByte(TargetPart::Path)),
        ("/a\u{7f}", E::RawByte(TargetPart::Path)),
        ("/a%zz", E::MalformedPercent(TargetPart::Path)),
        ("/a%2", E::MalformedPercent(TargetPart::Path)),
        ("/a%", E::MalformedPercent(TargetPart::Path)),
        ("/a#frag", E::Fragment),
        ("/a?x=1#frag", E::Fragment),
        ("/a?x=%zz", E::MalformedPercent(TargetPart::Query)),
        ("/a?x=%00", E::EncodedControl(TargetPart::Query)),
        ("/a?x=a b", E::RawByte(TargetPart::Query)),
        ("/a?x=\u{e9}", E::RawByte(TargetPart::Query)),
    ];
    for (target, expected) in cases {
        let error = get(target).expect_err(target);
        assert_eq!(&error, expected, "{target:?}");
        assert_actionable(&error);
    }
}

#[test]
fn the_query_is_kept_raw_and_decoded_as_a_form() {
    let attributes = get("/search?q=a+b%2Bc&flag&&empty=&x=%2F%26;y=1&q=2").unwrap();
    assert_eq!(attributes.query, "q=a+b%2Bc&flag&&empty=&x=%2F%26;y=1&q=2");
    let params: Vec<(&str, &str)> = attributes
        .query_params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        params,
        [
            ("q", "a b+c"),
            ("flag", ""),
            ("empty", ""),
            ("x", "/&;y=1"),
            ("q", "2"),
        ]
    );
    assert_eq!(
        attributes.request_target(),
        "/search?q=a+b%2Bc&flag&&empty=&x=%2F%26;y=1&q=2"
    );
    let bare = get("/search?").unwrap();
    assert_eq!(
        (bare.query.as_str(), bare.request_target()),
        ("", "/search".to_owned())
    );
}

#[test]
fn request_target_round_trips() {
    for target in [
        "/",
        "/api/queues/%2F/q?columns=name,messages&page=1",
        "/api/exchanges/%2f/amq.direct/",
        "/x?",
        "/x?a=%41+b;c",
    ] {
        let first = get(target).unwrap();
        let again = get(&first.request_target()).unwrap();
        assert_eq!(first, again, "{target}");
    }
}
