//! Which server login a session gets and what is recorded of it: identities log in as the
//! least-privileged account of their level (so the server refuses what policy meant to
//! refuse even when a statement is allowed), a level without a login is an error and never
//! another login, and a recorded session keeps its statements and (masked) result rows.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_recording::{EventKind, Recording, RecordingStorage};
use std::time::Duration;
use support::{CONNECTION, Fixture, Options, available, root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_logs_in_as_its_levels_account_and_the_server_enforces_it() {
    if !available(&["mariadb"]) {
        return;
    }
    let options = Options {
        login_levels: true,
        ..Options::default()
    };
    let f = Fixture::start_with("levels", options).await;
    // Analysts may do anything by policy, but log in as the read-only account.
    let token = f.key("ana", &["analysts"]).await;
    let (out, err, ok) = f
        .mariadb("ana", &token, &[CONNECTION, "-e", "SELECT CURRENT_USER()"])
        .await;
    assert!(ok, "{err}");
    assert!(out.contains("gh_read_levels@%"), "{out}");
    let (_, err, ok) = f
        .mariadb("ana", &token, &[CONNECTION, "-e", "DELETE FROM items"])
        .await;
    assert!(!ok);
    assert!(
        err.contains("1142") && err.contains("DELETE command denied"),
        "{err}"
    );
    let count = root(&["-N", &f.database, "-e", "SELECT count(*) FROM items"]).unwrap();
    assert_eq!(count.stdout, b"2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_without_a_login_is_refused_not_replaced() {
    if !available(&["mariadb"]) {
        return;
    }
    let options = Options {
        login_levels: true,
        ..Options::default()
    };
    let f = Fixture::start_with("no_level", options).await;
    let token = f.key("aud", &["auditors", "writers"]).await;
    let (_, err, ok) = f
        .mariadb("aud", &token, &[CONNECTION, "-e", "SELECT CURRENT_USER()"])
        .await;
    assert!(!ok);
    assert!(err.contains("has no `audit` login"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_keeps_its_statements_and_masked_rows() {
    if !available(&["mariadb"]) {
        return;
    }
    let options = Options {
        masked: true,
        recorded: true,
        ..Options::default()
    };
    let f = Fixture::start_with("recorded", options).await;
    let token = f.key("ana", &["analysts"]).await;
    let (_, err, ok) = f
        .mariadb(
            "ana",
            &token,
            &[CONNECTION, "-e", "SELECT id, ssn FROM items ORDER BY id"],
        )
        .await;
    assert!(ok, "{err}");
    let mut finished = Vec::new();
    for _ in 0..200 {
        finished = f.recordings.list().unwrap();
        if finished.iter().any(|summary| summary.ended_at.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let summary = finished
        .iter()
        .find(|s| s.ended_at.is_some())
        .expect("a finished recording");
    let recording = Recording::parse(f.recordings.read(&summary.session).unwrap()).unwrap();
    let events: Vec<EventKind> = recording.events().map(|e| e.unwrap().kind).collect();
    assert!(
        events.iter().any(|e| matches!(e, EventKind::Request(r) if r.text.as_deref() == Some("SELECT id, ssn FROM items ORDER BY id"))),
        "{events:?}"
    );
    let rows: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::Rows(rows) => Some(rows.rows.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        rows,
        [
            vec![Some("1".to_owned()), Some("[REDACTED]".to_owned())],
            vec![Some("2".to_owned()), Some("[REDACTED]".to_owned())],
        ]
    );
}
