//! Real kubectl's exec and attach against the test API server: WebSocket (the default kubectl,
//! 1.32), SPDY (kubectl 1.27; the default one told not to use WebSockets, or refused them), and
//! what the server recorded of each session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use gatehouse_kube_testserver::{Options, StreamKind, TerminalSize, TestApiServer, Transport};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;
use support::{Kubectl, TOKEN, default_kubectl, run_bounded, versioned_kubectl};

/// How long any one kubectl here may take.
const WITHIN: Duration = Duration::from_secs(60);
const SCRIPT: &str = "echo out; echo err >&2; exit 3";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn start(options: Options, binary: PathBuf) -> (TestApiServer, Kubectl) {
    let server = TestApiServer::start(options).unwrap();
    let kubectl = Kubectl::new(binary, &server);
    (server, kubectl)
}

/// exec `sh -c SCRIPT`: kubectl prints the command's stdout and stderr and exits with its
/// code.
fn exec_reports_output_and_exit_code(kubectl: &Kubectl, env: &[(&str, &str)]) {
    let args = ["exec", "web-0", "--", "sh", "-c", SCRIPT];
    let output = kubectl.run_with(&args, env, b"", WITHIN);
    assert_eq!(text(&output.stdout), "out\n", "{output:?}");
    assert!(text(&output.stderr).starts_with("err\n"), "{output:?}");
    assert_eq!(output.status.code(), Some(3), "{output:?}");
}

/// exec -i `cat` with stdin piped: what went in comes back, and stdin's end ends it.
fn exec_cat_echoes_stdin(kubectl: &Kubectl, env: &[(&str, &str)]) -> Output {
    let output = kubectl.run_with(
        &["exec", "-i", "web-0", "--", "cat"],
        env,
        b"one\ntwo\n",
        WITHIN,
    );
    assert_eq!(text(&output.stdout), "one\ntwo\n", "{output:?}");
    assert!(output.status.success(), "{output:?}");
    output
}

fn check_sessions(server: &TestApiServer, transport: Transport, protocol: &str) {
    let sessions = server.sessions();
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    for session in &sessions {
        assert_eq!(
            (session.kind, session.transport, session.protocol.as_str()),
            (StreamKind::Exec, transport, protocol)
        );
        assert_eq!(session.container.as_deref(), Some("web"));
    }
    let (script, cat) = (&sessions[0], &sessions[1]);
    assert_eq!(script.command, ["sh", "-c", SCRIPT]);
    assert_eq!(
        (script.stdout.as_slice(), script.stderr.as_slice()),
        (&b"out\n"[..], &b"err\n"[..])
    );
    assert_eq!(script.exit_code, Some(3));
    assert_eq!(cat.command, ["cat"]);
    assert_eq!(cat.stdin, b"one\ntwo\n");
    assert!(cat.stdin_closed);
    assert_eq!(cat.exit_code, Some(0));
}

#[test]
fn exec_over_websocket_with_the_default_kubectl() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, kubectl) = start(Options::new(TOKEN), binary);
    exec_reports_output_and_exit_code(&kubectl, &[]);
    exec_cat_echoes_stdin(&kubectl, &[]);
    check_sessions(&server, Transport::WebSocket, "v5.channel.k8s.io");
    assert!(server.sessions().iter().all(|s| s.ended));
    let upgrades: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/namespaces/default/pods/web-0/exec")
        .map(|r| (r.method.clone(), r.status, r.query_param("stdin")))
        .collect();
    assert_eq!(
        upgrades,
        [
            ("GET".to_owned(), 101, None),
            ("GET".to_owned(), 101, Some("true".to_owned()))
        ]
    );
}

#[test]
fn exec_over_spdy_with_kubectl_1_27() {
    let Some(binary) = default_kubectl().and_then(|d| versioned_kubectl(&d, "1.27")) else {
        return;
    };
    let (server, kubectl) = start(Options::new(TOKEN), binary);
    exec_reports_output_and_exit_code(&kubectl, &[]);
    exec_cat_echoes_stdin(&kubectl, &[]);
    check_sessions(&server, Transport::Spdy, "v4.channel.k8s.io");
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/exec"))
            .all(|r| r.method == "POST" && r.status == 101)
    );
}

#[test]
fn exec_over_spdy_with_the_default_kubectl_told_not_to_use_websockets() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, kubectl) = start(Options::new(TOKEN), binary);
    let env = [("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")];
    exec_reports_output_and_exit_code(&kubectl, &env);
    exec_cat_echoes_stdin(&kubectl, &env);
    check_sessions(&server, Transport::Spdy, "v4.channel.k8s.io");
}

#[test]
fn exec_falls_back_to_spdy_when_websockets_are_refused() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, kubectl) = start(Options::new(TOKEN).without_websockets(), binary);
    exec_reports_output_and_exit_code(&kubectl, &[]);
    exec_cat_echoes_stdin(&kubectl, &[]);
    check_sessions(&server, Transport::Spdy, "v4.channel.k8s.io");
    let tries: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/exec"))
        .map(|r| (r.method, r.status))
        .collect();
    let (get, post) = (("GET".to_owned(), 400), ("POST".to_owned(), 101));
    assert_eq!(tries, [get.clone(), post.clone(), get, post]);
}

#[test]
fn exec_of_a_missing_command_fails_as_the_runtime_does() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, kubectl) = start(Options::new(TOKEN), binary);
    let output = kubectl.run_with(
        &["exec", "web-0", "--", "no-such-command-here"],
        &[],
        b"",
        WITHIN,
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        text(&output.stderr).contains("no-such-command-here"),
        "{output:?}"
    );
    let session = &server.sessions()[0];
    assert_eq!(session.exit_code, None);
    assert!(
        session
            .failure
            .as_deref()
            .unwrap()
            .contains("failed to exec")
    );
}

#[test]
fn exec_runs_in_the_pods_directory() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, kubectl) = start(Options::new(TOKEN), binary);
    let dir = server.pod_dir("default", "web-1").unwrap();
    std::fs::write(dir.join("index.html"), "hello from web-1\n").unwrap();
    let output = kubectl.run_with(
        &[
            "exec",
            "web-1",
            "--",
            "sh",
            "-c",
            "cat index.html; echo $HOSTNAME",
        ],
        &[],
        b"",
        WITHIN,
    );
    assert_eq!(
        text(&output.stdout),
        "hello from web-1\nweb-1\n",
        "{output:?}"
    );
}

/// `exec -it` needs a terminal on kubectl's side: `script` gives it one (of a size `stty`
/// sets), and kubectl sends that size on the resize channel. The command waits for the test to
/// have seen the size, since kubectl sends it beside the session, not before it.
#[test]
fn exec_with_a_terminal_sends_its_size() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no script(1) to give kubectl a terminal");
        return;
    }
    let (server, kubectl) = start(Options::new(TOKEN), binary);
    let wait = "while [ ! -e go ]; do sleep 0.05; done; echo in-tty";
    let inner = kubectl.command(&["exec", "-it", "web-0", "--", "sh", "-c", wait]);
    let line = format!(
        "stty cols 91 rows 17; {}",
        std::iter::once(inner.get_program())
            .chain(inner.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]).envs(
        inner
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
    );
    let running = std::thread::spawn(move || run_bounded(&mut script, b"", WITHIN));
    let size = TerminalSize {
        width: 91,
        height: 17,
    };
    support::wait_until(WITHIN, "the terminal size", || {
        server
            .sessions()
            .first()
            .is_some_and(|s| s.resizes.contains(&size))
    });
    std::fs::write(server.pod_dir("default", "web-0").unwrap().join("go"), "").unwrap();
    let output = running.join().unwrap();
    assert!(text(&output.stdout).contains("in-tty"), "{output:?}");
    let session = &server.sessions()[0];
    assert!(session.tty);
    assert_eq!(session.exit_code, Some(0));
}

fn attach_echoes_stdin(kubectl: &Kubectl, server: &TestApiServer, transport: Transport) {
    let output = kubectl.run_with(&["attach", "-i", "web-0"], &[], b"hello main\n", WITHIN);
    assert!(text(&output.stdout).contains("hello main\n"), "{output:?}");
    assert!(output.status.success(), "{output:?}");
    let session = &server.sessions()[0];
    assert_eq!(
        (session.kind, session.transport),
        (StreamKind::Attach, transport)
    );
    assert_eq!(session.stdin, b"hello main\n");
}

#[test]
fn attach_reaches_the_pods_main_process() {
    let Some(binary) = default_kubectl() else {
        return;
    };
    let (server, kubectl) = start(Options::new(TOKEN), binary.clone());
    attach_echoes_stdin(&kubectl, &server, Transport::WebSocket);

    // Without -i the client only follows what the main process prints.
    let (_running, lines) = kubectl.stream(&["attach", "web-0"]);
    // The session is recorded a moment before the attached client listens to the main
    // process: print until exactly one client hears it.
    support::wait_until(WITHIN, "the attach to listen", || {
        server.print_to_attached("default", "web-0", b"from main\n") == 1
    });
    assert_eq!(server.sessions().len(), 2);
    support::wait_for_line(&lines, WITHIN, |l| l == "from main");

    if let Some(old) = versioned_kubectl(&binary, "1.27") {
        let (server, kubectl) = start(Options::new(TOKEN), old);
        attach_echoes_stdin(&kubectl, &server, Transport::Spdy);
    }
}
