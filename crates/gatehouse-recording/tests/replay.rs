//! What `gatehouse sessions replay` prints: the readable timeline and NDJSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use gatehouse_recording::*;
use std::collections::BTreeMap;
use std::time::Duration;
use time::macros::datetime;

fn event(at_us: u64, kind: EventKind) -> RecordingEvent {
    RecordingEvent { at_us, kind }
}

fn request(
    request: u64,
    action: &str,
    decision: DecisionKind,
    policies: &[&str],
    statement: &str,
) -> EventKind {
    EventKind::Request(Request {
        request,
        action: action.into(),
        decision,
        policies: policies.iter().map(|p| p.to_string()).collect(),
        text: Some(statement.into()),
        fingerprint: None,
        audit_seq: None,
    })
}

fn result(request: u64, rows: u64, duration_us: u64, tag: &str) -> ResultSummary {
    ResultSummary {
        request,
        columns: vec![],
        rows,
        bytes: 0,
        duration_us,
        status: Some(tag.into()),
        error: None,
        masked: BTreeMap::new(),
    }
}

fn recording() -> Recording {
    let events = vec![
        event(
            0,
            EventKind::SessionStart(SessionStart {
                session: "s-1".into(),
                subject: "alice".into(),
                identity_kind: "human".into(),
                groups: vec!["readers".into(), "oncall".into()],
                acting_for: vec![],
                connection: "demo".into(),
                connection_kind: "postgres".into(),
                source_address: Some("10.0.0.7".into()),
                started_at: datetime!(2026-05-01 09:00 UTC),
                gatehouse_version: "0.1.0".into(),
            }),
        ),
        event(
            12_000,
            request(
                0,
                "sql:select",
                DecisionKind::Allow,
                &["readers"],
                "SELECT *\n  FROM t",
            ),
        ),
        event(
            12_400,
            EventKind::Result(ResultSummary {
                masked: BTreeMap::from([("email".into(), 3)]),
                ..result(0, 3, 400, "SELECT 3")
            }),
        ),
        event(
            20_000,
            request(
                1,
                "sql:delete",
                DecisionKind::Deny,
                &["default-deny"],
                "DELETE FROM t",
            ),
        ),
        event(
            30_000,
            request(
                2,
                "sql:select",
                DecisionKind::Allow,
                &[],
                "SELECT email FROM users",
            ),
        ),
        event(
            30_500,
            EventKind::Rows(ResultRows {
                request: 2,
                rows: vec![
                    vec![Some("a***@x.io".into())],
                    vec![None],
                    vec![Some("\u{1b}[2J".into())],
                ],
            }),
        ),
        event(31_000, EventKind::Result(result(2, 3, 1_000, "SELECT 3"))),
        event(
            40_000,
            request(
                3,
                "sql:update",
                DecisionKind::Hold,
                &["prod-writes"],
                "UPDATE t SET x = 1",
            ),
        ),
        event(
            1_540_000,
            EventKind::Approval(Approval {
                request: 3,
                approval_id: "ap-7".into(),
                state: "approved".into(),
                by: Some("bob".into()),
            }),
        ),
        event(
            1_550_000,
            EventKind::Result(result(3, 1, 2_500_000, "UPDATE 1")),
        ),
        event(
            1_560_000,
            EventKind::Result(ResultSummary {
                error: Some(ResultError {
                    code: "42P01".into(),
                    message: "relation \"u\" does not exist".into(),
                }),
                ..result(4, 0, 80, "")
            }),
        ),
        event(
            2_000_000,
            EventKind::SessionEnd(SessionEnd {
                reason: "client closed the connection".into(),
            }),
        ),
    ];
    let header = RecordingHeader {
        session: "s-1".into(),
        subject: "alice".into(),
        connection: "demo".into(),
        started_at: datetime!(2026-05-01 09:00 UTC),
        gatehouse_version: "0.1.0".into(),
    };
    let mut writer = RecordingWriter::new(header).unwrap();
    let mut bytes = Vec::new();
    for event in &events {
        if let Some(chunk) = writer.push(event).unwrap() {
            bytes.extend(chunk.bytes);
        }
    }
    bytes.extend(writer.finish().unwrap().chunk.unwrap().bytes);
    Recording::parse(bytes).unwrap()
}

#[test]
fn timeline_reads_like_a_log() {
    let mut out = Vec::new();
    render_timeline(&recording(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let expected = [
        "  +0.000s  alice  connect  demo (postgres) at 2026-05-01T09:00:00Z as human, groups readers, oncall, from 10.0.0.7",
        "  +0.012s  alice  sql:select  allow  SELECT * FROM t  → 3 rows, 400 µs, masked email 3",
        "  +0.020s  alice  sql:delete  deny  DELETE FROM t  by policy default-deny",
        "  +0.030s  alice  sql:select  allow  SELECT email FROM users",
        "  +0.030s  alice      a***@x.io",
        "  +0.030s  alice      NULL",
        "  +0.030s  alice      \\u{1b}[2J",
        "  +0.031s  alice    result #2  → 3 rows, 1.0 ms",
        "  +0.040s  alice  sql:update  hold  UPDATE t SET x = 1  awaiting approval",
        "  +1.540s  alice  approval  request #3  ap-7  approved by bob",
        "  +1.550s  alice    result #3  → UPDATE 1, 2.50 s",
        "  +1.560s  alice    result #4  → error 42P01: relation \"u\" does not exist, 80 µs",
        "  +2.000s  alice  disconnect  client closed the connection",
    ];
    assert_eq!(lines, expected, "\n{text}");
}

#[test]
fn json_is_one_event_per_line() {
    let recording = recording();
    let mut out = Vec::new();
    render_json(&recording, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let parsed: Vec<RecordingEvent> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        parsed,
        recording.events().collect::<Result<Vec<_>, _>>().unwrap()
    );
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "session_start");
    assert_eq!(first["at_us"], 0);
    assert_eq!(first["started_at"], "2026-05-01T09:00:00Z");
    let deny: serde_json::Value = serde_json::from_str(text.lines().nth(3).unwrap()).unwrap();
    assert_eq!(deny["decision"], "deny");
    assert_eq!(deny["policies"][0], "default-deny");
}

#[test]
fn paced_replay_waits_between_lines() {
    let recording = recording();
    let paced: Vec<(Duration, TimelineLine)> = Paced::new(timeline(&recording), 2.0)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(paced[0].0, Duration::ZERO);
    assert_eq!(paced[1].0, Duration::from_millis(6));
    let approval = paced
        .iter()
        .find(|(_, line)| line.text.contains("approved by"))
        .unwrap();
    assert_eq!(approval.0, Duration::from_millis(750));

    let events: Vec<_> = Paced::new(recording.events(), 1.0)
        .unwrap()
        .max_delay(Duration::from_millis(100))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), 12);
    assert!(
        events
            .iter()
            .all(|(delay, _)| *delay <= Duration::from_millis(100))
    );
}
