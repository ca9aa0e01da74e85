//! Session recordings kept as blobs in a real store file: chunks written by the recording
//! writer read back as the same events, finished and unfinished recordings are listed oldest
//! first, chunks that would leave a gap are refused, and deletion removes everything.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_recording::{
    DecisionKind, EventKind, Recording, RecordingError, RecordingEvent, RecordingHeader,
    RecordingStorage, RecordingSummary, RecordingWriter, Request, ResultSummary, SessionEnd,
    WriterConfig,
};
use gatehouse_store::{Store, StoreError, StoreRecordings};
use time::OffsetDateTime;
use time::macros::datetime;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("g.db")).await.unwrap();
    (dir, store)
}

fn header(session: &str, started_at: OffsetDateTime) -> RecordingHeader {
    RecordingHeader {
        session: session.into(),
        subject: "ana".into(),
        connection: "orders".into(),
        started_at,
        gatehouse_version: "0.1.0".into(),
    }
}

/// `requests` statements with their results, two events each, then `session_end` if `ended`.
fn events(requests: u64, ended: bool) -> Vec<RecordingEvent> {
    let mut events = Vec::new();
    for n in 0..requests {
        events.push(RecordingEvent {
            at_us: n * 10_000,
            kind: EventKind::Request(Request {
                request: n,
                action: "sql:select".into(),
                decision: DecisionKind::Allow,
                policies: vec!["readers-read".into()],
                text: Some(format!("SELECT * FROM orders WHERE id = {n}")),
                fingerprint: None,
                audit_seq: Some(i64::try_from(n).unwrap() + 1),
            }),
        });
        events.push(RecordingEvent {
            at_us: n * 10_000 + 400,
            kind: EventKind::Result(ResultSummary {
                request: n,
                columns: vec![],
                rows: 1,
                bytes: 20,
                duration_us: 400,
                status: Some("SELECT 1".into()),
                error: None,
                masked: Default::default(),
            }),
        });
    }
    if ended {
        events.push(RecordingEvent {
            at_us: requests * 10_000,
            kind: EventKind::SessionEnd(SessionEnd {
                reason: "client closed the connection".into(),
            }),
        });
    }
    events
}

/// Writes `events` through a writer closing a chunk every two events, appending each chunk as
/// it closes; finishes the recording if `finish` (returning its summary), else flushes.
fn record(
    storage: &dyn RecordingStorage,
    header: RecordingHeader,
    events: &[RecordingEvent],
    finish: bool,
) -> Option<RecordingSummary> {
    let id = header.session.clone();
    let config = WriterConfig {
        max_events: 2,
        ..WriterConfig::default()
    };
    let mut writer = RecordingWriter::with_config(header, config).unwrap();
    for event in events {
        if let Some(chunk) = writer.push(event).unwrap() {
            storage
                .append_chunk(&id, chunk.info.index, &chunk.bytes)
                .unwrap();
        }
    }
    if finish {
        let finished = writer.finish().unwrap();
        if let Some(chunk) = finished.chunk {
            storage
                .append_chunk(&id, chunk.info.index, &chunk.bytes)
                .unwrap();
        }
        storage.finish(&id, &finished.summary).unwrap();
        Some(finished.summary)
    } else {
        if let Some(chunk) = writer.flush().unwrap() {
            storage
                .append_chunk(&id, chunk.info.index, &chunk.bytes)
                .unwrap();
        }
        None
    }
}

fn store_error(error: RecordingError) -> StoreError {
    match error {
        RecordingError::Storage(inner) => *inner.downcast::<StoreError>().unwrap(),
        other => panic!("expected a store error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_multi_chunk_recording_reads_back_as_the_same_events() {
    let (dir, store) = store().await;
    let recordings = store.recordings().unwrap();
    let written = events(5, true);
    let summary = record(
        &recordings,
        header("s-1", datetime!(2026-05-01 09:00:00.25 UTC)),
        &written,
        true,
    )
    .unwrap();

    let recording = Recording::parse(recordings.read("s-1").unwrap()).unwrap();
    assert!(recording.damage().is_none());
    assert!(recording.chunks().len() >= 5, "{:?}", recording.chunks());
    let read: Vec<RecordingEvent> = recording.events().collect::<Result<_, _>>().unwrap();
    assert_eq!(read, written);

    let listed = recordings.list().unwrap();
    assert_eq!(listed, std::slice::from_ref(&summary));
    assert_eq!(listed[0].session, "s-1");
    assert_eq!(
        listed[0].ended_at,
        Some(datetime!(2026-05-01 09:00:00.30 UTC))
    );
    assert_eq!(listed[0].requests, 5);
    assert_eq!(listed[0].events, 11);
    assert_eq!(
        listed[0].bytes,
        recordings.read("s-1").unwrap().len() as u64
    );

    // Another connection (another process, e.g. `gatehouse sessions list`) sees the same.
    store.close().await;
    let reopened = Store::open(&dir.path().join("g.db")).await.unwrap();
    assert_eq!(reopened.recordings().unwrap().list().unwrap(), [summary]);
}

#[tokio::test]
async fn unfinished_recordings_are_listed_from_their_chunks_oldest_first() {
    let (_dir, store) = store().await;
    let recordings = store.recordings().unwrap();
    // Written newest first; the fraction makes a text-ordered listing of plain RFC 3339 wrong.
    record(
        &recordings,
        header("s-late", datetime!(2026-05-01 09:00:01 UTC)),
        &events(1, true),
        true,
    );
    record(
        &recordings,
        header("s-live", datetime!(2026-05-01 09:00:00.5 UTC)),
        &events(3, false),
        false,
    );
    record(
        &recordings,
        header("s-early", datetime!(2026-05-01 09:00:00 UTC)),
        &events(1, true),
        true,
    );

    let listed = recordings.list().unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.session.as_str()).collect();
    assert_eq!(ids, ["s-early", "s-live", "s-late"]);
    let live = &listed[1];
    assert_eq!(live.ended_at, None, "never finished, no session_end");
    assert_eq!(live.started_at, datetime!(2026-05-01 09:00:00.5 UTC));
    assert_eq!((live.events, live.requests), (6, 3));
    assert_eq!(live.bytes, recordings.read("s-live").unwrap().len() as u64);
    assert!(listed[0].ended_at.is_some() && listed[2].ended_at.is_some());
}

#[tokio::test]
async fn chunks_that_would_leave_a_gap_or_follow_the_end_are_refused() {
    let (_dir, store) = store().await;
    let recordings = store.recordings().unwrap();
    let mut writer = RecordingWriter::with_config(
        header("s-1", datetime!(2026-05-01 09:00 UTC)),
        WriterConfig {
            max_events: 1,
            ..WriterConfig::default()
        },
    )
    .unwrap();
    let mut chunks = Vec::new();
    for event in events(2, true) {
        chunks.extend(writer.push(&event).unwrap());
    }
    assert_eq!(chunks.len(), 5);

    assert!(matches!(
        recordings.append_chunk("s-1", 1, &chunks[1].bytes),
        Err(RecordingError::NotFound(id)) if id == "s-1"
    ));
    recordings.append_chunk("s-1", 0, &chunks[0].bytes).unwrap();
    let error = recordings
        .append_chunk("s-1", 2, &chunks[2].bytes)
        .unwrap_err();
    assert!(
        error.to_string().contains("next chunk must be 1"),
        "{error}"
    );
    assert!(matches!(
        store_error(error),
        StoreError::ChunkOutOfOrder {
            chunk: 2,
            expected: 1,
            ..
        }
    ));
    assert!(matches!(
        store_error(
            recordings
                .append_chunk("s-1", 0, &chunks[0].bytes)
                .unwrap_err()
        ),
        StoreError::RecordingExists(_)
    ));
    assert!(matches!(
        store_error(
            recordings
                .append_chunk("s-other", 0, &chunks[0].bytes)
                .unwrap_err()
        ),
        StoreError::RecordingIdMismatch { .. }
    ));
    assert!(matches!(
        recordings.append_chunk("s-2", 0, b"not a recording"),
        Err(RecordingError::NotARecording)
    ));

    // The refusals stored nothing: the rest still fits, in order.
    for chunk in &chunks[1..] {
        recordings
            .append_chunk("s-1", chunk.info.index, &chunk.bytes)
            .unwrap();
    }
    let finished = writer.finish().unwrap();
    assert!(finished.chunk.is_none());
    recordings.finish("s-1", &finished.summary).unwrap();
    assert!(matches!(
        store_error(recordings.append_chunk("s-1", 5, b"late").unwrap_err()),
        StoreError::RecordingFinished(_)
    ));
    let recording = Recording::parse(recordings.read("s-1").unwrap()).unwrap();
    assert!(recording.damage().is_none());
    assert_eq!(recording.event_count(), 5);
    assert_eq!(recordings.list().unwrap().len(), 1);
}

#[tokio::test]
async fn delete_removes_the_recording_and_missing_ids_are_not_found() {
    let (dir, store) = store().await;
    let recordings: StoreRecordings = store.recordings().unwrap();
    let shared = recordings.clone();
    record(
        &recordings,
        header("s-1", datetime!(2026-05-01 09:00 UTC)),
        &events(3, true),
        true,
    );
    record(
        &recordings,
        header("s-2", datetime!(2026-05-01 10:00 UTC)),
        &events(1, false),
        false,
    );

    shared.delete("s-1").unwrap();
    shared.delete("s-2").unwrap();
    assert!(recordings.list().unwrap().is_empty());
    for id in ["s-1", "s-2", "never"] {
        assert!(matches!(
            recordings.read(id),
            Err(RecordingError::NotFound(_))
        ));
        assert!(matches!(
            recordings.delete(id),
            Err(RecordingError::NotFound(_))
        ));
    }
    let summary = RecordingSummary {
        session: "never".into(),
        subject: "ana".into(),
        connection: "orders".into(),
        started_at: datetime!(2026-05-01 09:00 UTC),
        ended_at: None,
        events: 0,
        requests: 0,
        bytes: 0,
    };
    assert!(matches!(
        recordings.finish("never", &summary),
        Err(RecordingError::NotFound(_))
    ));
    assert!(matches!(
        recordings.append_chunk("s-1", 1, b"x"),
        Err(RecordingError::NotFound(_))
    ));

    let leftover: i64 = rusqlite::Connection::open(dir.path().join("g.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM recording_chunks", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(leftover, 0, "no chunk outlives its recording");
}
