//! Commands and statements that change the session: `COM_INIT_DB` (the CLI's `use`) is
//! decided as `USE db`, and `EXECUTE name` is decided as what `name` was prepared as — a name
//! gatehouse did not see prepared is an unknown statement; `COM_RESET_CONNECTION` starts the
//! session over on both sides.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::raw::RawClient;
use support::{CONNECTION, Fixture, available, statements};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clis_use_is_decided_as_a_use_statement() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("init_db", false).await;
    let token = f.key("wes", &["writers"]).await;
    let (out, err, ok) = f
        .mariadb(
            "wes",
            &token,
            &[
                CONNECTION,
                "-e",
                "use information_schema\nSELECT DATABASE()",
            ],
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "DATABASE()\ninformation_schema\n");
    let events = f
        .events_until(|events| {
            statements(events)
                .iter()
                .any(|(_, text, _)| text.starts_with("USE"))
        })
        .await;
    assert!(
        statements(&events)
            .iter()
            .any(|(_, text, decision)| text == "USE `information_schema`" && decision == "Allow"),
        "{:?}",
        statements(&events)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_is_decided_as_what_was_prepared() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("sql_prepare", false).await;
    let token = f.key("rita", &["readers"]).await;
    let sql = "PREPARE s FROM 'SELECT name FROM items WHERE id = 1'; EXECUTE s";
    let (out, err, ok) = f.mariadb("rita", &token, &[CONNECTION, "-e", sql]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "name\napple\n");
    let (_, err, ok) = f
        .mariadb(
            "rita",
            &token,
            &[CONNECTION, "-e", "EXECUTE never_prepared"],
        )
        .await;
    assert!(!ok);
    assert!(err.contains("gatehouse: permission denied"), "{err}");
    let events = f
        .events_until(|events| {
            statements(events)
                .iter()
                .any(|(_, text, _)| text.contains("never_prepared"))
        })
        .await;
    let decided = statements(&events);
    assert!(
        decided
            .iter()
            .any(|(action, text, decision)| action == "sql:select"
                && text == "EXECUTE s"
                && decision == "Allow"),
        "{decided:?}"
    );
    assert!(
        decided
            .iter()
            .any(|(action, text, decision)| action == "sql:unknown"
                && text.contains("never_prepared")
                && decision == "Deny"),
        "{decided:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_is_forwarded_and_the_session_starts_over() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("reset", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    let answer = client.query("SET sql_mode = 'ANSI_QUOTES'").await;
    assert_eq!(answer[0].payload.first(), Some(&0x00));
    client.send(0, &[0x1F]).await;
    let reset = client.next().await.expect("an answer to the reset");
    assert_eq!(
        reset.payload.first(),
        Some(&0x00),
        "COM_RESET_CONNECTION is forwarded"
    );
    let answer = client.query("SELECT @@sql_mode").await;
    let rows: Vec<String> = answer
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert!(
        !rows.iter().any(|row| row.contains("ANSI_QUOTES")),
        "{rows:?}"
    );
}
