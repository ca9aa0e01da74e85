//! `gatehouse sessions list` and `gatehouse sessions replay` as operators and programs use
//! them, on recordings written straight into a data directory (the store by default, or a
//! directory when the config says so): tables and JSON, filters, the timeline and JSON lines,
//! paced replay, damaged recordings, unknown ids, and the audit events that reading leaves.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_recording::{
    DecisionKind, EventKind, LocalDirStorage, RecordingEvent, RecordingHeader, RecordingStorage,
    RecordingWriter, Request, ResultSummary, SessionEnd, SessionStart, WriterConfig,
};
use gatehouse_store::Store;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use time::{Duration, OffsetDateTime};

const ALLOWED: &str = "SELECT * FROM orders WHERE id = 7";
const DENIED: &str = "DELETE FROM orders";

fn gatehouse(data_dir: &Path, config: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    command.arg("--data-dir").arg(data_dir);
    match config {
        Some(config) => command.arg("--config").arg(config),
        None => command.env_remove("GATEHOUSE_CONFIG"),
    };
    command
        .args(args)
        .env_remove("GATEHOUSE_DATA_DIR")
        .env("USER", "operator-olga")
        .output()
        .unwrap()
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A session of `subject` on `connection`: connect, an allowed `SELECT` with its result, a
/// denied `DELETE`, and (if `ended`) the disconnect, spread over two seconds.
fn session_events(
    id: &str,
    subject: &str,
    connection: &str,
    started_at: OffsetDateTime,
    ended: bool,
) -> Vec<RecordingEvent> {
    let request = |at_us, request, statement: &str, decision| RecordingEvent {
        at_us,
        kind: EventKind::Request(Request {
            request,
            action: if decision == DecisionKind::Allow {
                "sql:select".into()
            } else {
                "sql:delete".into()
            },
            decision,
            policies: vec!["readers-read".into()],
            text: Some(statement.into()),
            fingerprint: None,
            audit_seq: None,
        }),
    };
    let mut events = vec![
        RecordingEvent {
            at_us: 0,
            kind: EventKind::SessionStart(SessionStart {
                session: id.into(),
                subject: subject.into(),
                identity_kind: "human".into(),
                groups: vec!["readers".into()],
                acting_for: vec![],
                connection: connection.into(),
                connection_kind: "postgres".into(),
                source_address: Some("127.0.0.1:50000".into()),
                started_at,
                gatehouse_version: "0.1.0".into(),
            }),
        },
        request(500_000, 0, ALLOWED, DecisionKind::Allow),
        RecordingEvent {
            at_us: 501_000,
            kind: EventKind::Result(ResultSummary {
                request: 0,
                columns: vec![],
                rows: 1,
                bytes: 40,
                duration_us: 1_000,
                status: Some("SELECT 1".into()),
                error: None,
                masked: Default::default(),
            }),
        },
        request(1_500_000, 1, DENIED, DecisionKind::Deny),
    ];
    if ended {
        events.push(RecordingEvent {
            at_us: 2_000_000,
            kind: EventKind::SessionEnd(SessionEnd {
                reason: "client closed the connection".into(),
            }),
        });
    }
    events
}

/// Writes a recording through `storage` as the gateway would, chunk by chunk, finishing it if
/// its session ended. Returns the writer if it was left unfinished, for more chunks.
fn record(
    storage: &dyn RecordingStorage,
    events: &[RecordingEvent],
    ended: bool,
) -> Option<RecordingWriter> {
    let EventKind::SessionStart(start) = &events[0].kind else {
        panic!("a recording starts with session_start");
    };
    let id = start.session.clone();
    let config = WriterConfig {
        max_events: 2,
        ..WriterConfig::default()
    };
    let mut writer =
        RecordingWriter::with_config(RecordingHeader::from_start(start), config).unwrap();
    for event in events {
        if let Some(chunk) = writer.push(event).unwrap() {
            storage
                .append_chunk(&id, chunk.info.index, &chunk.bytes)
                .unwrap();
        }
    }
    if let Some(chunk) = writer.flush().unwrap() {
        storage
            .append_chunk(&id, chunk.info.index, &chunk.bytes)
            .unwrap();
    }
    if !ended {
        return Some(writer);
    }
    let finished = writer.finish().unwrap();
    assert!(finished.chunk.is_none());
    storage.finish(&id, &finished.summary).unwrap();
    None
}

/// A data directory whose store holds a finished session of `ana` on `orders` three hours
/// ago and a session of `bob` on `demo` ten minutes ago that never ended.
async fn data_dir_with_recordings() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();
    let recordings = store.recordings().unwrap();
    let now = OffsetDateTime::now_utc();
    let ana = session_events(
        "s-00000000000000aa",
        "ana",
        "orders",
        now - Duration::hours(3),
        true,
    );
    record(&recordings, &ana, true);
    let bob = session_events(
        "s-00000000000000bb",
        "bob",
        "demo",
        now - Duration::minutes(10),
        false,
    );
    record(&recordings, &bob, false);
    store.close().await;
    dir
}

fn list_json(dir: &Path, filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["sessions", "list", "--output", "json"];
    args.extend_from_slice(filters);
    let value: Value = serde_json::from_str(&stdout_of(&gatehouse(dir, None, &args))).unwrap();
    value.as_array().unwrap().clone()
}

fn sessions_of(list: &[Value]) -> Vec<&str> {
    list.iter()
        .map(|summary| summary["session"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn list_shows_sessions_as_a_table_or_json_and_filters_them() {
    let dir = data_dir_with_recordings().await;

    let table = stdout_of(&gatehouse(dir.path(), None, &["sessions", "list"]));
    for expected in [
        "s-00000000000000aa",
        "s-00000000000000bb",
        "ana",
        "orders",
        "running or cut short",
        "requests",
    ] {
        assert!(table.contains(expected), "{expected}: {table}");
    }
    assert!(
        table.find("s-00000000000000aa") < table.find("s-00000000000000bb"),
        "oldest first: {table}"
    );

    let all = list_json(dir.path(), &[]);
    assert_eq!(
        sessions_of(&all),
        ["s-00000000000000aa", "s-00000000000000bb"]
    );
    assert_eq!(all[0]["subject"], "ana");
    assert_eq!(all[0]["connection"], "orders");
    assert_eq!(all[0]["requests"], 2);
    assert_eq!(all[0]["events"], 5);
    assert!(all[0]["ended_at"].is_string(), "{}", all[0]);
    assert!(all[1]["ended_at"].is_null(), "{}", all[1]);
    assert!(all[1]["bytes"].as_u64().unwrap() > 0);

    let only = |filters: &[&str]| sessions_of(&list_json(dir.path(), filters)).join(",");
    assert_eq!(only(&["--identity", "ana"]), "s-00000000000000aa");
    assert_eq!(only(&["--connection", "demo"]), "s-00000000000000bb");
    assert_eq!(only(&["--since", "1h"]), "s-00000000000000bb");
    assert_eq!(
        only(&["--since", "2000-01-01T00:00:00Z"]),
        "s-00000000000000aa,s-00000000000000bb"
    );
    assert_eq!(only(&["--identity", "ana", "--since", "1h"]), "");

    let none = stdout_of(&gatehouse(
        dir.path(),
        None,
        &["sessions", "list", "--identity", "carol"],
    ));
    assert!(none.contains("none of the 2 recorded sessions"), "{none}");

    let bad = gatehouse(dir.path(), None, &["sessions", "list", "--since", "soon"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"),
        "{bad:?}"
    );

    let empty = tempfile::tempdir().unwrap();
    let nothing = stdout_of(&gatehouse(empty.path(), None, &["sessions", "list"]));
    assert!(nothing.contains("no recorded sessions yet"), "{nothing}");
    assert!(list_json(empty.path(), &[]).is_empty());
}

#[tokio::test]
async fn replay_prints_the_timeline_or_json_lines_at_once_or_paced() {
    let dir = data_dir_with_recordings().await;
    let id = "s-00000000000000aa";

    let timeline = stdout_of(&gatehouse(dir.path(), None, &["sessions", "replay", id]));
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(lines.len(), 4, "{timeline}");
    assert!(
        lines[0].contains("connect  orders (postgres)"),
        "{timeline}"
    );
    assert!(
        lines[1].contains(ALLOWED) && lines[1].contains("allow") && lines[1].contains("1 row"),
        "{timeline}"
    );
    assert!(
        lines[2].contains(DENIED) && lines[2].contains("deny"),
        "{timeline}"
    );
    assert!(lines[3].contains("disconnect"), "{timeline}");

    let json = stdout_of(&gatehouse(
        dir.path(),
        None,
        &["sessions", "replay", id, "--output", "json"],
    ));
    let events = json_lines(&json);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "session_start",
            "request",
            "result",
            "request",
            "session_end"
        ]
    );
    assert_eq!(events[1]["text"], ALLOWED);
    assert_eq!(events[3]["decision"], "deny");

    // Two seconds of session at 1000 times real speed: the same output, paced.
    let started = std::time::Instant::now();
    let paced = stdout_of(&gatehouse(
        dir.path(),
        None,
        &["sessions", "replay", id, "--speed", "1000"],
    ));
    assert_eq!(paced, timeline);
    let paced_json = stdout_of(&gatehouse(
        dir.path(),
        None,
        &[
            "sessions", "replay", id, "--speed", "1000", "--output", "json",
        ],
    ));
    assert_eq!(paced_json, json);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // At four times real speed the same two seconds take half a second.
    let started = std::time::Instant::now();
    let paced = stdout_of(&gatehouse(
        dir.path(),
        None,
        &["sessions", "replay", id, "--speed", "4"],
    ));
    assert_eq!(paced, timeline);
    assert!(started.elapsed() >= std::time::Duration::from_millis(450));

    // A session that never ended replays as far as it was recorded.
    let live = stdout_of(&gatehouse(
        dir.path(),
        None,
        &["sessions", "replay", "s-00000000000000bb"],
    ));
    assert!(
        live.contains(DENIED) && !live.contains("disconnect"),
        "{live}"
    );

    for speed in ["0", "-1", "fast"] {
        let refused = gatehouse(
            dir.path(),
            None,
            &["sessions", "replay", id, "--speed", speed],
        );
        assert_eq!(refused.status.code(), Some(2), "--speed {speed}");
        assert!(String::from_utf8_lossy(&refused.stderr).contains("positive number"));
    }
}

#[tokio::test]
async fn an_unknown_session_exits_1_and_points_at_the_list() {
    let dir = data_dir_with_recordings().await;
    for id in ["s-ffffffffffffffff", "../gatehouse.db"] {
        let output = gatehouse(dir.path(), None, &["sessions", "replay", id]);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("no recording of session"), "{stderr}");
        assert!(stderr.contains("gatehouse sessions list"), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn a_damaged_recording_shows_what_is_readable_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("gatehouse.db")).await.unwrap();
    let recordings = store.recordings().unwrap();
    let id = "s-00000000000000cc";
    let events = session_events(id, "ana", "orders", OffsetDateTime::now_utc(), false);
    let mut writer = record(&recordings, &events, false).unwrap();
    // The gateway died while writing the next chunk: only half of it was stored.
    let end = RecordingEvent {
        at_us: 3_000_000,
        kind: EventKind::SessionEnd(SessionEnd {
            reason: "client closed the connection".into(),
        }),
    };
    writer.push(&end).unwrap();
    let chunk = writer.flush().unwrap().unwrap();
    recordings
        .append_chunk(id, chunk.info.index, &chunk.bytes[..chunk.bytes.len() / 2])
        .unwrap();
    store.close().await;

    let output = gatehouse(dir.path(), None, &["sessions", "replay", id]);
    let timeline = stdout_of(&output);
    assert!(
        timeline.contains(ALLOWED) && timeline.contains(DENIED),
        "{timeline}"
    );
    let last = timeline.lines().last().unwrap();
    assert!(
        last.contains("!!") && last.contains("truncated"),
        "{timeline}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("truncated"),
        "{stderr}"
    );

    let output = gatehouse(
        dir.path(),
        None,
        &["sessions", "replay", id, "--output", "json"],
    );
    assert_eq!(json_lines(&stdout_of(&output)).len(), 4);
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning:"));
}

#[tokio::test]
async fn reading_recordings_is_recorded_in_the_audit_log() {
    let dir = data_dir_with_recordings().await;
    stdout_of(&gatehouse(
        dir.path(),
        None,
        &["sessions", "list", "--identity", "ana"],
    ));
    stdout_of(&gatehouse(
        dir.path(),
        None,
        &["sessions", "replay", "s-00000000000000aa"],
    ));
    let events = json_lines(&stdout_of(&gatehouse(
        dir.path(),
        None,
        &["audit", "export"],
    )));
    let read = |action: &str| {
        events
            .iter()
            .find(|event| event["action"] == action)
            .unwrap_or_else(|| panic!("no {action} event in {events:?}"))
            .clone()
    };
    let list = read("sessions:list");
    assert_eq!(list["kind"], "audit_read");
    assert_eq!(list["identity"]["subject"], "operator-olga");
    assert!(
        list["detail"].as_str().unwrap().contains("identity=ana"),
        "{list}"
    );
    let replay = read("sessions:replay");
    assert!(
        replay["detail"]
            .as_str()
            .unwrap()
            .contains("s-00000000000000aa"),
        "{replay}"
    );
    let verify = gatehouse(dir.path(), None, &["audit", "verify"]);
    assert!(verify.status.success(), "{verify:?}");
}

#[test]
fn a_directory_of_recordings_is_read_when_the_config_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, "[recording]\nstorage = \"directory\"\n").unwrap();
    let data_dir = dir.path().join("data");
    let storage = LocalDirStorage::new(data_dir.join("recordings"), false).unwrap();
    let id = "s-00000000000000dd";
    record(
        &storage,
        &session_events(id, "ana", "orders", OffsetDateTime::now_utc(), true),
        true,
    );

    let list: Value = serde_json::from_str(&stdout_of(&gatehouse(
        &data_dir,
        Some(&config),
        &["sessions", "list", "--output", "json"],
    )))
    .unwrap();
    assert_eq!(list[0]["session"], id);
    let timeline = stdout_of(&gatehouse(
        &data_dir,
        Some(&config),
        &["sessions", "replay", id],
    ));
    assert!(timeline.contains(ALLOWED), "{timeline}");
    // Without the config the store is searched, which holds no recordings.
    let output = gatehouse(&data_dir, None, &["sessions", "replay", id]);
    assert_eq!(output.status.code(), Some(1));
}
