//! Property: any sequence of events, written with any chunking, reads back identical, and
//! seeking lands on the right event.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use gatehouse_recording::*;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use time::OffsetDateTime;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z_:]{0,12}", "SELECT [a-z, *\n]{0,40}"]
}

fn decision() -> impl Strategy<Value = DecisionKind> {
    prop_oneof![
        Just(DecisionKind::Allow),
        Just(DecisionKind::Deny),
        Just(DecisionKind::Hold)
    ]
}

fn started_at() -> impl Strategy<Value = OffsetDateTime> {
    (0i64..4_000_000_000, 0u32..1_000_000_000).prop_map(|(seconds, nanos)| {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
            + time::Duration::nanoseconds(nanos.into())
    })
}

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        (
            text(),
            text(),
            text(),
            vec(text(), 0..3),
            vec(text(), 0..2),
            text(),
            text(),
            option::of(text()),
            started_at(),
            text()
        )
            .prop_map(
                |(
                    session,
                    subject,
                    identity_kind,
                    groups,
                    acting_for,
                    connection,
                    connection_kind,
                    source_address,
                    started_at,
                    gatehouse_version,
                )| {
                    EventKind::SessionStart(SessionStart {
                        session,
                        subject,
                        identity_kind,
                        groups,
                        acting_for,
                        connection,
                        connection_kind,
                        source_address,
                        started_at,
                        gatehouse_version,
                    })
                }
            ),
        (
            any::<u64>(),
            text(),
            decision(),
            vec(text(), 0..3),
            option::of(text()),
            option::of(text()),
            option::of(any::<i64>())
        )
            .prop_map(
                |(request, action, decision, policies, statement, fingerprint, audit_seq)| {
                    EventKind::Request(Request {
                        request,
                        action,
                        decision,
                        policies,
                        text: statement,
                        fingerprint,
                        audit_seq,
                    })
                }
            ),
        (any::<u64>(), text(), text(), option::of(text())).prop_map(
            |(request, approval_id, state, by)| {
                EventKind::Approval(Approval {
                    request,
                    approval_id,
                    state,
                    by,
                })
            }
        ),
        (
            any::<u64>(),
            vec((text(), option::of(text())), 0..4),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            option::of(text()),
            option::of((text(), text())),
            btree_map(text(), any::<u64>(), 0..3),
        )
            .prop_map(
                |(request, columns, rows, bytes, duration_us, status, error, masked)| {
                    EventKind::Result(ResultSummary {
                        request,
                        columns: columns
                            .into_iter()
                            .map(|(name, type_name)| Column { name, type_name })
                            .collect(),
                        rows,
                        bytes,
                        duration_us,
                        status,
                        error: error.map(|(code, message)| ResultError { code, message }),
                        masked,
                    })
                }
            ),
        (any::<u64>(), vec(vec(option::of(text()), 0..4), 0..6))
            .prop_map(|(request, rows)| EventKind::Rows(ResultRows { request, rows })),
        (
            any::<u64>(),
            prop_oneof![
                Just(TerminalStream::Input),
                Just(TerminalStream::Output),
                Just(TerminalStream::Error)
            ],
            prop_oneof![vec(any::<u8>(), 0..40), text().prop_map(String::into_bytes)],
        )
            .prop_map(|(request, stream, bytes)| {
                EventKind::Terminal(TerminalData::new(request, stream, &bytes))
            }),
        (any::<u64>(), any::<u16>(), any::<u16>()).prop_map(|(request, columns, rows)| {
            EventKind::TerminalResize(TerminalResize {
                request,
                columns,
                rows,
            })
        }),
        (
            (any::<u64>(), text(), text(), any::<u16>()),
            (any::<u64>(), any::<u64>(), any::<u64>()),
            option::of(text()),
            btree_map(text(), any::<u64>(), 0..3),
        )
            .prop_map(
                |(
                    (request, method, target, status),
                    (request_bytes, response_bytes, duration_us),
                    content_type,
                    masked,
                )| {
                    EventKind::HttpExchange(HttpExchange {
                        request,
                        method,
                        target,
                        status,
                        request_bytes,
                        response_bytes,
                        duration_us,
                        content_type,
                        masked,
                    })
                }
            ),
        (
            option::of(any::<u64>()),
            text(),
            text(),
            option::of((text(), any::<u64>()))
        )
            .prop_map(|(request, protocol, name, data)| {
                EventKind::Protocol(ProtocolEvent {
                    request,
                    protocol,
                    name,
                    data: data.map_or(
                        serde_json::Value::Null,
                        |(key, n)| serde_json::json!({ "key": key, "n": n }),
                    ),
                })
            }),
        text().prop_map(|reason| EventKind::SessionEnd(SessionEnd { reason })),
    ]
}

fn header() -> RecordingHeader {
    RecordingHeader {
        session: "s-prop".into(),
        subject: "prop".into(),
        connection: "db".into(),
        started_at: OffsetDateTime::UNIX_EPOCH,
        gatehouse_version: "0.1.0".into(),
    }
}

/// Events with non-decreasing times (repeats included).
fn events() -> impl Strategy<Value = Vec<RecordingEvent>> {
    vec((prop_oneof![Just(0u64), 0u64..5_000_000], kind()), 0..60).prop_map(|items| {
        let mut at_us = 0u64;
        items
            .into_iter()
            .map(|(gap, kind)| {
                at_us += gap;
                RecordingEvent { at_us, kind }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn events_round_trip(
        events in events(),
        max_events in 1u32..12,
        max_bytes in 1usize..4096,
        level in 1i32..4,
    ) {
        let header = header();
        let config = WriterConfig { max_events, max_bytes, level };
        let mut writer = RecordingWriter::with_config(header, config).unwrap();
        let mut bytes = Vec::new();
        for event in &events {
            if let Some(chunk) = writer.push(event).unwrap() {
                bytes.extend(chunk.bytes);
            }
        }
        let finished = writer.finish().unwrap();
        bytes.extend(finished.chunk.map(|chunk| chunk.bytes).unwrap_or_default());
        prop_assert_eq!(finished.summary.bytes, bytes.len() as u64);

        let recording = Recording::parse(bytes).unwrap();
        prop_assert!(recording.damage().is_none());
        let read: Vec<RecordingEvent> = recording.events().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(&read, &events);

        for k in [0, events.len() / 2, events.len().saturating_sub(1)] {
            let sought: Vec<RecordingEvent> =
                recording.seek_event(k as u64).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(&sought[..], events.get(k..).unwrap_or_default());
        }
        if let Some(middle) = events.get(events.len() / 2) {
            let sought: Vec<RecordingEvent> =
                recording.seek_time(middle.at_us).collect::<Result<_, _>>().unwrap();
            let expected: Vec<RecordingEvent> =
                events.iter().filter(|e| e.at_us >= middle.at_us).cloned().collect();
            prop_assert_eq!(sought, expected);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// A request pushed borrowed (`push_request`, the data path) is the same recording, byte
    /// for byte and in its summary, as the owned event pushed with `push`.
    #[test]
    fn a_request_pushed_borrowed_writes_what_the_owned_event_writes(
        events in events(),
        max_events in 1u32..12,
    ) {
        let header = header();
        let config = WriterConfig { max_events, ..WriterConfig::default() };
        let mut owned = RecordingWriter::with_config(header.clone(), config).unwrap();
        let mut borrowed = RecordingWriter::with_config(header, config).unwrap();
        let (mut owned_bytes, mut borrowed_bytes) = (Vec::new(), Vec::new());
        for event in &events {
            owned_bytes.extend(owned.push(event).unwrap().map(|c| c.bytes).unwrap_or_default());
            let chunk = match &event.kind {
                EventKind::Request(request) => {
                    borrowed.push_request(event.at_us, &request.borrowed()).unwrap()
                }
                _ => borrowed.push(event).unwrap(),
            };
            borrowed_bytes.extend(chunk.map(|c| c.bytes).unwrap_or_default());
        }
        let (owned, borrowed) = (owned.finish().unwrap(), borrowed.finish().unwrap());
        owned_bytes.extend(owned.chunk.map(|c| c.bytes).unwrap_or_default());
        borrowed_bytes.extend(borrowed.chunk.map(|c| c.bytes).unwrap_or_default());
        prop_assert_eq!(owned_bytes, borrowed_bytes);
        prop_assert_eq!(owned.summary, borrowed.summary);
    }
}
