//! Session recordings end to end: sessions run through the real gateway with real clients,
//! then `gatehouse sessions list` finds them and `gatehouse sessions replay` shows what was
//! asked, what policy decided and what came back — rows only where the connection records
//! results.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use support::{Gateway, Options, TestDb};

fn stdout_of(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The recorded session of `subject`, once its recording is finished.
async fn finished_session_of(gateway: &Gateway, subject: &str) -> Value {
    for _ in 0..50 {
        let list: Value = serde_json::from_str(&stdout_of(&gateway.cli(&[
            "sessions",
            "list",
            "--identity",
            subject,
            "--output",
            "json",
        ])))
        .unwrap();
        if let Some(session) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|s| !s["ended_at"].is_null())
        {
            return session.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no finished recording for {subject}");
}

async fn items_db() -> TestDb {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute(
            "CREATE TABLE items (id int, secret text);
             INSERT INTO items VALUES (1, 'alpha'), (2, 'beta')",
        )
        .await
        .unwrap();
    db
}

#[tokio::test]
async fn a_session_is_listed_and_replayed_with_its_decisions_and_results() {
    let db = items_db().await;
    let gateway = Gateway::start(&db.name);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client
        .simple_query("SELECT id FROM items ORDER BY id")
        .await
        .unwrap();
    client
        .query("SELECT secret FROM items WHERE id = $1", &[&2i32])
        .await
        .unwrap();
    client.simple_query("DELETE FROM items").await.unwrap_err();
    client.simple_query("SELECT 1/0").await.unwrap_err();
    drop(client);

    let session = finished_session_of(&gateway, "ana").await;
    assert_eq!(session["connection"], "demo");
    assert!(session["requests"].as_u64().unwrap() >= 4, "{session}");
    let id = session["session"].as_str().unwrap();

    let timeline = stdout_of(&gateway.cli(&["sessions", "replay", id]));
    assert!(
        timeline.contains("SELECT id FROM items ORDER BY id"),
        "{timeline}"
    );
    assert!(timeline.contains("DELETE FROM items"), "{timeline}");
    assert!(timeline.contains("deny"), "{timeline}");
    assert!(timeline.contains("22012"), "{timeline}");

    let events: Vec<Value> =
        stdout_of(&gateway.cli(&["sessions", "replay", id, "--output", "json"]))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let request = events
        .iter()
        .find(|e| e["type"] == "request" && e["text"] == "SELECT id FROM items ORDER BY id")
        .unwrap();
    let result = events
        .iter()
        .find(|e| e["type"] == "result" && e["request"] == request["request"])
        .unwrap();
    assert_eq!(result["rows"], 2);
    assert_eq!(result["columns"][0]["name"], "id");
    assert_eq!(result["status"], "SELECT 2");
    assert_eq!(result["columns"][0]["type"], "int4");
    let denied = events
        .iter()
        .find(|e| e["type"] == "request" && e["text"] == "DELETE FROM items")
        .unwrap();
    assert_eq!(denied["decision"], "deny");
    assert!(
        !events.iter().any(|e| e["type"] == "rows"),
        "rows are recorded only where the connection asks for it"
    );
    assert!(
        !timeline.contains("alpha") && !timeline.contains("beta"),
        "no result values without record_results: {timeline}"
    );
    assert_eq!(events.last().unwrap()["type"], "session_end");
}

#[tokio::test]
async fn a_connection_that_records_results_keeps_the_rows_in_a_directory() {
    let db = items_db().await;
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            demo_extra: "record_results = true".to_owned(),
            extra: "[recording]\nstorage = \"directory\"\n".to_owned(),
            ..Options::default()
        },
    );
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client
        .simple_query("SELECT id, secret FROM items ORDER BY id")
        .await
        .unwrap();
    drop(client);
    let session = finished_session_of(&gateway, "ana").await;
    let id = session["session"].as_str().unwrap();
    assert!(
        gateway
            .data_dir()
            .join("recordings")
            .join(format!("{id}.ghrec"))
            .exists()
    );
    let events: Vec<Value> =
        stdout_of(&gateway.cli(&["sessions", "replay", id, "--output", "json"]))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let rows = events.iter().find(|e| e["type"] == "rows").unwrap();
    assert_eq!(
        rows["rows"],
        serde_json::json!([["1", "alpha"], ["2", "beta"]])
    );
}

#[tokio::test]
async fn recordings_can_be_turned_off() {
    let db = items_db().await;
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            extra: "[recording]\nenabled = false\n".to_owned(),
            ..Options::default()
        },
    );
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let list: Value = serde_json::from_str(&stdout_of(
        &gateway.cli(&["sessions", "list", "--output", "json"]),
    ))
    .unwrap();
    assert_eq!(list, serde_json::json!([]));
}
