//! Shorthands the integration tests share: one request read with defaults.
#![allow(dead_code)]

use gatehouse_httpapi::{HttpApiError, HttpInput, HttpRequestAttributes, attribute};

/// The JSON limit the tests read bodies with.
pub const LIMIT: usize = 64 * 1024;

/// `method target` with `headers` and `body`, no selected headers, not an upgrade.
pub fn read(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpRequestAttributes, HttpApiError> {
    attribute(&HttpInput {
        method,
        target,
        headers,
        selected_headers: &[],
        body,
        json_body_limit: LIMIT,
        websocket: false,
    })
}

/// A bodiless `GET target`.
pub fn get(target: &str) -> Result<HttpRequestAttributes, HttpApiError> {
    read("GET", target, &[], b"")
}

/// A `POST target` with a JSON body.
pub fn post_json(target: &str, body: &str) -> Result<HttpRequestAttributes, HttpApiError> {
    read(
        "POST",
        target,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// Every refusal message says what to do instead.
pub fn assert_actionable(error: &HttpApiError) {
    let message = error.to_string();
    let verbs = [
        "send",
        "use",
        "leave",
        "remove",
        "encode",
        "write",
        "give",
        "name",
        "claim",
        "open",
        "percent-encode",
    ];
    let says_what_to_do = verbs
        .iter()
        .any(|verb| message.contains(&format!("; {verb} ")));
    assert!(says_what_to_do, "{message}");
}
