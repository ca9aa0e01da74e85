//! What a client cannot get through: messages out of sequence or larger than `max_message`
//! end the session with an ERR that says why (nothing forwarded); unknown and refused
//! commands get an ERR and are never forwarded (a field list is decided as the `SHOW COLUMNS`
//! it is); a server's request for a local file is never
//! possible (gatehouse never offers LOCAL_FILES); a revoked identity's session ends at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_pipeline::AuditEventKind;
use support::raw::{RawClient, error_text};
use support::{Fixture, available, statements};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_out_of_sequence_ends_the_session_unforwarded() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("bad_sequence", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    client.send(3, b"\x03DELETE FROM items").await;
    let answer = client.next().await.expect("an ERR");
    let text = error_text(&answer);
    assert!(
        text.contains("gatehouse ended the session") && text.contains("sequence id 3"),
        "{text}"
    );
    assert!(client.next().await.is_none(), "the session is closed");
    let events = f
        .events_until(|events| events.iter().any(|e| e.kind == AuditEventKind::Disconnect))
        .await;
    assert!(
        statements(&events).is_empty(),
        "nothing was decided or forwarded"
    );
    assert_eq!(
        support::root(&["-N", &f.database, "-e", "SELECT count(*) FROM items"])
            .unwrap()
            .stdout,
        b"2\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_ends_the_session_unforwarded() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("bad_oversized", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    let mut command = b"\x03SELECT '".to_vec();
    command.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    command.push(b'\'');
    client.send(0, &command).await;
    let answer = client.next().await.expect("an ERR");
    let text = error_text(&answer);
    assert!(text.contains("gatehouse ended the session"), "{text}");
    assert!(
        text.to_lowercase().contains("limit") || text.contains("1048576"),
        "{text}"
    );
    assert!(client.next().await.is_none(), "the session is closed");
    let events = f
        .events_until(|events| events.iter().any(|e| e.kind == AuditEventKind::Disconnect))
        .await;
    assert!(statements(&events).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_refused_commands_get_an_error_and_the_session_goes_on() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("bad_commands", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    client.send(0, &[0x99, 1, 2, 3]).await;
    let text = error_text(&client.next().await.unwrap());
    assert!(text.contains("unknown command 0x99"), "{text}");
    // COM_CHANGE_USER, COM_BINLOG_DUMP, COM_SHUTDOWN.
    for (command, says) in [
        (vec![0x11, b'r', b'o', b'o', b't', 0, 0], "COM_CHANGE_USER"),
        (vec![0x12, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], "replication"),
        (vec![0x08, 0], "administration"),
    ] {
        client.send(0, &command).await;
        let text = error_text(&client.next().await.unwrap());
        assert!(text.contains("gatehouse:") && text.contains(says), "{text}");
    }
    client.send(0, &[0x0E]).await;
    let pong = client.next().await.unwrap();
    assert_eq!(pong.payload.first(), Some(&0x00), "COM_PING is forwarded");
    let answer = client.query("SELECT 1").await;
    assert!(answer.len() >= 3, "the session still runs statements");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_data_local_infile_cannot_read_client_files() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("bad_infile", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    let answer = client
        .query("LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE items")
        .await;
    let text = error_text(answer.last().unwrap());
    // gatehouse refuses it whatever policy says (and never asks the server for LOCAL_FILES).
    assert!(text.contains("gatehouse:"), "{text}");
    assert_eq!(
        support::root(&["-N", &f.database, "-e", "SELECT count(*) FROM items"])
            .unwrap()
            .stdout,
        b"2\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_identity_ends_its_session_within_seconds() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("revoked", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    assert_eq!(f.live.end_identity("wes", "identity `wes` was revoked"), 1);
    let started = std::time::Instant::now();
    let text = error_text(&client.next().await.expect("an ERR"));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(text.contains("identity `wes` was revoked"), "{text}");
    assert!(client.next().await.is_none());
    let events = f
        .events_until(|events| events.iter().any(|e| e.kind == AuditEventKind::Disconnect))
        .await;
    let reason = events
        .iter()
        .find(|e| e.kind == AuditEventKind::Disconnect)
        .and_then(|e| e.detail.clone())
        .unwrap_or_default();
    assert!(reason.contains("revoked"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_would_turn_session_tracking_off_are_not_run() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("tracking_off", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    let answer = client
        .query("SET SESSION session_track_system_variables = ''")
        .await;
    let text = error_text(answer.last().unwrap());
    assert!(
        text.contains("session tracking") && text.contains("not run"),
        "{text}"
    );
    let answer = client.query("SELECT 1").await;
    assert!(answer.len() >= 3, "the session goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_list_is_decided_as_show_columns_and_answered_with_the_columns() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("field_list", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    client.send(0, b"\x04items\0").await;
    let mut columns = 0;
    loop {
        let message = client.next().await.expect("the columns");
        if message.payload.first() == Some(&0xFE) {
            break;
        }
        assert_ne!(
            message.payload.first(),
            Some(&0xFF),
            "{:?}",
            String::from_utf8_lossy(&message.payload)
        );
        columns += 1;
    }
    assert_eq!(columns, 6, "id, name, email, ssn, score, card");
    let events = f
        .events_until(|events| {
            statements(events)
                .iter()
                .any(|(_, text, _)| text.starts_with("SHOW COLUMNS"))
        })
        .await;
    assert!(
        statements(&events)
            .iter()
            .any(|(_, text, decision)| text == "SHOW COLUMNS FROM `items`" && decision == "Allow"),
        "{:?}",
        statements(&events)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_kill_is_decided_as_the_kill_statement_it_is() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("process_kill", false).await;
    let token = f.key("rita", &["readers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    client.send(0, &[0x0C, 1, 0, 0, 0]).await;
    let text = error_text(&client.next().await.expect("a refusal"));
    assert!(text.contains("gatehouse: permission denied"), "{text}");
    let events = f
        .events_until(|events| {
            statements(events)
                .iter()
                .any(|(_, text, _)| text == "KILL 1")
        })
        .await;
    assert!(
        statements(&events)
            .iter()
            .any(|(action, text, decision)| action == "sql:admin"
                && text == "KILL 1"
                && decision == "Deny"),
        "{:?}",
        statements(&events)
    );
}
