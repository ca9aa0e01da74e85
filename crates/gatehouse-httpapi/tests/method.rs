//! Methods and method overrides: what is decided, and which claims are refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_httpapi::{HttpApiError, HttpInput, attribute};
use support::{assert_actionable, read};

/// Request headers of a case.
type Headers = &'static [(&'static str, &'static str)];

#[test]
fn methods_map_to_actions() {
    let cases = [
        ("GET", "http:get"),
        ("get", "http:get"),
        ("HEAD", "http:head"),
        ("OPTIONS", "http:options"),
        ("POST", "http:post"),
        ("PUT", "http:put"),
        ("PATCH", "http:patch"),
        ("DELETE", "http:delete"),
        ("TRACE", "http:unknown"),
        ("PROPFIND", "http:unknown"),
        ("M-SEARCH", "http:unknown"),
    ];
    for (method, action) in cases {
        let attributes = read(method, "/x", &[], b"").unwrap();
        assert_eq!(attributes.action(), action, "{method}");
        assert_eq!(attributes.method, method.to_ascii_uppercase());
        assert_eq!(attributes.sent_method, method.to_ascii_uppercase());
    }
}

#[test]
fn invalid_methods_are_refused() {
    for method in ["", "GE T", "GET\r\n", "G(ET)", "GÉT", "GET/1"] {
        let error = read(method, "/x", &[], b"").unwrap_err();
        assert!(
            matches!(error, HttpApiError::InvalidMethod(_)),
            "{method:?}: {error}"
        );
        assert_actionable(&error);
    }
}

#[test]
fn overrides_decide_the_method() {
    // (sent, headers, target, decided action, decided method)
    let cases: &[(&str, Headers, &str, &str, &str)] = &[
        (
            "POST",
            &[("x-http-method-override", "DELETE")],
            "/x",
            "http:delete",
            "DELETE",
        ),
        ("POST", &[("x-http-method", "put")], "/x", "http:put", "PUT"),
        (
            "POST",
            &[("x-method-override", " patch ")],
            "/x",
            "http:patch",
            "PATCH",
        ),
        ("POST", &[], "/x?_method=DELETE", "http:delete", "DELETE"),
        (
            "POST",
            &[],
            "/x?a=1;_method=DELETE",
            "http:delete",
            "DELETE",
        ),
        (
            "GET",
            &[("x-http-method-override", "DELETE")],
            "/x",
            "http:delete",
            "DELETE",
        ),
        ("GET", &[], "/x?_method=post", "http:post", "POST"),
        (
            "GET",
            &[("x-http-method-override", "HEAD")],
            "/x",
            "http:head",
            "HEAD",
        ),
        (
            "POST",
            &[
                ("x-http-method-override", "DELETE"),
                ("x-http-method", "delete"),
            ],
            "/x?_method=Delete",
            "http:delete",
            "DELETE",
        ),
        (
            "POST",
            &[("x-http-method-override", "PURGE")],
            "/x",
            "http:unknown",
            "PURGE",
        ),
        (
            "POST",
            &[("x-http-method-override", "POST")],
            "/x",
            "http:post",
            "POST",
        ),
    ];
    for (sent, headers, target, action, method) in cases {
        let attributes = read(sent, target, headers, b"").unwrap();
        assert_eq!(attributes.action(), *action, "{sent} {target} {headers:?}");
        assert_eq!(attributes.method, *method);
        assert_eq!(attributes.sent_method, *sent);
    }
}

#[test]
fn doubtful_overrides_are_refused() {
    use HttpApiError as E;
    let cases: &[(&str, Headers, &str, HttpApiError)] = &[
        (
            "POST",
            &[
                ("x-http-method-override", "DELETE"),
                ("x-http-method", "PUT"),
            ],
            "/x",
            E::ConflictingOverrides("DELETE".to_owned(), "PUT".to_owned()),
        ),
        (
            "POST",
            &[("x-http-method-override", "DELETE")],
            "/x?_method=PATCH",
            E::ConflictingOverrides("DELETE".to_owned(), "PATCH".to_owned()),
        ),
        (
            "POST",
            &[],
            "/x?_method=PUT&_method=DELETE",
            E::ConflictingOverrides("PUT".to_owned(), "DELETE".to_owned()),
        ),
        (
            "POST",
            &[("x-http-method-override", "GET")],
            "/x",
            E::WriteClaimsRead {
                sent: "POST".to_owned(),
                claimed: "GET".to_owned(),
            },
        ),
        (
            "DELETE",
            &[],
            "/x?_method=head",
            E::WriteClaimsRead {
                sent: "DELETE".to_owned(),
                claimed: "HEAD".to_owned(),
            },
        ),
        (
            "PURGE",
            &[("x-method-override", "OPTIONS")],
            "/x",
            E::WriteClaimsRead {
                sent: "PURGE".to_owned(),
                claimed: "OPTIONS".to_owned(),
            },
        ),
        (
            "POST",
            &[("x-http-method-override", "")],
            "/x",
            E::InvalidOverride(String::new()),
        ),
        (
            "POST",
            &[("x-http-method-override", "DELETE, GET")],
            "/x",
            E::InvalidOverride("DELETE, GET".to_owned()),
        ),
        ("POST", &[], "/x?_method", E::InvalidOverride(String::new())),
    ];
    for (sent, headers, target, expected) in cases {
        let error = read(sent, target, headers, b"").unwrap_err();
        assert_eq!(&error, expected, "{sent} {target} {headers:?}");
        assert_actionable(&error);
    }
}

#[test]
fn a_websocket_upgrade_must_be_a_get() {
    let upgrade = |method: &str, headers: &[(&str, &str)]| {
        attribute(&HttpInput {
            method,
            target: "/ws",
            headers,
            selected_headers: &[],
            body: b"",
            json_body_limit: 1024,
            websocket: true,
        })
    };
    assert_eq!(upgrade("GET", &[]).unwrap().action(), "http:websocket");
    for (method, headers) in [
        ("POST", &[][..]),
        ("CONNECT", &[]),
        ("GET", &[("x-http-method-override", "POST")]),
    ] {
        let error = upgrade(method, headers).unwrap_err();
        assert!(matches!(error, HttpApiError::WebsocketMethod(_)), "{error}");
        assert_actionable(&error);
    }
}
