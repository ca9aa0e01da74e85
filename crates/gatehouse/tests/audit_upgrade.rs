//! Audit format v2 on a store written by the gatehouse before it (`tests/fixtures/audit-v1`):
//! today's gateway opens it, appends v2 events to the same chain, `gatehouse audit verify`
//! checks the whole chain, and `gatehouse audit export` prints both formats with the same
//! columns.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::{Gateway, Options, TestDb, repo_root};

/// Events the fixture holds (seq 1..=17), all in format 1.
const V1_EVENTS: u64 = 17;

fn copy_fixture(to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    let fixture = repo_root().join("crates/gatehouse/tests/fixtures/audit-v1");
    for file in ["gatehouse.db", "audit.key", "audit.checkpoint"] {
        std::fs::copy(fixture.join(file), to.join(file)).unwrap();
    }
}

/// A gateway for `db` whose data directory is a copy of the fixture: (its guard, the data
/// directory, the gateway).
fn gateway_on_fixture(db: &TestDb) -> (tempfile::TempDir, std::path::PathBuf, Gateway) {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    copy_fixture(&data_dir);
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            data_dir: Some(data_dir.clone()),
            ..Options::default()
        },
    );
    (data, data_dir, gateway)
}

fn verify(gateway: &Gateway) -> serde_json::Value {
    let output = gateway.cli(&["audit", "verify", "--output", "json"]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn a_v1_log_is_continued_in_v2_and_verifies_and_exports_as_one() {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        .await
        .unwrap();
    let (_data, _, mut gateway) = gateway_on_fixture(&db);
    let token = gateway.key("wes", &["writers"]);
    let client = gateway.connect("wes", &token).await.unwrap();
    client
        .execute("INSERT INTO items VALUES ($1, 'three')", &[&3_i32])
        .await
        .unwrap();
    drop(client);
    gateway.terminate();

    let report = verify(&gateway);
    assert!(report["problem"].is_null(), "{report}");
    let checked = report["checked"].as_u64().unwrap();
    assert!(
        checked > V1_EVENTS + 3,
        "v1 and v2 events checked: {report}"
    );

    let events = gateway.audit_events();
    // The fixture's v1 statement and today's v2 one export under the same columns.
    let v1 = &events[4];
    assert_eq!(v1["seq"], 5);
    assert_eq!(v1["kind"], "statement");
    assert_eq!(v1["statement"], "SELECT * FROM items");
    assert_eq!(v1["decision"], "allow");
    let v1_outcome = &events[5];
    assert_eq!(v1_outcome["outcome"]["command_tag"], "SELECT 1");
    let v2 = events
        .iter()
        .find(|event| event["seq"].as_u64().unwrap() > V1_EVENTS && event["kind"] == "statement")
        .expect("a v2 statement event");
    assert_eq!(v2["statement"], "INSERT INTO items VALUES ($1, 'three')");
    assert_eq!(v2["action"], "sql:insert");
    assert!(v2["context"]["digest"].is_string(), "{v2}");
    let keys = |event: &serde_json::Value| {
        let mut keys: Vec<String> = event
            .as_object()
            .unwrap()
            .keys()
            .filter(|key| *key != "context")
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(v1),
        keys(v2),
        "the export keeps its columns across formats"
    );
    let v2_outcome = events
        .iter()
        .find(|event| event["refers_to"] == v2["seq"])
        .expect("the insert's outcome");
    assert_eq!(v2_outcome["outcome"]["command_tag"], "INSERT 0 1");
}

#[tokio::test]
async fn a_v1_event_after_v2_events_fails_verification_as_a_downgrade() {
    let db = TestDb::create().await;
    let (_data, data_dir, mut gateway) = gateway_on_fixture(&db);
    gateway.key("wes", &["writers"]);
    gateway.terminate();
    assert!(verify(&gateway)["problem"].is_null());

    // What an older gatehouse sharing the store would do: append a format 1 event (a copy of
    // the fixture's last one, re-chained with the key) after the v2 ones.
    let key = hex::decode(
        std::fs::read_to_string(data_dir.join("audit.key"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let connection = rusqlite::Connection::open(data_dir.join("gatehouse.db")).unwrap();
    let (seq, previous): (i64, Vec<u8>) = connection
        .query_row(
            "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let body: String = connection
        .query_row("SELECT body FROM audit_log WHERE seq = 17", [], |row| {
            row.get(0)
        })
        .unwrap();
    let seq = seq + 1;
    let mac = {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(b"gatehouse-audit-v1");
        mac.update(&previous);
        mac.update(&seq.to_be_bytes());
        mac.update(body.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    connection
        .execute(
            "INSERT INTO audit_log (seq, time_unix_ms, kind, subject, session, body, mac, format)
             SELECT ?1, time_unix_ms, kind, subject, session, body, ?2, 1 FROM audit_log WHERE seq = 17",
            rusqlite::params![seq, mac],
        )
        .unwrap();
    drop(connection);

    let output = gateway.cli(&["audit", "verify", "--output", "json"]);
    assert!(!output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["problem"]["seq"], seq, "{report}");
    assert!(
        report["problem"]["reason"]
            .as_str()
            .unwrap()
            .contains("downgrade"),
        "{report}"
    );
}
