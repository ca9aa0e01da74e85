//! exec, attach and port-forward with every versioned kubectl there is (`kubectl.1.27` …),
//! each against a server of its own: the transport each picks by itself, and that the bytes
//! make the round trip.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_kube_testserver::{Options, StreamKind, TestApiServer, Transport};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::{Kubectl, TOKEN, default_kubectl, versioned_kubectls, wait_for_line};

const WITHIN: Duration = Duration::from_secs(60);

/// The transports each kubectl picks by itself: WebSocket for exec and attach from 1.30 on,
/// SPDY in WebSocket for port-forward from 1.31 on.
fn expected(minor: u32) -> (Transport, Transport) {
    let exec = if minor >= 30 {
        Transport::WebSocket
    } else {
        Transport::Spdy
    };
    let forward = if minor >= 31 {
        Transport::SpdyOverWebSocket
    } else {
        Transport::Spdy
    };
    (exec, forward)
}

#[test]
fn every_versioned_kubectl_execs_attaches_and_forwards() {
    let Some(default) = default_kubectl() else {
        return;
    };
    let versions = versioned_kubectls(&default);
    if versions.is_empty() {
        eprintln!("SKIPPED: no versioned kubectl beside {}", default.display());
        return;
    }
    let echo_addr = gatehouse_kube_testserver::echo_server().unwrap();
    for (version, binary) in versions {
        let minor: u32 = version.trim_start_matches("1.").parse().unwrap();
        let (exec_transport, forward_transport) = expected(minor);
        let server = TestApiServer::start(Options::new(TOKEN)).unwrap();
        server.set_pod_port("default", "web-0", 8080, echo_addr);
        let kubectl = Kubectl::new(binary, &server);

        let output = kubectl.run_with(&["exec", "-i", "web-0", "--", "cat"], &[], b"in\n", WITHIN);
        assert_eq!(output.stdout, b"in\n", "kubectl {version}: {output:?}");
        let output = kubectl.run_with(&["attach", "-i", "web-0"], &[], b"typed\n", WITHIN);
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("typed\n"),
            "kubectl {version}: {output:?}"
        );

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
        let mut local = TcpStream::connect(("127.0.0.1", port)).unwrap();
        local.set_read_timeout(Some(WITHIN)).unwrap();
        writeln!(local, "through {version}").unwrap();
        let mut echoed = String::new();
        BufReader::new(&local).read_line(&mut echoed).unwrap();
        assert_eq!(echoed, format!("through {version}\n"));

        let seen: Vec<_> = server
            .sessions()
            .iter()
            .map(|s| (s.kind, s.transport))
            .collect();
        assert_eq!(
            seen,
            [
                (StreamKind::Exec, exec_transport),
                (StreamKind::Attach, exec_transport),
                (StreamKind::PortForward, forward_transport)
            ],
            "kubectl {version}"
        );
    }
}
