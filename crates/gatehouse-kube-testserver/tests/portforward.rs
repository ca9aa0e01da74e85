//! Real kubectl's port-forward against the test API server, the pod's port mapped to a local
//! echo server: SPDY tunnelled in WebSocket (the default kubectl, 1.32), plain SPDY (kubectl
//! 1.27, and the fallback when WebSockets are refused), and what the server recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_kube_testserver::{Options, StreamKind, TestApiServer, Transport};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;
use support::{Kubectl, TOKEN, default_kubectl, versioned_kubectl, wait_for_line, wait_until};

const WITHIN: Duration = Duration::from_secs(60);

/// Run `kubectl port-forward pod/web-0 :8080`, send a line through the local port it chose
/// and read the echo; the transport the session used.
fn forward_and_echo(binary: PathBuf, options: Options) -> (TestApiServer, Transport) {
    let server = TestApiServer::start(options).unwrap();
    server.set_pod_port(
        "default",
        "web-0",
        8080,
        gatehouse_kube_testserver::echo_server().unwrap(),
    );
    let kubectl = Kubectl::new(binary, &server);
    let (_running, lines) = kubectl.stream(&["port-forward", "pod/web-0", ":8080"]);
    let line = wait_for_line(&lines, WITHIN, |l| {
        l.starts_with("Forwarding from 127.0.0.1:")
    });
    let port: u16 = line
        .trim_start_matches("Forwarding from 127.0.0.1:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for round in ["first", "second"] {
        let mut local = TcpStream::connect(("127.0.0.1", port)).unwrap();
        local.set_read_timeout(Some(WITHIN)).unwrap();
        writeln!(local, "hello {round}").unwrap();
        let mut echoed = String::new();
        BufReader::new(&local).read_line(&mut echoed).unwrap();
        assert_eq!(echoed, format!("hello {round}\n"));
        local.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = local.read_to_end(&mut rest);
    }
    wait_until(WITHIN, "both forwards recorded", || {
        server
            .sessions()
            .iter()
            .flat_map(|s| &s.forwards)
            .filter(|f| f.received.ends_with(b"\n"))
            .count()
            == 2
    });
    let sessions = server.sessions();
    assert_eq!(
        sessions.len(),
        1,
        "one connection carries every forward: {sessions:#?}"
    );
    let session = &sessions[0];
    assert_eq!(
        (session.kind, session.pod.as_str()),
        (StreamKind::PortForward, "web-0")
    );
    for (forward, round) in session.forwards.iter().zip(["first", "second"]) {
        assert_eq!(forward.port, 8080);
        assert_eq!(forward.sent, format!("hello {round}\n").as_bytes());
        assert_eq!(forward.received, forward.sent);
        assert_eq!(forward.error, None);
    }
    let transport = session.transport;
    (server, transport)
}

#[test]
fn port_forward_with_the_default_kubectl_tunnels_spdy_in_websocket() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, transport) = forward_and_echo(binary, Options::new(TOKEN));
    assert_eq!(transport, Transport::SpdyOverWebSocket);
    let session = &server.sessions()[0];
    assert_eq!(session.protocol, "SPDY/3.1+portforward.k8s.io");
}

#[test]
fn port_forward_over_spdy_with_kubectl_1_27() {
    let Some(binary) = default_kubectl().and_then(|d| versioned_kubectl(&d, "1.27")) else {
        return;
    };
    let (server, transport) = forward_and_echo(binary, Options::new(TOKEN));
    assert_eq!(transport, Transport::Spdy);
    assert_eq!(server.sessions()[0].protocol, "portforward.k8s.io");
}

#[test]
fn port_forward_falls_back_to_spdy_when_websockets_are_refused() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, transport) = forward_and_echo(binary, Options::new(TOKEN).without_websockets());
    assert_eq!(transport, Transport::Spdy);
    let tries: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/portforward"))
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(tries, [("GET".to_owned(), 400), ("POST".to_owned(), 101)]);
}

#[test]
fn a_port_nothing_is_mapped_to_fails_on_the_error_stream() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let server = TestApiServer::start(Options::new(TOKEN)).unwrap();
    let kubectl = Kubectl::new(binary, &server);
    let (_running, lines) = kubectl.stream(&["port-forward", "pod/web-0", ":9999"]);
    let line = wait_for_line(&lines, WITHIN, |l| {
        l.starts_with("Forwarding from 127.0.0.1:")
    });
    let port: u16 = line
        .trim_start_matches("Forwarding from 127.0.0.1:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut local = TcpStream::connect(("127.0.0.1", port)).unwrap();
    local.set_read_timeout(Some(WITHIN)).unwrap();
    let mut rest = Vec::new();
    let _ = local.read_to_end(&mut rest);
    wait_until(WITHIN, "the failed forward", || {
        server
            .sessions()
            .iter()
            .flat_map(|s| &s.forwards)
            .any(|f| f.error.is_some())
    });
    let forward = &server.sessions()[0].forwards[0];
    assert_eq!((forward.port, forward.target), (9999, None));
    assert!(
        forward
            .error
            .as_deref()
            .unwrap()
            .contains("error forwarding port 9999 to pod web-0"),
        "{forward:?}"
    );
}
