//! Step 5's record half: each session's recording (requests, decisions, result metadata and,
//! where the connection asks for it, result rows), written through a
//! [`RecordingStorage`] chunk by chunk as the session runs.
//!
//! Chunks close when they fill, and also at most [`LIVE_FLUSH_INTERVAL`] after their first
//! event (see [`SessionRecorder::flush_pending`]), so that `gatehouse sessions watch` sees a
//! live session at most about a second behind. The trade-off: a busy session stores up to one
//! extra, smaller chunk per second (a 20-byte chunk header and a zstd frame each, and less
//! compression across events) and makes one more storage write per second (an fsync with
//! `[recording] sync`); an idle session costs nothing, since a flush with no pending events
//! writes nothing.
//!
//! The audit log is the authority on what was asked and decided; the recording adds what came
//! back and makes a session replayable. A recording that cannot be written is logged and
//! abandoned for that session rather than refusing requests: every request it would have
//! shown is already in the audit log, written before the request was forwarded.

use crate::{AuditOutcome, SessionContext};
use gatehouse_recording::{
    Chunk, Column, DecisionKind, EventKind, MAX_ROWS_PER_EVENT, RecordingError, RecordingEvent,
    RecordingHeader, RecordingStorage, RecordingWriter, RequestRef, ResultError, ResultRows,
    ResultSummary, SessionEnd, SessionStart,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest an event waits in memory before its chunk is stored: how far behind a live
/// viewer of the recording can be.
pub const LIVE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// One column of a result, as the protocol described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumn {
    pub name: String,
    /// The protocol's name for the column's type, e.g. `int8`.
    pub type_name: Option<String>,
}

/// What a forwarded request returned: its outcome plus the metadata a recording keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestResult {
    /// The `seq` of the request's audit event.
    pub seq: i64,
    pub outcome: AuditOutcome,
    pub columns: Vec<ResultColumn>,
    /// Bytes of row data returned.
    pub bytes: u64,
    /// Result rows as text (already masked), when the connection records results.
    pub rows: Vec<Vec<Option<String>>>,
}

/// A decided request, as the recording shows it.
pub(crate) struct DecidedRequest<'a> {
    pub action: &'a str,
    pub allowed: bool,
    pub policies: &'a [String],
    pub text: Option<&'a str>,
    pub fingerprint: Option<&'a str>,
    pub audit_seq: Option<i64>,
}

/// The recording of one session. Shared by the session's tasks; cheap to push to.
pub struct SessionRecorder {
    id: String,
    started: Instant,
    storage: Arc<dyn RecordingStorage>,
    record_results: bool,
    state: Mutex<State>,
}

struct State {
    /// `None` once finished, or abandoned after a write failure.
    writer: Option<RecordingWriter>,
    next_chunk: u32,
    next_request: u64,
    /// Request number of each request still waiting for its result, by audit `seq`.
    request_of_seq: HashMap<i64, u64>,
}

impl std::fmt::Debug for SessionRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecorder")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SessionRecorder {
    /// Start recording `session` (its id is the recording id). The first chunk is written at
    /// once so the recording is listed while the session runs.
    pub fn start(
        storage: Arc<dyn RecordingStorage>,
        session: &SessionContext,
        record_results: bool,
    ) -> Option<SessionRecorder> {
        let start = SessionStart {
            session: session.session_id.clone(),
            subject: session.identity.subject.clone(),
            identity_kind: session.identity.kind.as_str().to_owned(),
            groups: session.identity.groups.clone(),
            acting_for: session.identity.acting_for.clone(),
            connection: session.connection.name.clone(),
            connection_kind: session.connection.kind.as_str().to_owned(),
            source_address: session.source_address.map(|a| a.to_string()),
            started_at: time::OffsetDateTime::now_utc(),
            gatehouse_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let writer = match RecordingWriter::new(RecordingHeader::from_start(&start)) {
            Ok(writer) => writer,
            Err(error) => {
                tracing::error!(session = %session.session_id, %error, "cannot start the session recording");
                return None;
            }
        };
        let recorder = SessionRecorder {
            id: session.session_id.clone(),
            started: Instant::now(),
            storage,
            record_results,
            state: Mutex::new(State {
                writer: Some(writer),
                next_chunk: 0,
                next_request: 0,
                request_of_seq: HashMap::new(),
            }),
        };
        recorder.with_state(|state, at_us| {
            recorder.push(state, at_us, EventKind::SessionStart(start));
            recorder.flush(state);
        });
        Some(recorder)
    }

    /// Whether result rows should be captured for this session.
    pub fn records_results(&self) -> bool {
        self.record_results
    }

    pub(crate) fn requests(&self, requests: &[DecidedRequest<'_>]) {
        self.with_state(|state, at_us| {
            for request in requests {
                let number = state.next_request;
                state.next_request += 1;
                if let (true, Some(seq)) = (request.allowed, request.audit_seq) {
                    state.request_of_seq.insert(seq, number);
                }
                let event = RequestRef {
                    request: number,
                    action: request.action,
                    decision: if request.allowed {
                        DecisionKind::Allow
                    } else {
                        DecisionKind::Deny
                    },
                    policies: request.policies,
                    text: request.text,
                    fingerprint: request.fingerprint,
                    audit_seq: request.audit_seq,
                };
                let pushed = state
                    .writer
                    .as_mut()
                    .map(|writer| writer.push_request(at_us, &event));
                self.pushed(state, pushed);
            }
        });
    }

    /// Results are taken by value: their columns, status and counts move into the recording.
    pub(crate) fn results(&self, results: Vec<RequestResult>) {
        self.with_state(|state, at_us| {
            for mut result in results {
                let Some(request) = state.request_of_seq.remove(&result.seq) else {
                    continue;
                };
                for batch in result.rows.chunks(MAX_ROWS_PER_EVENT) {
                    let rows = EventKind::Rows(ResultRows {
                        request,
                        rows: batch.to_vec(),
                    });
                    self.push(state, at_us, rows);
                }
                result.rows = Vec::new();
                self.push(
                    state,
                    at_us,
                    EventKind::Result(result_summary(request, result)),
                );
            }
        });
    }

    /// The recording's number for the request whose audit event is `audit_seq`, while it
    /// awaits its result: what a protocol's own events ([`EventKind::Terminal`],
    /// [`EventKind::HttpExchange`], [`EventKind::Protocol`]) refer to.
    pub fn request_number(&self, audit_seq: i64) -> Option<u64> {
        let state = self.state.lock().ok()?;
        state.request_of_seq.get(&audit_seq).copied()
    }

    /// Record an event of the protocol's own, stamped now. Kinds the pipeline writes itself
    /// (session start and end, requests, results, rows) are refused here, so the order those
    /// promise cannot be broken from outside.
    pub fn record(&self, kind: EventKind) {
        if matches!(
            kind,
            EventKind::SessionStart(_)
                | EventKind::SessionEnd(_)
                | EventKind::Request(_)
                | EventKind::Result(_)
                | EventKind::Rows(_)
                | EventKind::Unrecognised
        ) {
            tracing::warn!(session = %self.id, "a protocol tried to record an event the pipeline writes itself; left out");
            return;
        }
        self.with_state(|state, at_us| self.push(state, at_us, kind));
    }

    /// Record the end of the session and store the recording's summary.
    pub(crate) fn finish(&self, reason: &str) {
        self.with_state(|state, at_us| {
            let end = EventKind::SessionEnd(SessionEnd {
                reason: reason.to_owned(),
            });
            self.push(state, at_us, end);
            let Some(writer) = state.writer.take() else {
                return;
            };
            let stored = writer
                .finish()
                .map_err(|e| e.to_string())
                .and_then(|finished| {
                    if let Some(chunk) = finished.chunk {
                        self.storage
                            .append_chunk(&self.id, state.next_chunk, &chunk.bytes)
                            .map_err(|e| e.to_string())?;
                    }
                    self.storage
                        .finish(&self.id, &finished.summary)
                        .map_err(|e| e.to_string())
                });
            if let Err(error) = stored {
                tracing::error!(session = %self.id, %error, "the session recording could not be finished");
            }
        });
    }

    /// Store the events pushed since the last chunk, if any, as a chunk of their own; false
    /// once the recording is finished or abandoned (nothing will ever be pending again). The
    /// pipeline calls this every [`LIVE_FLUSH_INTERVAL`] while the session runs.
    pub fn flush_pending(&self) -> bool {
        let mut open = false;
        self.with_state(|state, _| {
            self.flush(state);
            open = state.writer.is_some();
        });
        open
    }

    fn with_state(&self, f: impl FnOnce(&mut State, u64)) {
        if let Ok(mut state) = self.state.lock() {
            // Under the lock, so that times never go backwards between pushes.
            let at_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            f(&mut state, at_us);
        }
    }

    fn push(&self, state: &mut State, at_us: u64, kind: EventKind) {
        let event = RecordingEvent { at_us, kind };
        let pushed = state.writer.as_mut().map(|writer| writer.push(&event));
        self.pushed(state, pushed);
    }

    /// Store the chunk a push filled, if it filled one (`None`: no writer any more).
    fn pushed(&self, state: &mut State, pushed: Option<Result<Option<Chunk>, RecordingError>>) {
        match pushed {
            Some(Ok(Some(chunk))) => self.store_chunk(state, &chunk.bytes),
            Some(Err(error)) => {
                tracing::warn!(session = %self.id, %error, "an event was left out of the session recording");
            }
            Some(Ok(None)) | None => {}
        }
    }

    fn flush(&self, state: &mut State) {
        let flushed = state.writer.as_mut().map(RecordingWriter::flush);
        match flushed {
            Some(Ok(Some(chunk))) => self.store_chunk(state, &chunk.bytes),
            Some(Err(error)) => self.abandon(state, &error.to_string()),
            _ => {}
        }
    }

    fn store_chunk(&self, state: &mut State, bytes: &[u8]) {
        match self.storage.append_chunk(&self.id, state.next_chunk, bytes) {
            Ok(()) => state.next_chunk += 1,
            Err(error) => self.abandon(state, &error.to_string()),
        }
    }

    fn abandon(&self, state: &mut State, reason: &str) {
        tracing::error!(session = %self.id, %reason, "the session recording could not be written; recording stops for this session (the audit log is unaffected)");
        metrics::counter!("gatehouse_recording_failures_total").increment(1);
        state.writer = None;
    }
}

fn result_summary(request: u64, result: RequestResult) -> ResultSummary {
    let outcome = result.outcome;
    let error = outcome.error.map(|text| match text.split_once(": ") {
        Some((code, message)) => ResultError {
            code: code.to_owned(),
            message: message.to_owned(),
        },
        None => ResultError {
            code: String::new(),
            message: text,
        },
    });
    ResultSummary {
        request,
        columns: result
            .columns
            .into_iter()
            .map(|c| Column {
                name: c.name,
                type_name: c.type_name,
            })
            .collect(),
        rows: outcome.rows.unwrap_or(0),
        bytes: result.bytes,
        duration_us: outcome.duration_us,
        status: outcome.status,
        error,
        masked: outcome.masked,
    }
}
