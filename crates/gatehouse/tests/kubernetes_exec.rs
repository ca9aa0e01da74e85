//! `kubectl exec` through gatehouse: decided as `k8s:exec` with its command in the context,
//! relayed over WebSocket (kubectl ≥ 1.30's default) and SPDY/3.1 (kubectl 1.27, and the
//! fallback) to the test API server, which runs the command for real, and recorded: the
//! session's terminal streams replay with `gatehouse sessions replay` and export as asciicast.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod kube;
mod support;

use kube::{Cluster, shown, versioned_kubectl};

/// Admins may exec `sh` and `cat` without an approval; nobody else may exec at all.
const EXEC_POLICY: &str = r#"
@id("admins-work")
permit (principal in Gatehouse::Group::"admins", action in [
  Gatehouse::Action::"connect", Gatehouse::Action::"k8s:read"
], resource);

@id("admins-exec-sh-and-cat")
permit (principal in Gatehouse::Group::"admins", action == Gatehouse::Action::"k8s:exec", resource)
when { ["sh", "cat"].contains(context.program) };

@id("automation-reads")
permit (principal in Gatehouse::Group::"automation", action in [
  Gatehouse::Action::"connect", Gatehouse::Action::"k8s:read"
], resource);
"#;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn exec_runs_through_gatehouse_over_websocket_and_spdy_and_is_recorded() {
    let cluster = Cluster::start(EXEC_POLICY, "");
    let admin = cluster.gateway.key("ana", &["admins"]);

    kube::exec_over_websocket_and_spdy(&cluster, &admin);

    let sessions = cluster.server.sessions();
    assert_eq!(sessions.len(), 2, "{sessions:#?}");
    assert!(
        sessions
            .iter()
            .all(|s| s.command == ["sh", "-c", kube::EXEC_SCRIPT])
    );

    let execs = cluster.audited("k8s:exec");
    assert_eq!(execs.len(), 2, "{execs:#?}");
    assert!(execs.iter().all(|e| e["decision"] == "allow"));

    // The WebSocket exec's streams are in the recording, and export as asciicast.
    let (timelines, casts) = replays(&cluster);
    assert!(
        timelines
            .iter()
            .any(|t| t.contains("k8s:exec") && t.contains("out") && t.contains("err")),
        "{timelines:#?}"
    );
    assert!(
        casts.iter().any(|cast| cast.starts_with("{\"")
            && cast.contains("[")
            && cast.contains("\"o\",\"out\\n\"")),
        "{casts:#?}"
    );
}

/// Each recorded session of the `cluster` connection as `sessions replay` shows it, and as
/// its asciicast export.
fn replays(cluster: &Cluster) -> (Vec<String>, Vec<String>) {
    let listed = cluster
        .gateway
        .cli(&["sessions", "list", "--output", "json"]);
    let sessions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let ids: Vec<String> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["connection"] == "cluster")
        .map(|s| s["session"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.is_empty(), "{sessions}");
    let replay = |args: &[&str]| text(&cluster.gateway.cli(args).stdout);
    let timelines = ids
        .iter()
        .map(|id| replay(&["sessions", "replay", id]))
        .collect();
    let casts = ids
        .iter()
        .map(|id| replay(&["sessions", "replay", id, "--asciicast"]))
        .collect();
    (timelines, casts)
}

#[test]
fn exec_is_refused_before_it_reaches_the_pod_unless_policy_permits_its_program() {
    let cluster = Cluster::start(EXEC_POLICY, "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let admin = cluster.gateway.key("ana", &["admins"]);

    let refused = cluster.kubectl(&bot, &["exec", "web-0", "--", "sh", "-c", "id"]);
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        text(&refused.stderr).contains("k8s:exec"),
        "{}",
        shown(&refused)
    );

    let other_program = cluster.kubectl(&admin, &["exec", "web-0", "--", "rm", "-rf", "/"]);
    assert!(!other_program.status.success(), "{}", shown(&other_program));
    assert!(
        text(&other_program.stderr).contains("k8s:exec"),
        "{}",
        shown(&other_program)
    );

    assert!(
        cluster.server.sessions().is_empty(),
        "{:#?}",
        cluster.server.sessions()
    );
}

#[test]
fn exec_from_kubectl_1_27_goes_over_spdy_through_gatehouse() {
    let Some(old) = versioned_kubectl("1.27") else {
        return;
    };
    let cluster = Cluster::start(EXEC_POLICY, "");
    let admin = cluster.gateway.key("ana", &["admins"]);
    let output = cluster
        .kubectl_command(&old, &admin, &["exec", "-i", "web-0", "--", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(b"one\ntwo\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(text(&output.stdout), "one\ntwo\n", "{}", shown(&output));
    assert!(output.status.success(), "{}", shown(&output));

    // The SPDY streams were read: what was typed and what came back are in the recording.
    let (timelines, casts) = replays(&cluster);
    assert!(
        timelines
            .iter()
            .any(|t| t.contains("in   one") && t.contains("out  one")),
        "{timelines:#?}"
    );
    let cast = casts
        .iter()
        .find(|cast| cast.contains("\"i\",\"one\\ntwo\\n\""))
        .unwrap_or_else(|| panic!("no asciicast with the input: {casts:#?}"));
    let output: String = cast
        .lines()
        .skip(1)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event[1] == "o")
        .map(|event| event[2].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(output, "one\ntwo\n", "{cast}");
}

/// `exec -it` from kubectl 1.27 (SPDY) in a terminal `script` gives it, of a size `stty`
/// sets: kubectl sends the size on its resize stream, and the recording's asciicast starts at
/// that size. The command waits until the API server has seen the size before it prints.
#[test]
fn a_terminal_exec_over_spdy_records_its_size() {
    let Some(old) = versioned_kubectl("1.27") else {
        return;
    };
    let cluster = Cluster::start(EXEC_POLICY, "");
    let admin = cluster.gateway.key("ana", &["admins"]);
    let wait = "while [ ! -e go ]; do sleep 0.05; done; echo in-tty";
    let inner = cluster.kubectl_command(
        &old,
        &admin,
        &["exec", "-it", "web-0", "--", "sh", "-c", wait],
    );
    let line = format!(
        "stty cols 91 rows 17; {}",
        std::iter::once(inner.get_program())
            .chain(inner.get_args())
            .map(|a| format!("'{}'", a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &line, "/dev/null"])
        .envs(
            inner
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut running = script.spawn().unwrap();
    let _stdin_kept_open = running.stdin.take();
    let size = gatehouse_kube_testserver::TerminalSize {
        width: 91,
        height: 17,
    };
    let started = std::time::Instant::now();
    while !cluster
        .server
        .sessions()
        .first()
        .is_some_and(|s| s.resizes.contains(&size))
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the API server never saw the terminal size: {:#?}",
            cluster.server.sessions()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pod = cluster.server.pod_dir("default", "web-0").unwrap();
    std::fs::write(pod.join("go"), "").unwrap();
    assert!(
        support::wait_or_kill(&mut running, std::time::Duration::from_secs(20)).is_some(),
        "kubectl exec -it did not end"
    );
    let (_, casts) = replays(&cluster);
    let cast = casts
        .iter()
        .find(|cast| cast.contains("in-tty"))
        .unwrap_or_else(|| panic!("no asciicast with the output: {casts:#?}"));
    let header: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(91), Some(17)),
        "{cast}"
    );
    assert!(cast.contains("\"r\",\"91x17\""), "{cast}");
}

#[test]
fn revoking_the_identity_ends_its_running_exec() {
    let cluster = Cluster::start(EXEC_POLICY, "");
    let admin = cluster.gateway.key("ana", &["admins"]);
    let mut exec = cluster
        .kubectl_command("kubectl", &admin, &["exec", "-i", "web-0", "--", "cat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin_kept_open = exec.stdin.take();
    let started = std::time::Instant::now();
    while cluster.server.sessions().is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the exec never reached the pod"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let revoked = cluster.gateway.cli(&["identities", "revoke", "ana"]);
    assert!(revoked.status.success(), "{}", shown(&revoked));
    assert!(
        support::wait_or_kill(&mut exec, std::time::Duration::from_secs(5)).is_some(),
        "kubectl exec still running 5 s after the revocation"
    );
}

#[test]
fn port_forward_is_decided_then_relayed_to_the_pod() {
    use std::io::{BufRead, BufReader, Write};
    let policy = format!(
        "{EXEC_POLICY}\n@id(\"admins-forward\")\npermit (principal in Gatehouse::Group::\"admins\", action == Gatehouse::Action::\"k8s:portforward\", resource);\n"
    );
    let cluster = Cluster::start(&policy, "");
    cluster.server.set_pod_port(
        "default",
        "web-0",
        8080,
        gatehouse_kube_testserver::echo_server().unwrap(),
    );
    let admin = cluster.gateway.key("ana", &["admins"]);
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);

    let refused = cluster.kubectl(&bot, &["port-forward", "pod/web-0", ":8080"]);
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        text(&refused.stderr).contains("k8s:portforward"),
        "{}",
        shown(&refused)
    );
    assert!(cluster.server.sessions().is_empty());

    let mut forward = cluster
        .kubectl_command("kubectl", &admin, &["port-forward", "pod/web-0", ":8080"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(forward.stdout.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let port: u16 = line
        .trim_start_matches("Forwarding from 127.0.0.1:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{line}"));
    let mut local = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    local
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    writeln!(local, "hello through gatehouse").unwrap();
    let mut echoed = String::new();
    BufReader::new(&local).read_line(&mut echoed).unwrap();
    assert_eq!(echoed, "hello through gatehouse\n");
    let _ = forward.kill();
    let _ = forward.wait();
    // The request, then its port.
    let statements: Vec<_> = cluster
        .audited("k8s:portforward")
        .iter()
        .filter(|e| e["decision"] == "allow")
        .map(|e| e["statement"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(statements.len(), 2, "{statements:#?}");
    assert!(statements[1].ends_with(" port 8080"), "{statements:#?}");
}
