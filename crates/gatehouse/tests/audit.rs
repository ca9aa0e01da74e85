//! The audit log as an auditor meets it: `gatehouse audit export` shows every connect,
//! decision, outcome, key change and read of the log itself, with the fields the issue names;
//! `gatehouse audit verify` passes on an untouched log and names the first bad seq after the
//! store is edited behind gatehouse's back, or its newest events are deleted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use support::{Gateway, Options, TestDb};

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn statement<'a>(events: &'a [Value], text: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["kind"] == "statement" && e["statement"] == text)
        .unwrap_or_else(|| panic!("no statement event for {text:?} in {events:#?}"))
}

fn outcome_of<'a>(events: &'a [Value], statement: &Value) -> &'a Value {
    events
        .iter()
        .find(|e| e["kind"] == "outcome" && e["refers_to"] == statement["seq"])
        .unwrap_or_else(|| panic!("no outcome for {statement}"))
}

/// Run SQL as an attacker who can write the store: triggers dropped first.
fn tamper(gateway: &Gateway, sql: &str) {
    let db = gateway.data_dir().join("gatehouse.db");
    let script = format!(
        "import sqlite3\nc=sqlite3.connect({:?})\nc.executescript('''DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; {sql}''')\nc.commit()",
        db.display().to_string()
    );
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn connects_decisions_outcomes_and_disconnects_are_exported_with_their_fields() {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute("CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2), (3)")
        .await
        .unwrap();
    let gateway = Gateway::start(&db.name);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.simple_query("SELECT * FROM items").await.unwrap();
    client
        .query("SELECT id FROM items WHERE id > $1", &[&1i32])
        .await
        .unwrap();
    client.simple_query("SELECT 1/0").await.unwrap_err();
    client.simple_query("DELETE FROM items").await.unwrap_err();
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let events = gateway.audit_events();
    let read = statement(&events, "SELECT * FROM items");
    assert_eq!(read["identity"]["subject"], "ana");
    assert_eq!(read["identity"]["kind"], "human");
    assert_eq!(read["identity"]["groups"], serde_json::json!(["readers"]));
    assert_eq!(read["action"], "sql:select");
    assert_eq!(read["decision"], "allow");
    assert_eq!(read["policies"], serde_json::json!(["readers-read"]));
    assert_eq!(read["connection"], "demo");
    for field in ["seq", "time", "session", "fingerprint", "mac", "acting_for"] {
        assert!(!read[field].is_null(), "missing {field}: {read}");
    }
    let done = outcome_of(&events, read);
    assert_eq!(done["outcome"]["rows"], 3);
    assert_eq!(done["outcome"]["command_tag"], "SELECT 3");
    assert_eq!(done["session"], read["session"]);

    let extended = statement(&events, "SELECT id FROM items WHERE id > $1");
    assert_eq!(outcome_of(&events, extended)["outcome"]["rows"], 2);

    let failed = statement(&events, "SELECT 1/0");
    let error = outcome_of(&events, failed)["outcome"]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.starts_with("22012"), "{error}");

    let refused = statement(&events, "DELETE FROM items");
    assert_eq!(refused["decision"], "deny");
    assert!(
        events
            .iter()
            .all(|e| e["kind"] != "outcome" || e["refers_to"] != refused["seq"]),
        "a refused statement never ran, so it has no outcome"
    );
    assert!(!of_kind(&events, "connect").is_empty());
    assert!(!of_kind(&events, "disconnect").is_empty());
}

#[tokio::test]
async fn key_changes_policy_loads_and_reads_of_the_log_are_events_too() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    gateway.key("bo", &["writers"]);
    let events = gateway.audit_events();
    let policy = of_kind(&events, "policy_change");
    assert!(!policy.is_empty(), "{events:#?}");
    assert!(
        policy[0]["detail"]
            .as_str()
            .unwrap()
            .contains("policy set version")
    );
    let keys = of_kind(&events, "key_change");
    assert!(
        keys.iter()
            .any(|e| e["action"] == "keys:create" && e["detail"].as_str().unwrap().contains("`bo`")),
        "{keys:#?}"
    );
    assert_eq!(keys[0]["identity"]["kind"], "operator");
    // The export just run recorded itself.
    let again = gateway.audit_events();
    assert!(
        again
            .iter()
            .any(|e| e["kind"] == "audit_read" && e["action"] == "audit:export"),
        "{again:#?}"
    );
}

#[tokio::test]
async fn export_filters_by_identity_and_time() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    for who in ["ana", "bo"] {
        let token = gateway.key(who, &["readers"]);
        let client = gateway.connect(who, &token).await.unwrap();
        client.simple_query("SELECT 1").await.unwrap();
    }
    let output = gateway.cli(&["audit", "export", "--identity", "bo", "--since", "1h"]);
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|e| e["identity"]["subject"] == "bo"));
    let future = gateway.cli(&["audit", "export", "--since", "2999-01-01T00:00:00Z"]);
    assert!(future.status.success());
    assert!(String::from_utf8_lossy(&future.stdout).trim().is_empty());
    let bad = gateway.cli(&["audit", "export", "--since", "yesterday-ish"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

#[tokio::test]
async fn verify_passes_on_an_untouched_log_and_names_an_edited_event() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    for i in 0..5 {
        client.simple_query(&format!("SELECT {i}")).await.unwrap();
    }
    let ok = gateway.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    assert!(
        stdout.contains("intact") && stdout.contains("events checked"),
        "{stdout}"
    );

    let events = gateway.audit_events();
    let victim = statement(&events, "SELECT 3")["seq"].as_i64().unwrap();
    tamper(
        &gateway,
        &format!(
            "UPDATE audit_log SET body = replace(body, 'SELECT 3', 'SELECT 42') WHERE seq = {victim}"
        ),
    );
    let bad = gateway.cli(&["audit", "verify", "--output", "json"]);
    assert_eq!(bad.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["problem"]["seq"], victim);
}

#[tokio::test]
async fn verify_names_the_first_deleted_event_of_a_truncated_tail() {
    let db = TestDb::create().await;
    let mut gateway = Gateway::start(&db.name);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    for i in 0..5 {
        client.simple_query(&format!("SELECT {i}")).await.unwrap();
    }
    drop(client);
    // A clean stop fsyncs the log and writes the final checkpoint.
    gateway.terminate();
    let last = gateway.audit_events().last().unwrap()["seq"]
        .as_i64()
        .unwrap();
    let cut_from = last - 3;
    tamper(
        &gateway,
        &format!("DELETE FROM audit_log WHERE seq >= {cut_from}"),
    );
    let bad = gateway.cli(&["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("seq {cut_from}")), "{stdout}");
    assert!(stdout.contains("checkpoint"), "{stdout}");
}

#[tokio::test]
async fn tail_shows_the_newest_events() {
    let db = TestDb::create().await;
    let gateway = Gateway::start_with(&db.name, Options::default());
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.simple_query("SELECT 'tail me'").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let output = gateway.cli(&["audit", "tail", "-n", "5"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(stdout.contains("SELECT 'tail me'"), "{stdout}");
    assert!(stdout.lines().count() <= 5, "{stdout}");
    let json = gateway.cli(&["audit", "tail", "-n", "3", "--output", "json"]);
    let lines: Vec<Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
}

#[tokio::test]
async fn an_unavailable_audit_store_refuses_requests_and_recovers_without_restart() {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute("CREATE TABLE t (n int)")
        .await
        .unwrap();
    let gateway = Gateway::start(&db.name);
    let token = gateway.key("bo", &["writers"]);
    let client = gateway.connect("bo", &token).await.unwrap();
    client
        .simple_query("INSERT INTO t VALUES (1)")
        .await
        .unwrap();

    // Another process takes the store's write lock and keeps it for 7 s (longer than the
    // writer's 5 s busy timeout): the audit store is unavailable to gatehouse.
    let store = gateway.data_dir().join("gatehouse.db");
    let mut locker = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,time,sys\nc=sqlite3.connect({:?}, isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\ntime.sleep(7)\nc.execute('COMMIT')",
            store.display().to_string()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");

    let refused = client
        .simple_query("INSERT INTO t VALUES (2)")
        .await
        .unwrap_err();
    assert_eq!(support::sqlstate(&refused).as_deref(), Some("58000"));
    assert!(support::message(&refused).contains("audit"), "{refused:?}");
    locker.wait().unwrap();

    // Recovery without restart, on the same session.
    client
        .simple_query("INSERT INTO t VALUES (3)")
        .await
        .unwrap();
    let direct = db.direct().await;
    let rows: Vec<i32> = direct
        .query("SELECT n FROM t ORDER BY n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, [1, 3], "the refused insert never reached PostgreSQL");
    let events = gateway.audit_events();
    assert!(
        events
            .iter()
            .any(|e| e["statement"] == "INSERT INTO t VALUES (3)")
    );
    assert!(
        !events
            .iter()
            .any(|e| e["statement"] == "INSERT INTO t VALUES (2)"),
        "nothing was recorded for the refused insert, and nothing was forwarded"
    );
}
