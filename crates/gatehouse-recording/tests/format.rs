//! Writing and reading recordings: round trips across chunks, seeking, and what a reader does
//! with truncated, corrupted and future-version files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_recording::*;
use std::collections::BTreeMap;
use time::macros::datetime;

fn header() -> RecordingHeader {
    RecordingHeader {
        session: "s-00112233aabbccdd".into(),
        subject: "ana".into(),
        connection: "demo".into(),
        started_at: datetime!(2026-05-01 09:00:00.25 UTC),
        gatehouse_version: "0.1.0".into(),
    }
}

/// A session of `requests` selects, each with rows and a result, 10 ms apart.
fn session(requests: u64) -> Vec<RecordingEvent> {
    let mut events = vec![RecordingEvent {
        at_us: 0,
        kind: EventKind::SessionStart(SessionStart {
            session: "s-00112233aabbccdd".into(),
            subject: "ana".into(),
            identity_kind: "human".into(),
            groups: vec!["readers".into()],
            acting_for: vec![],
            connection: "demo".into(),
            connection_kind: "postgres".into(),
            source_address: Some("10.0.0.7:51234".into()),
            started_at: datetime!(2026-05-01 09:00:00.25 UTC),
            gatehouse_version: "0.1.0".into(),
        }),
    }];
    for request in 0..requests {
        let at_us = 10_000 * (request + 1);
        events.push(RecordingEvent {
            at_us,
            kind: EventKind::Request(Request {
                request,
                action: "sql:select".into(),
                decision: DecisionKind::Allow,
                policies: vec!["readers-read".into()],
                text: Some(format!(
                    "SELECT id, email FROM customers WHERE id = {request}"
                )),
                fingerprint: Some("a1b2c3d4e5f60718".into()),
                audit_seq: Some(1_000 + request as i64),
            }),
        });
        events.push(RecordingEvent {
            at_us: at_us + 300,
            kind: EventKind::Rows(ResultRows {
                request,
                rows: vec![vec![
                    Some(request.to_string()),
                    Some("***@example.com".into()),
                ]],
            }),
        });
        events.push(RecordingEvent {
            at_us: at_us + 400,
            kind: EventKind::Result(ResultSummary {
                request,
                columns: vec![
                    Column {
                        name: "id".into(),
                        type_name: Some("int8".into()),
                    },
                    Column {
                        name: "email".into(),
                        type_name: Some("text".into()),
                    },
                ],
                rows: 1,
                bytes: 42,
                duration_us: 400,
                status: Some("SELECT 1".into()),
                error: None,
                masked: BTreeMap::from([("email".into(), 1)]),
            }),
        });
    }
    events.push(RecordingEvent {
        at_us: 10_000 * (requests + 1),
        kind: EventKind::SessionEnd(SessionEnd {
            reason: "client closed the connection".into(),
        }),
    });
    events
}

fn small_chunks() -> WriterConfig {
    WriterConfig {
        max_events: 7,
        ..WriterConfig::default()
    }
}

/// Writes `events` and returns the recording bytes and the chunks' byte lengths.
fn write(events: &[RecordingEvent], config: WriterConfig) -> (Vec<u8>, Vec<usize>, Finished) {
    let mut writer = RecordingWriter::with_config(header(), config).unwrap();
    let mut chunks = Vec::new();
    for event in events {
        chunks.extend(writer.push(event).unwrap());
    }
    let finished = writer.finish().unwrap();
    chunks.extend(finished.chunk.clone());
    for (index, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.info.index as usize, index);
    }
    let lengths = chunks.iter().map(|chunk| chunk.bytes.len()).collect();
    (
        chunks.into_iter().flat_map(|chunk| chunk.bytes).collect(),
        lengths,
        finished,
    )
}

fn all(events: Events<'_>) -> Vec<RecordingEvent> {
    events.collect::<Result<_, _>>().unwrap()
}

#[test]
fn round_trips_across_chunks() {
    let events = session(20);
    let (bytes, lengths, finished) = write(&events, small_chunks());
    assert_eq!(lengths.len(), events.len().div_ceil(7));

    let recording = Recording::parse(bytes.clone()).unwrap();
    assert!(recording.damage().is_none());
    assert_eq!(recording.header(), &header());
    assert_eq!(recording.chunks().len(), lengths.len());
    assert_eq!(recording.event_count(), events.len() as u64);
    assert_eq!(all(recording.events()), events);

    let summary = &finished.summary;
    assert_eq!(summary.session, "s-00112233aabbccdd");
    assert_eq!(summary.requests, 20);
    assert_eq!(summary.events, events.len() as u64);
    assert_eq!(summary.bytes, bytes.len() as u64);
    assert_eq!(
        summary.ended_at,
        Some(datetime!(2026-05-01 09:00:00.46 UTC))
    );
    assert_eq!(&recording.summary().unwrap(), summary);
}

#[test]
fn chunks_close_on_size_and_flush() {
    let events = session(50);
    let config = WriterConfig {
        max_bytes: 1024,
        ..WriterConfig::default()
    };
    let mut writer = RecordingWriter::with_config(header(), config).unwrap();
    let mut chunks = Vec::new();
    for event in &events {
        chunks.extend(writer.push(event).unwrap());
    }
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    assert!(
        chunks
            .iter()
            .all(|chunk| (chunk.info.uncompressed_len as usize) < 1024 + 512)
    );
    assert!(writer.flush().unwrap().is_some());
    assert!(writer.flush().unwrap().is_none());
    let finished = writer.finish().unwrap();
    assert!(finished.chunk.is_none(), "nothing left after a flush");
}

#[test]
fn an_empty_recording_still_stores_its_header() {
    let (bytes, lengths, finished) = write(&[], WriterConfig::default());
    assert_eq!(lengths.len(), 1);
    let recording = Recording::parse(bytes).unwrap();
    assert_eq!(recording.event_count(), 0);
    assert!(all(recording.events()).is_empty());
    assert_eq!(finished.summary.ended_at, Some(header().started_at));
}

#[test]
fn seeks_by_event_index_and_time() {
    let events = session(30);
    let (bytes, _, _) = write(&events, small_chunks());
    let recording = Recording::parse(bytes).unwrap();
    for k in [0, 1, 6, 7, 8, 50, events.len() as u64 - 1] {
        assert_eq!(
            all(recording.seek_event(k)),
            events[k as usize..],
            "event {k}"
        );
    }
    assert!(all(recording.seek_event(events.len() as u64)).is_empty());
    assert!(all(recording.seek_event(u64::MAX)).is_empty());

    for at_us in [0, 1, 10_000, 10_001, 150_300, 150_301, 310_000] {
        let expected: Vec<_> = events
            .iter()
            .filter(|event| event.at_us >= at_us)
            .cloned()
            .collect();
        assert_eq!(all(recording.seek_time(at_us)), expected, "time {at_us}");
    }
    assert!(all(recording.seek_time(310_001)).is_empty());
}

#[test]
fn rejects_events_out_of_order_and_oversized_batches() {
    let mut writer = RecordingWriter::new(header()).unwrap();
    let end = |at_us| RecordingEvent {
        at_us,
        kind: EventKind::SessionEnd(SessionEnd { reason: "x".into() }),
    };
    writer.push(&end(10)).unwrap();
    let error = writer.push(&end(9)).unwrap_err();
    assert!(
        matches!(
            error,
            RecordingError::EventOutOfOrder {
                at_us: 9,
                previous_us: 10
            }
        ),
        "{error}"
    );
    let rows = RecordingEvent {
        at_us: 10,
        kind: EventKind::Rows(ResultRows {
            request: 0,
            rows: vec![vec![]; MAX_ROWS_PER_EVENT + 1],
        }),
    };
    assert!(matches!(
        writer.push(&rows),
        Err(RecordingError::TooManyRows { .. })
    ));
    writer.push(&end(10)).unwrap();
    assert_eq!(writer.finish().unwrap().summary.events, 2);

    let bad = WriterConfig {
        max_events: 0,
        ..WriterConfig::default()
    };
    assert!(RecordingWriter::with_config(header(), bad).is_err());
    let bad = WriterConfig {
        level: 100,
        ..WriterConfig::default()
    };
    assert!(RecordingWriter::with_config(header(), bad).is_err());
}

#[test]
fn truncation_anywhere_in_the_last_chunk_keeps_the_complete_prefix() {
    let events = session(10);
    let (bytes, lengths, _) = write(&events, small_chunks());
    let last = *lengths.last().unwrap();
    let complete = bytes.len() - last;
    let prefix_events = recording_events_before(&bytes, lengths.len() - 1);
    for cut in complete..bytes.len() {
        let recording = Recording::parse(bytes[..cut].to_vec()).unwrap();
        assert_eq!(recording.chunks().len(), lengths.len() - 1, "cut at {cut}");
        assert_eq!(
            all(recording.events()),
            events[..prefix_events],
            "cut at {cut}"
        );
        if cut == complete {
            assert!(recording.damage().is_none());
        } else {
            let damage = recording.damage().expect("damage reported");
            assert!(
                matches!(damage, RecordingError::Truncated { offset, .. } if *offset == complete as u64),
                "cut at {cut}: {damage}"
            );
            let text: Vec<String> = timeline(&recording)
                .map(|line| line.unwrap().text)
                .collect();
            assert!(text.last().unwrap().contains("truncated"), "{text:?}");
        }
    }
}

fn recording_events_before(bytes: &[u8], chunk: usize) -> usize {
    let recording = Recording::parse(bytes.to_vec()).unwrap();
    recording.chunks()[chunk].first_event as usize
}

#[test]
fn every_truncation_is_handled_without_panicking() {
    let (bytes, _, _) = write(&session(4), small_chunks());
    for cut in 0..bytes.len() {
        match Recording::parse(bytes[..cut].to_vec()) {
            Ok(recording) => {
                let events: Result<Vec<_>, _> = recording.events().collect();
                assert!(events.is_ok(), "cut at {cut}");
            }
            Err(error) => assert!(
                matches!(error, RecordingError::TruncatedHeader),
                "cut at {cut}: {error}"
            ),
        }
    }
}

#[test]
fn corrupted_bytes_are_detected() {
    let (bytes, lengths, _) = write(&session(10), small_chunks());
    let second = lengths[0];
    let intact = Recording::parse(bytes.clone()).unwrap();
    let body_byte = second + 60;
    let header_byte = second + 10;
    for (at, what) in [(body_byte, "body"), (header_byte, "header")] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        let recording = Recording::parse(damaged).unwrap();
        assert_eq!(recording.chunks(), &intact.chunks()[..1], "{what}");
        let damage = recording.damage().unwrap();
        assert!(
            matches!(damage, RecordingError::Checksum { chunk: 1, offset } if *offset == second as u64),
            "{what}: {damage}"
        );
        assert!(damage.to_string().contains("checksum"));
    }

    let mut damaged = bytes.clone();
    damaged[second] = b'X';
    let damage = Recording::parse(damaged)
        .unwrap()
        .damage()
        .unwrap()
        .to_string();
    assert!(damage.contains("no chunk header"), "{damage}");

    let mut damaged = bytes;
    let json_start = 5 + 2 + 4;
    damaged[json_start + 3] ^= 1;
    let error = Recording::parse(damaged).unwrap_err();
    assert!(
        matches!(error, RecordingError::CorruptHeader { .. }),
        "{error}"
    );
}

#[test]
fn unknown_versions_and_foreign_files_are_refused_clearly() {
    let (mut bytes, _, _) = write(&session(1), WriterConfig::default());
    bytes[5..7].copy_from_slice(&3u16.to_le_bytes());
    let error = Recording::parse(bytes).unwrap_err();
    assert!(matches!(
        error,
        RecordingError::UnsupportedVersion {
            found: 3,
            supported: 2
        }
    ));
    assert_eq!(
        error.to_string(),
        "recording format version 3 is not supported: this gatehouse reads versions 1 to 2; \
         upgrade gatehouse to read this recording"
    );

    let error = Recording::parse(b"PGDMP\x01\x0e\x00 something else".to_vec()).unwrap_err();
    assert!(matches!(error, RecordingError::NotARecording), "{error}");
    assert!(matches!(
        Recording::parse(Vec::new()),
        Err(RecordingError::TruncatedHeader)
    ));
}

#[test]
fn compresses_realistic_sessions() {
    let events = session(500);
    let json: usize = events
        .iter()
        .map(|event| serde_json::to_vec(event).unwrap().len() + 1)
        .sum();
    let (bytes, _, _) = write(&events, WriterConfig::default());
    let ratio = json as f64 / bytes.len() as f64;
    assert!(ratio > 4.0, "compression ratio {ratio:.1}");
}

#[test]
fn the_examples_in_format_md_parse() {
    let doc = include_str!("../FORMAT.md");
    let events: Vec<RecordingEvent> = doc
        .lines()
        .filter(|line| line.starts_with("{\"at_us\""))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 5);
    for event in &events {
        let again = serde_json::to_string(event).unwrap();
        assert!(
            doc.contains(&again),
            "FORMAT.md shows a different encoding of {again}"
        );
    }
    let header_json = doc
        .split("```json\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let header: RecordingHeader = serde_json::from_str(header_json).unwrap();
    assert_eq!(header.session, "s-0123456789abcdef");
}

/// A recording written by the version 1 writer (commit 3909942; two selects and an approval)
/// reads with this version's names: `statement` as `text`, `command_tag` as `status`, and a
/// column's `type_name`/`type_oid` as `type`.
#[test]
fn a_version_1_recording_reads_in_version_2_names() {
    let bytes = include_bytes!("fixtures/v1.ghrec").to_vec();
    assert_eq!(bytes[5..7], 1u16.to_le_bytes());
    let recording = Recording::parse(bytes).unwrap();
    assert!(recording.damage().is_none());
    let events: Vec<RecordingEvent> = recording.events().collect::<Result<_, _>>().unwrap();
    let EventKind::Request(request) = &events[1].kind else {
        panic!("{events:?}");
    };
    assert_eq!(
        request.text.as_deref(),
        Some("SELECT id, email FROM customers WHERE id = 0")
    );
    assert!(matches!(&events[2].kind, EventKind::Approval(a) if a.by.as_deref() == Some("bo")));
    let EventKind::Result(result) = &events[4].kind else {
        panic!("{events:?}");
    };
    assert_eq!(result.status.as_deref(), Some("SELECT 1"));
    assert_eq!(
        result.columns,
        [
            Column {
                name: "id".into(),
                type_name: Some("int8".into())
            },
            Column {
                name: "email".into(),
                type_name: Some("text".into())
            }
        ]
    );
    let mut out = Vec::new();
    render_json(&recording, &mut out).unwrap();
    let json = String::from_utf8(out).unwrap();
    assert!(json.contains(r#""text":"SELECT id, email FROM customers WHERE id = 1""#));
    assert!(
        !json.contains("statement") && !json.contains("command_tag"),
        "{json}"
    );
}

/// A column known only by a PostgreSQL OID (version 1 wrote no name for it) reads as `oid N`.
#[test]
fn a_version_1_column_with_only_an_oid_gets_a_type_named_by_it() {
    let column: Column = serde_json::from_str(r#"{"name":"c","type_oid":16384}"#).unwrap();
    assert_eq!(column.type_name.as_deref(), Some("oid 16384"));
    assert_eq!(
        serde_json::to_string(&column).unwrap(),
        r#"{"name":"c","type":"oid 16384"}"#
    );
}

/// Kinds a newer gatehouse adds read as `Unrecognised` instead of failing the chunk, and are
/// never written back.
#[test]
fn an_event_of_an_unknown_kind_is_skipped_and_the_rest_reads() {
    let event: RecordingEvent =
        serde_json::from_str(r#"{"at_us":5,"type":"hologram","frames":3}"#).unwrap();
    assert_eq!(event.kind, EventKind::Unrecognised);
    let mut writer = RecordingWriter::new(header()).unwrap();
    assert!(matches!(
        writer.push(&event),
        Err(RecordingError::UnrecognisedEvent)
    ));
}

/// Terminal bytes keep their exact value: UTF-8 as text, anything else as base64.
#[test]
fn terminal_bytes_survive_as_text_or_base64() {
    let utf8 = TerminalData::new(0, TerminalStream::Output, "héllo\r\n".as_bytes());
    assert_eq!(utf8.text.as_deref(), Some("héllo\r\n"));
    let raw = TerminalData::new(0, TerminalStream::Output, &[0xff, 0x1b, b'[']);
    assert_eq!(raw.text, None);
    assert_eq!(raw.base64.as_deref(), Some("/xtb"));
    assert_eq!(raw.bytes().unwrap(), [0xff, 0x1b, b'[']);
    assert_eq!(
        serde_json::to_string(&EventKind::Terminal(raw)).unwrap(),
        r#"{"type":"terminal","request":0,"stream":"output","base64":"/xtb"}"#
    );
}
