//! Revocation and lifetime, end to end against the real binary and real clients: revoking an
//! identity (`gatehouse identities revoke`) or one of its keys ends its live PostgreSQL
//! sessions within seconds with a FATAL error naming the reason — idle sessions (seen by
//! tokio-postgres) and sessions in the middle of a statement (seen by psql) — while other
//! identities' sessions run on; new logins with its credentials are refused and audited with
//! the reason; restoring it lets its credentials work again. A session also ends when the
//! credential it was opened with expires.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Gateway, TestDb};

/// The bound: a revoked identity's sessions end within this.
const REVOCATION_BOUND: Duration = Duration::from_secs(5);

/// Open a session through the gateway and keep its connection task, whose result is the
/// error that ended the session.
async fn open_session(
    gateway: &Gateway,
    user: &str,
    token: &str,
) -> (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let (client, connection) = gateway
        .client_config(user, token, "demo")
        .connect(gateway.tls())
        .await
        .expect("connect through the gateway");
    let ended = tokio::spawn(connection);
    client
        .simple_query("SELECT 1")
        .await
        .expect("a first query works");
    (client, ended)
}

/// Wait (bounded) for a session's connection to end; returns the error it ended with.
async fn ended_with(
    ended: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    within: Duration,
) -> tokio_postgres::Error {
    match tokio::time::timeout(within, ended).await {
        Ok(Ok(Err(error))) => error,
        Ok(Ok(Ok(()))) => panic!("the session ended without an error"),
        Ok(Err(join)) => panic!("connection task failed: {join}"),
        Err(_) => panic!("the session was still open after {within:?}"),
    }
}

fn key_id(token: &str) -> &str {
    token
        .strip_prefix("gh_")
        .and_then(|rest| rest.split('_').next())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_an_identity_ends_its_live_sessions_within_seconds_and_refuses_it_until_restored()
{
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let ana = gateway.key("ana", &["readers"]);
    let bob = gateway.key("bob", &["readers"]);
    let (_ana_client, ana_ended) = open_session(&gateway, "ana", &ana).await;
    let (bob_client, _bob_ended) = open_session(&gateway, "bob", &bob).await;

    // psql in the middle of a long statement as ana.
    let mut psql = Command::new("psql")
        .arg(gateway.psql_conninfo("ana", "demo"))
        .args(["-X", "-c", "SELECT pg_sleep(30)"])
        .env("PGPASSWORD", &ana)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let psql get its statement going.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let revoked_at = Instant::now();
    let output = gateway.cli(&[
        "identities",
        "revoke",
        "ana",
        "--reason",
        "left the company",
    ]);
    assert!(
        output.status.success(),
        "revoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("revoked identity `ana`"));

    let error = ended_with(ana_ended, REVOCATION_BOUND).await;
    let elapsed = revoked_at.elapsed();
    assert_eq!(
        support::sqlstate(&error).as_deref(),
        Some("57P01"),
        "{error:?}"
    );
    let message = support::message(&error);
    assert!(
        message.contains("identity `ana` was revoked: left the company"),
        "{message}"
    );

    let psql_output = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + REVOCATION_BOUND;
        loop {
            if psql.try_wait().unwrap().is_some() {
                return psql.wait_with_output().unwrap();
            }
            if Instant::now() > deadline {
                let _ = psql.kill();
                panic!("psql was still running its statement after the revocation");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&psql_output.stderr);
    assert!(!psql_output.status.success());
    assert!(
        stderr.contains("FATAL") && stderr.contains("identity `ana` was revoked: left the company"),
        "psql said: {stderr}"
    );
    eprintln!("ana's idle session ended {elapsed:?} after the revocation");

    // Bob is untouched.
    bob_client
        .simple_query("SELECT 1")
        .await
        .expect("another identity's session runs on");

    // A new login with ana's (unexpired) key is refused, and audited with the reason.
    let (ok, _, stderr) = gateway.psql("ana", &ana, "SELECT 1");
    assert!(!ok);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    let events = gateway.audit_events();
    assert!(
        events.iter().any(|e| e["kind"] == "auth_failure"
            && e["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("the identity `ana` was revoked")),
        "no auth_failure event naming the revocation"
    );
    assert!(events.iter().any(|e| e["action"] == "identity:revoke"
        && e["detail"] == "revoked identity `ana`: left the company"));
    assert!(events.iter().any(|e| {
        e["kind"] == "disconnect"
            && e["identity"]["subject"] == "ana"
            && e["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("identity `ana` was revoked")
    }));
    // No audit event carries the key itself.
    assert!(!events.iter().any(|e| e.to_string().contains(&ana)));

    let listed = gateway.cli(&["identities", "list", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["subject"], "ana");
    assert_eq!(listed[0]["reason"], "left the company");

    let restored = gateway.cli(&["identities", "restore", "ana"]);
    assert!(restored.status.success());
    let (ok, stdout, stderr) = gateway.psql("ana", &ana, "SELECT 'back'");
    assert!(ok, "{stderr}");
    assert!(stdout.contains("back"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_ends_the_sessions_opened_with_it_but_not_the_identitys_others() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let laptop = gateway.key("cleo", &["readers"]);
    let desktop = gateway.key("cleo", &["readers"]);
    let (_laptop_client, laptop_ended) = open_session(&gateway, "cleo", &laptop).await;
    let (desktop_client, _desktop_ended) = open_session(&gateway, "cleo", &desktop).await;

    let output = gateway.cli(&["keys", "revoke", key_id(&laptop)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let error = ended_with(laptop_ended, REVOCATION_BOUND).await;
    assert_eq!(support::sqlstate(&error).as_deref(), Some("57P01"));
    assert!(
        support::message(&error).contains(&format!("credential `{}` was revoked", key_id(&laptop))),
        "{error:?}"
    );
    desktop_client
        .simple_query("SELECT 1")
        .await
        .expect("the session opened with the other key runs on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_the_credential_it_was_opened_with_expires() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let short = gateway.key_with("dana", &["readers"], &["--ttl", "3s"]);
    let (_client, ended) = open_session(&gateway, "dana", &short).await;
    let error = ended_with(ended, Duration::from_secs(8)).await;
    assert_eq!(
        support::sqlstate(&error).as_deref(),
        Some("28000"),
        "{error:?}"
    );
    let message = support::message(&error);
    assert!(
        message.contains("the credential of `dana` expired"),
        "{message}"
    );
    let events = gateway.audit_events();
    assert!(events.iter().any(|e| e["kind"] == "disconnect"
        && e["identity"]["subject"] == "dana"
        && e["detail"].as_str().unwrap_or_default().contains("expired")));
}

#[test]
fn identity_commands_refuse_bad_input_with_what_to_do() {
    let gateway = Gateway::start("test");
    let empty = gateway.cli(&["identities", "revoke", "  "]);
    assert!(!empty.status.success());
    assert!(String::from_utf8_lossy(&empty.stderr).contains("is not a subject"));
    let control = gateway.cli(&["identities", "revoke", "ana\nforged line"]);
    assert!(!control.status.success());
    let unknown = gateway.cli(&["identities", "restore", "nobody"]);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("`nobody` is not revoked"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    let listed = gateway.cli(&["identities", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("no identity is revoked"));
}
