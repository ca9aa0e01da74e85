//! Real kubectl's exec and attach against the test API server: WebSocket (the default kubectl,
//! 1.32), SPDY (kubectl 1.27, and the default one told not to use WebSockets, or refused
//! them), and what the server recorded of each session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_kube_testserver::{Options, StreamKind, TestApiServer, Transport};
use std::process::Output;
use support::{Kubectl, TOKEN, default_kubectl, versioned_kubectl};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// exec `sh -c 'echo out; echo err >&2; exit 3'` and check what kubectl printed and returned.
fn exec_reports_output_and_exit_code(kubectl: &Kubectl) -> Output {
    let output = kubectl.run(&[
        "exec",
        "web-0",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(text(&output.stdout), "out\n", "{output:?}");
    assert!(text(&output.stderr).starts_with("err\n"), "{output:?}");
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    output
}

#[test]
fn exec_over_websocket_runs_the_command_and_reports_its_exit_code() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let server = TestApiServer::start(Options::new(TOKEN)).unwrap();
    let kubectl = Kubectl::new(binary, &server);
    exec_reports_output_and_exit_code(&kubectl);
    let sessions = server.sessions();
    let session = &sessions[0];
    assert_eq!(
        (session.kind, session.transport, session.protocol.as_str()),
        (StreamKind::Exec, Transport::WebSocket, "v5.channel.k8s.io")
    );
    assert_eq!(
        session.command,
        ["sh", "-c", "echo out; echo err >&2; exit 3"]
    );
    assert_eq!(session.container.as_deref(), Some("web"));
    assert_eq!(
        (session.stdout.as_slice(), session.stderr.as_slice()),
        (&b"out\n"[..], &b"err\n"[..])
    );
    assert_eq!(session.exit_code, Some(3));
    assert!(session.ended);
    let request = server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/exec"))
        .unwrap();
    assert_eq!((request.method.as_str(), request.status), ("GET", 101));
}

#[test]
fn exec_over_spdy_with_kubectl_1_27() {
    let Some(binary) = default_kubectl().and_then(|d| versioned_kubectl(&d, "1.27")) else {
        return;
    };
    let server = TestApiServer::start(Options::new(TOKEN)).unwrap();
    let kubectl = Kubectl::new(binary, &server);
    exec_reports_output_and_exit_code(&kubectl);
    let session = &server.sessions()[0];
    assert_eq!(
        (session.transport, session.protocol.as_str()),
        (Transport::Spdy, "v4.channel.k8s.io")
    );
}
