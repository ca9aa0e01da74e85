//! `gatehouse sessions replay --asciicast`: an exec's terminal streams as asciicast v2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use gatehouse_recording::*;
use time::macros::datetime;

fn recording(events: &[RecordingEvent]) -> Recording {
    let header = RecordingHeader {
        session: "s-9".into(),
        subject: "ana".into(),
        connection: "cluster".into(),
        started_at: datetime!(2026-12-06 04:00 UTC),
        gatehouse_version: "0.1.0".into(),
    };
    let mut writer = RecordingWriter::new(header).unwrap();
    let mut bytes = Vec::new();
    for event in events {
        if let Some(chunk) = writer.push(event).unwrap() {
            bytes.extend(chunk.bytes);
        }
    }
    bytes.extend(writer.finish().unwrap().chunk.unwrap().bytes);
    Recording::parse(bytes).unwrap()
}

fn terminal(at_us: u64, request: u64, stream: TerminalStream, bytes: &[u8]) -> RecordingEvent {
    RecordingEvent {
        at_us,
        kind: EventKind::Terminal(TerminalData::new(request, stream, bytes)),
    }
}

#[test]
fn an_execs_streams_become_asciicast_lines_in_time_order() {
    let events = [
        RecordingEvent {
            at_us: 1_000,
            kind: EventKind::TerminalResize(TerminalResize {
                request: 2,
                columns: 120,
                rows: 40,
            }),
        },
        terminal(500_000, 2, TerminalStream::Input, b"ls\r"),
        terminal(600_000, 2, TerminalStream::Output, b"file\r\n"),
        terminal(650_000, 3, TerminalStream::Output, b"another exec\r\n"),
        terminal(700_000, 2, TerminalStream::Error, &[0xff, b'!']),
    ];
    let mut out = Vec::new();
    let written = render_asciicast(&recording(&events), Some(2), &mut out).unwrap();
    assert_eq!(written, 4);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["version"], 2);
    assert_eq!(
        (lines[0]["width"].clone(), lines[0]["height"].clone()),
        (120.into(), 40.into())
    );
    assert_eq!(lines[0]["timestamp"], 1_796_529_600_i64);
    assert_eq!(lines[1], serde_json::json!([0.001, "r", "120x40"]));
    assert_eq!(lines[2], serde_json::json!([0.5, "i", "ls\r"]));
    assert_eq!(lines[3], serde_json::json!([0.6, "o", "file\r\n"]));
    assert_eq!(lines[4], serde_json::json!([0.7, "o", "\u{fffd}!"]));
    assert_eq!(
        lines.len(),
        5,
        "the other exec's output is not in this one's cast"
    );

    let mut all = Vec::new();
    assert_eq!(
        render_asciicast(&recording(&events), None, &mut all).unwrap(),
        5
    );
}
