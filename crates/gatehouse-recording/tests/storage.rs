//! `LocalDirStorage` end to end in a temporary directory: append, finish, read, list, delete,
//! and listing recordings that were never finished.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use gatehouse_recording::*;
use time::OffsetDateTime;
use time::macros::datetime;

fn header(session: &str, started_at: OffsetDateTime) -> RecordingHeader {
    RecordingHeader {
        session: session.into(),
        subject: "ci-deploy".into(),
        connection: "orders".into(),
        started_at,
        gatehouse_version: "0.1.0".into(),
    }
}

fn request(at_us: u64, request: u64) -> RecordingEvent {
    RecordingEvent {
        at_us,
        kind: EventKind::Request(Request {
            request,
            action: "sql:update".into(),
            decision: DecisionKind::Allow,
            policies: vec![],
            text: Some("UPDATE orders SET state = 'shipped' WHERE id = $1".into()),
            fingerprint: None,
            audit_seq: None,
        }),
    }
}

/// Records `requests` requests through `storage`; finishes the recording if `finish`.
fn record(storage: &dyn RecordingStorage, header: RecordingHeader, requests: u64, finish: bool) {
    let id = header.session.clone();
    let config = WriterConfig {
        max_events: 3,
        ..WriterConfig::default()
    };
    let mut writer = RecordingWriter::with_config(header, config).unwrap();
    for n in 0..requests {
        if let Some(chunk) = writer.push(&request(n * 1_000, n)).unwrap() {
            storage
                .append_chunk(&id, chunk.info.index, &chunk.bytes)
                .unwrap();
        }
    }
    if finish {
        writer
            .push(&RecordingEvent {
                at_us: requests * 1_000,
                kind: EventKind::SessionEnd(SessionEnd {
                    reason: "done".into(),
                }),
            })
            .unwrap();
        let finished = writer.finish().unwrap();
        if let Some(chunk) = finished.chunk {
            storage
                .append_chunk(&id, chunk.info.index, &chunk.bytes)
                .unwrap();
        }
        storage.finish(&id, &finished.summary).unwrap();
    } else if let Some(chunk) = writer.flush().unwrap() {
        storage
            .append_chunk(&id, chunk.info.index, &chunk.bytes)
            .unwrap();
    }
}

#[test]
fn stores_lists_reads_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalDirStorage::new(dir.path().join("recordings"), true).unwrap();
    record(
        &storage,
        header("s-b", datetime!(2026-05-02 10:00 UTC)),
        10,
        true,
    );
    record(
        &storage,
        header("s-a", datetime!(2026-05-01 10:00 UTC)),
        4,
        false,
    );

    let list = storage.list().unwrap();
    assert_eq!(
        list.iter().map(|s| s.session.as_str()).collect::<Vec<_>>(),
        ["s-a", "s-b"]
    );
    let (live, done) = (&list[0], &list[1]);
    assert_eq!(done.requests, 10);
    assert_eq!(done.events, 11);
    assert_eq!(done.ended_at, Some(datetime!(2026-05-02 10:00:00.01 UTC)));
    assert_eq!(live.requests, 4);
    assert_eq!(live.ended_at, None, "an unfinished recording has not ended");

    let bytes = storage.read("s-b").unwrap();
    assert_eq!(bytes.len() as u64, done.bytes);
    let recording = Recording::parse(bytes).unwrap();
    assert_eq!(recording.event_count(), 11);
    assert_eq!(&recording.summary().unwrap(), done);

    storage.delete("s-b").unwrap();
    assert!(matches!(
        storage.read("s-b"),
        Err(RecordingError::NotFound(_))
    ));
    assert!(matches!(
        storage.delete("s-b"),
        Err(RecordingError::NotFound(_))
    ));
    assert_eq!(storage.list().unwrap().len(), 1);
    let names: Vec<_> = std::fs::read_dir(storage.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["s-a.ghrec"]);
}

#[test]
fn refuses_unsafe_ids_duplicates_and_chunks_without_a_start() {
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalDirStorage::new(dir.path(), false).unwrap();
    for id in [
        "",
        "../etc/passwd",
        ".hidden",
        "a/b",
        "a b",
        &"x".repeat(129),
    ] {
        assert!(
            matches!(
                storage.append_chunk(id, 0, b""),
                Err(RecordingError::InvalidId(_))
            ),
            "{id:?}"
        );
    }
    assert!(matches!(
        storage.append_chunk("s-1", 1, b"x"),
        Err(RecordingError::NotFound(_))
    ));
    storage.append_chunk("s-1", 0, b"GHR").unwrap();
    assert!(matches!(
        storage.append_chunk("s-1", 0, b"GHR"),
        Err(RecordingError::File { .. })
    ));
    assert!(
        storage.list().unwrap().is_empty(),
        "a recording cut off in its header is left out"
    );
    std::fs::write(dir.path().join("s-2.ghrec"), b"not a recording").unwrap();
    assert!(
        storage.list().is_err(),
        "a foreign file is reported, not skipped"
    );
}

#[test]
fn retention_picks_old_recordings_from_a_listing() {
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalDirStorage::new(dir.path(), false).unwrap();
    record(
        &storage,
        header("s-old", datetime!(2026-01-01 00:00 UTC)),
        1,
        true,
    );
    record(
        &storage,
        header("s-new", datetime!(2026-05-30 00:00 UTC)),
        1,
        true,
    );
    let doomed = expired(
        &storage.list().unwrap(),
        datetime!(2026-06-01 00:00 UTC),
        30,
    );
    assert_eq!(doomed, ["s-old"]);
    for id in &doomed {
        storage.delete(id).unwrap();
    }
    assert_eq!(storage.list().unwrap().len(), 1);
}
