//! What a hostile or broken client sends the HTTP API listener: path tricks that would reach
//! another path than the one decided (`..`, `%2e%2e`, `//`, encoded backslashes, double
//! encoding), header injection, oversized headers, request smuggling, HTTP/2 streams reset as
//! soon as they are opened, and a request coalesced onto another connection's TLS connection.
//! Each gets a clear 4xx (or the connection is cut) and nothing reaches the target, which logs
//! every request it sees.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod httpapi;
mod support;

use httpapi::{Api, http_policy};
use std::time::Duration;

fn admin(api: &Api) -> String {
    api.gateway.key("ana", &["admins"])
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn path_tricks_are_refused_and_nothing_is_forwarded() {
    let api = Api::start(&http_policy(), "");
    let token = admin(&api);
    for path in [
        "/c/echo/../echo/echo",
        "/c/echo/%2e%2e/echo",
        "/c/echo/.%2E/echo",
        "/c/echo//echo",
        "/c/echo/a%5cb",
        "/c/echo/a%5Cb/..",
        "/c/echo/%252e%252e/echo",
        "/c/echo/echo%00",
        "/c/echo/a/./echo",
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        let answer = api.raw(request.as_bytes()).await;
        assert_eq!(status(&answer), 400, "{path}: {answer}");
        assert!(
            answer.contains("application/problem+json"),
            "{path}: {answer}"
        );
    }
    // What curl sends when told to keep the dots, too.
    let kept = api.curl(Some(&token), "echo", "/x/../echo", &["--path-as-is"]);
    assert_eq!(kept.status, 400, "{kept:?}");
    assert!(api.echo_requests().is_empty(), "{:#?}", api.echo_requests());
}

#[tokio::test]
async fn malformed_and_smuggling_requests_get_a_clear_4xx_and_nothing_is_forwarded() {
    let api = Api::start(&http_policy(), "");
    let token = admin(&api);
    let head = format!("Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n");
    let oversized = "x".repeat(80 * 1024);
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "a bare CR inside a header value",
            format!(
                "GET /c/echo/echo HTTP/1.1\r\n{head}X-A: b\rX-Injected: 1\r\nConnection: close\r\n\r\n"
            ),
            400,
        ),
        (
            "a folded header line",
            format!(
                "GET /c/echo/echo HTTP/1.1\r\n{head}X-A: b\r\n X-Injected: 1\r\nConnection: close\r\n\r\n"
            ),
            400,
        ),
        (
            "two different Content-Lengths",
            format!(
                "POST /c/echo/echo HTTP/1.1\r\n{head}Content-Length: 4\r\nContent-Length: 40\r\nConnection: close\r\n\r\nbody"
            ),
            400,
        ),
        (
            "oversized headers",
            format!(
                "GET /c/echo/echo HTTP/1.1\r\n{head}X-Big: {oversized}\r\nConnection: close\r\n\r\n"
            ),
            431,
        ),
    ];
    for (what, request, expected) in cases {
        let answer = api.raw(request.as_bytes()).await;
        assert_eq!(status(&answer), expected, "{what}: {answer}");
    }
    assert!(api.echo_requests().is_empty(), "{:#?}", api.echo_requests());

    // Content-Length and Transfer-Encoding together: the listener reads the body as chunked
    // (RFC 9112: the transfer coding wins) and closes the connection after the answer, and
    // gatehouse forwards the body it read with a length of its own — so the request hidden
    // behind the body never reaches the target, whichever way the target would have read it.
    let smuggling = format!(
        "POST /c/echo/echo HTTP/1.1\r\n{head}Content-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /c/echo/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let answer = api.raw(smuggling.as_bytes()).await;
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    let forwarded = api.echo_requests();
    assert_eq!(forwarded.len(), 1, "{forwarded:#?}");
    assert_eq!(forwarded[0]["path"], "/echo");
    assert_eq!(forwarded[0]["body"], "");
    assert!(
        forwarded[0]["headers"].get("transfer-encoding").is_none(),
        "{forwarded:#?}"
    );
}

#[tokio::test]
async fn http2_streams_reset_as_soon_as_opened_cut_the_connection() {
    use support::raw_h2::{END_HEADERS, END_STREAM, GOAWAY, HEADERS, RST_STREAM, RawH2, h2_tls};
    let api = Api::start(&http_policy(), "");
    let token = admin(&api);
    let tls = h2_tls(&api.address(), api.gateway.tls_client_config(), "127.0.0.1").await;
    let mut raw = RawH2::over(tls).await;
    let block = support::raw_h2::request_block(&api.address(), "/c/echo/echo", &token);
    let mut cut = false;
    for index in 0..1000u32 {
        let stream = 1 + 2 * index;
        let sent = raw
            .frame(HEADERS, END_HEADERS | END_STREAM, stream, &block)
            .await;
        let reset = raw.frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()).await;
        if sent.is_err() || reset.is_err() {
            cut = true;
            break;
        }
    }
    let frames = raw.frames_until_closed(Duration::from_secs(10)).await;
    assert!(
        cut || frames.iter().any(|(kind, ..)| *kind == GOAWAY),
        "the connection survived 1,000 reset streams: {frames:?}"
    );
    // Work may have started for a few streams before the limit: far fewer than were opened.
    let forwarded = api.echo_requests().len();
    assert!(
        forwarded < 200,
        "{forwarded} of the reset requests were forwarded"
    );
}

#[test]
fn a_request_coalesced_onto_another_connections_tls_connection_is_misdirected() {
    let api = Api::start(&http_policy(), "");
    let token = admin(&api);
    let port = api.address().rsplit_once(':').unwrap().1.to_owned();
    let resolve = |name: &str| format!("{name}.gatehouse.localhost:{port}:127.0.0.1");
    let url = format!("https://echo.gatehouse.localhost:{port}/echo");
    // By host: `echo.gatehouse.localhost` names the connection (the generated certificate
    // covers *.gatehouse.localhost).
    let hosted = api.curl_url(
        Some(&token),
        &url,
        &["--http2", "--resolve", &resolve("echo")],
    );
    assert_eq!(hosted.status, 200, "{hosted:?}");
    assert_eq!(hosted.json()["method"], "GET");
    // The TLS connection was opened for echo.gatehouse.localhost; a request naming
    // rabbit.gatehouse.localhost on it is misdirected, and the client should open its own.
    let coalesced = api.curl_url(
        Some(&token),
        &url,
        &[
            "--http2",
            "--resolve",
            &resolve("echo"),
            "-H",
            &format!("Host: rabbit.gatehouse.localhost:{port}"),
        ],
    );
    assert_eq!(coalesced.status, 421, "{coalesced:?}");
    assert!(
        coalesced.json()["detail"]
            .as_str()
            .unwrap()
            .contains("rabbit.gatehouse.localhost"),
        "{coalesced:?}"
    );
    assert_eq!(api.echo_requests().len(), 1);
}
