//! Watching and killing live sessions, end to end against the real binary and real clients:
//! `gatehouse sessions watch ID` shows an SSH shell's output (OpenSSH's ssh through gatehouse
//! to Debian's sshd) within seconds of it being typed, `gatehouse sessions kill ID` with an
//! admin's token ends the shell within five seconds with the reason on the user's terminal,
//! the watcher exits reporting the end, and the kill is in the audit log; an unknown id and a
//! non-admin's token are refused; a PostgreSQL session is killed with a FATAL naming the
//! operator and the reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sshhost;
mod support;

use sshhost::{SshHost, shown};
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Gateway, TestDb};

/// The bound on ending a killed session.
const KILL_BOUND: Duration = Duration::from_secs(5);

/// The id of `subject`'s running session, from `gatehouse sessions list` (waiting for its
/// recording to be listed).
fn running_session(gateway: &Gateway, subject: &str) -> String {
    let started = Instant::now();
    loop {
        let output = gateway.cli(&[
            "sessions",
            "list",
            "--identity",
            subject,
            "--output",
            "json",
        ]);
        assert!(output.status.success(), "{}", shown(&output));
        let listed: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        let running: Vec<&serde_json::Value> = listed
            .iter()
            .filter(|summary| summary["ended_at"].is_null())
            .collect();
        if let [only] = running.as_slice() {
            return only["session"].as_str().unwrap().to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no single running session of {subject}: {listed:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Everything a child writes to `stream`, collected by a thread as it arrives.
fn collect(mut stream: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = stream.read(&mut buffer) {
            if read == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buffer[..read]);
        }
    });
    seen
}

fn text(seen: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&seen.lock().unwrap()).into_owned()
}

/// Wait (bounded) until `seen` contains `needle`; how long it took.
fn wait_for(seen: &Arc<Mutex<Vec<u8>>>, needle: &str, within: Duration, what: &str) -> Duration {
    let started = Instant::now();
    while !text(seen).contains(needle) {
        assert!(
            started.elapsed() < within,
            "{what} did not show `{needle}` within {within:?}:\n{}",
            text(seen)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

fn watcher(gateway: &Gateway, id: &str, json: bool) -> Child {
    let mut command = std::process::Command::new(support::binary());
    command
        .arg("--config")
        .arg(gateway.config_path())
        .arg("--data-dir")
        .arg(gateway.data_dir())
        .args(["sessions", "watch", id]);
    if json {
        command.args(["--output", "json"]);
    }
    command
        .env_remove("GATEHOUSE_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn an_ssh_shell_is_watched_live_and_killed_with_the_reason_on_its_terminal() {
    let policy = format!(
        "{}\n@id(\"readers-shells\")\npermit (principal in Gatehouse::Group::\"readers\", action == Gatehouse::Action::\"ssh:shell\", resource);\n",
        support::quickstart_policy()
    );
    let host = SshHost::start_with(&policy, "");
    let gateway = &host.gateway;
    let reader = gateway.key("rita", &["readers"]);
    let admin = gateway.key("root-admin", &["admins"]);
    let mut shell = host.spawn_shell(&reader);
    let mut stdin = shell.stdin.take().unwrap();
    let said = collect(shell.stdout.take().unwrap());
    let said_err = collect(shell.stderr.take().unwrap());
    let started = Instant::now();
    while !host.sshd.log().contains("Starting session: shell") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{}",
            host.sshd.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let id = running_session(gateway, "rita");

    let mut watch = watcher(gateway, &id, false);
    let watched = collect(watch.stdout.take().unwrap());
    let watch_err = collect(watch.stderr.take().unwrap());
    let mut watch_json = watcher(gateway, &id, true);
    let watched_json = collect(watch_json.stdout.take().unwrap());
    // The header comes from the recording's start.
    wait_for(&watched, "rita", Duration::from_secs(10), "the watcher");
    let header = text(&watched);
    assert!(
        header.contains(&format!("session `{id}`")) && header.contains("on box (ssh)"),
        "{header}"
    );

    // What the shell prints reaches the watcher within a few seconds. The marker exists
    // only in the output (the typed line has `$((6*7))`), so the echo of the input does not
    // count.
    stdin
        .write_all(b"echo watch-$((6*7))-marker\n")
        .and_then(|()| stdin.flush())
        .unwrap();
    wait_for(&said, "watch-42-marker", Duration::from_secs(10), "ssh");
    let lag = wait_for(
        &watched,
        "watch-42-marker",
        Duration::from_secs(4),
        "the watcher",
    );
    assert!(lag < Duration::from_secs(4), "{lag:?}");
    wait_for(
        &watched_json,
        "watch-42-marker",
        Duration::from_secs(4),
        "the JSON watcher",
    );

    // Only an admin may kill, and only a live session.
    let refused = gateway.cli_as(&reader, &["sessions", "kill", &id, "--reason", "mine"]);
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("admin groups"),
        "{}",
        shown(&refused)
    );
    let unknown = gateway.cli_as(&admin, &["sessions", "kill", "s-0000000000000000"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", shown(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no live session `s-0000000000000000`"),
        "{}",
        shown(&unknown)
    );

    let killed_at = Instant::now();
    let killed = gateway.cli_as(
        &admin,
        &["sessions", "kill", &id, "--reason", "incident 42"],
    );
    assert!(killed.status.success(), "{}", shown(&killed));
    assert!(
        String::from_utf8_lossy(&killed.stdout).contains(&format!("killed session `{id}`")),
        "{}",
        shown(&killed)
    );
    let status = support::wait_exit(&mut shell, Duration::from_secs(10), "ssh");
    let elapsed = killed_at.elapsed();
    drop(stdin);
    assert!(elapsed < KILL_BOUND, "ended after {elapsed:?}");
    assert!(!status.success());
    // Give the readers a moment to drain what ssh wrote last.
    std::thread::sleep(Duration::from_millis(200));
    let told = format!("{}{}", text(&said), text(&said_err));
    assert!(
        told.contains("ended by root-admin: incident 42"),
        "ssh was told:\n{told}"
    );

    // The watchers see the end and exit on their own.
    let watch_status = support::wait_exit(&mut watch, Duration::from_secs(10), "the watcher");
    assert!(watch_status.success(), "{}", text(&watch_err));
    std::thread::sleep(Duration::from_millis(200));
    let seen = text(&watched);
    assert!(
        seen.contains(&format!("session `{id}` ended after"))
            && seen.contains("ended by root-admin: incident 42"),
        "{seen}"
    );
    let json_status =
        support::wait_exit(&mut watch_json, Duration::from_secs(10), "the JSON watcher");
    assert!(json_status.success());
    std::thread::sleep(Duration::from_millis(200));
    let lines: Vec<serde_json::Value> = text(&watched_json)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines.first().unwrap()["type"],
        "session_start",
        "{lines:#?}"
    );
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "session_end", "{lines:#?}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("ended by root-admin: incident 42"),
        "{last}"
    );

    // The kill is audited: who killed which session, and why; and so is the watching.
    let events = gateway.audit_events();
    let kill = events
        .iter()
        .find(|e| e["kind"] == "session_kill")
        .unwrap_or_else(|| panic!("no session_kill event in {events:#?}"));
    assert_eq!(kill["identity"]["subject"], "root-admin", "{kill}");
    assert_eq!(kill["action"], "session:kill", "{kill}");
    assert_eq!(kill["session"], id.as_str(), "{kill}");
    assert!(
        kill["detail"].as_str().unwrap().contains("incident 42"),
        "{kill}"
    );
    assert!(
        events.iter().any(|e| e["action"] == "sessions:watch"
            && e["detail"].as_str().unwrap_or_default().contains(&id)),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_session_is_killed_with_a_fatal_naming_who_and_why() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let ana = gateway.key("ana", &["readers"]);
    let bob = gateway.key("bob", &["readers"]);
    let admin = gateway.key("root-admin", &["admins"]);
    let (ana_client, ana_connection) = gateway
        .client_config("ana", &ana, "demo")
        .connect(gateway.tls())
        .await
        .expect("connect through the gateway");
    let ana_ended = tokio::spawn(ana_connection);
    ana_client.simple_query("SELECT 1").await.unwrap();
    let (bob_client, bob_connection) = gateway
        .client_config("bob", &bob, "demo")
        .connect(gateway.tls())
        .await
        .expect("connect through the gateway");
    tokio::spawn(bob_connection);
    bob_client.simple_query("SELECT 1").await.unwrap();

    let id = running_session(&gateway, "ana");
    let killed_at = Instant::now();
    let killed = gateway.cli_as(
        &admin,
        &[
            "sessions",
            "kill",
            &id,
            "--reason",
            "incident 42",
            "--output",
            "json",
        ],
    );
    assert!(killed.status.success(), "{}", shown(&killed));
    let answer: serde_json::Value = serde_json::from_slice(&killed.stdout).unwrap();
    assert_eq!(answer["killed"], true, "{answer}");

    let error = match tokio::time::timeout(KILL_BOUND, ana_ended).await {
        Ok(Ok(Err(error))) => error,
        other => panic!("the session did not end with an error: {other:?}"),
    };
    assert!(killed_at.elapsed() < KILL_BOUND);
    assert_eq!(
        support::sqlstate(&error).as_deref(),
        Some("57P01"),
        "{error:?}"
    );
    let message = support::message(&error);
    assert!(
        message.contains("ended by root-admin: incident 42"),
        "{message}"
    );
    // Only that session: bob's runs on.
    bob_client.simple_query("SELECT 1").await.unwrap();
    // Killing it again: it is gone.
    let again = gateway.cli_as(&admin, &["sessions", "kill", &id]);
    assert_eq!(again.status.code(), Some(1), "{}", shown(&again));
}
