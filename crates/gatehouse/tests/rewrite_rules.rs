//! A rewrite rule does what the writing statement's text does not show: the penetration
//! test's writer inserted into a table whose rule also deleted from another, and the DELETE
//! needed no approval. The gateway reads each connection's rules from the catalog, and a write
//! is decided as everything the rules it fires do: here the INSERT is held for the approval a
//! DELETE needs, and nothing is deleted meanwhile.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};
use support::raw::{Batch, Raw, command_tags, errors};
use support::{Gateway, Options, TestDb};

#[tokio::test]
async fn an_insert_whose_rule_deletes_is_decided_as_a_delete() {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct
        .batch_execute(
            "CREATE TABLE canary (id int PRIMARY KEY);
             INSERT INTO canary SELECT generate_series(1, 10);
             CREATE TABLE ruled (id int);
             CREATE RULE purge AS ON INSERT TO ruled DO ALSO DELETE FROM canary WHERE id = NEW.id;
             CREATE TABLE plain (id int);",
        )
        .await
        .unwrap();
    let gateway = Gateway::start_with(&db.name, Options::raw_wire_with_short_approval_wait());
    let writer = gateway.key("wes", &["writers"]);
    let mut raw = Raw::connect(&gateway, "wes", &writer).await;

    // The rules are read shortly after start; until then writes are refused, not guessed.
    let started = Instant::now();
    let answer = loop {
        let answer = raw
            .round_trip(Batch::new().query("INSERT INTO plain VALUES (1)"))
            .await;
        if errors(&answer).is_empty() || started.elapsed() > Duration::from_secs(20) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(command_tags(&answer), ["INSERT 0 1"], "{answer:?}");

    let answer = raw
        .round_trip(Batch::new().query("INSERT INTO ruled VALUES (5)"))
        .await;
    assert!(
        answer
            .iter()
            .any(|m| m.tag == b'N' && m.field(b'M').is_some_and(|t| t.contains("sql:delete"))),
        "held as the DELETE its rule runs: {answer:?}"
    );
    assert!(command_tags(&answer).is_empty(), "{answer:?}");
    let canary: i64 = direct
        .query_one("SELECT count(*) FROM canary", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(canary, 10, "nothing was deleted");
    let ruled: i64 = direct
        .query_one("SELECT count(*) FROM ruled", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ruled, 0);

    let events = gateway.audit_events();
    let held = events
        .iter()
        .find(|e| e["kind"] == "statement" && e["statement"] == "INSERT INTO ruled VALUES (5)")
        .unwrap();
    assert_eq!(held["action"], "sql:delete");
    assert_eq!(held["decision"], "hold");
}
