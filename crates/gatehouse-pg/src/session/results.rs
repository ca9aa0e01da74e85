//! Matching the server's responses to the requests that caused them, so that every forwarded
//! statement's outcome (rows, command tag or error, duration) can be recorded against its
//! audit event.
//!
//! `inbound` queues one [`Expected`] entry per request it sends that the server completes
//! (each statement of a Query, each Execute, each FunctionCall, each refusal marker) and a
//! boundary per Sync unit, in the order it sends them; the server answers in that same order.
//! `outbound` pops: a completion message (`CommandComplete`, `EmptyQueryResponse`,
//! `PortalSuspended`, `FunctionCallResponse`) or an error completes the oldest entry, and
//! `ReadyForQuery` ends the unit — entries still queued in it were skipped by the server
//! because an earlier message of the unit failed.

use crate::wire;
use gatehouse_pipeline::{AuditOutcome, ResultColumn, StatementResult};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

/// What masking needs to know about a statement before its response arrives.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatementHint {
    /// Relations the statement reads, for `table.column` rules.
    pub tables: Vec<String>,
    /// A `COPY ... TO STDOUT` in CSV format (the protocol does not say).
    pub copy_csv: bool,
}

/// One thing the server will answer, queued by `inbound`.
#[derive(Debug)]
pub(crate) enum Expected {
    /// A forwarded statement whose audit event has `seq`; `hint` only when masking is on.
    Statement {
        seq: i64,
        sent_at: Instant,
        hint: Option<Box<StatementHint>>,
    },
    /// A `Describe` of a portal gatehouse added before an `Execute` to learn the result's
    /// columns and formats: its `RowDescription`/`NoData` is for gatehouse, not the client.
    InjectedDescribe,
    /// The client's own `Describe`: its `RowDescription`/`NoData` goes to the client.
    ClientDescribe,
    /// Something answered but not recorded (a refusal marker, an empty query, an Execute of
    /// a portal that does not exist).
    Untracked,
    /// The end of a Sync unit: the server sends `ReadyForQuery` for it.
    Boundary,
}

/// The queue shared by the two relay directions.
#[derive(Debug, Default)]
pub(crate) struct ResultQueue {
    entries: Mutex<VecDeque<Expected>>,
}

impl ResultQueue {
    pub fn push(&self, entry: Expected) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.push_back(entry);
        }
    }

    /// What the server answers next: the oldest entry, `None` at a unit boundary.
    pub fn front(&self) -> Front {
        let Ok(entries) = self.entries.lock() else {
            return Front::Other;
        };
        match entries.front() {
            Some(Expected::InjectedDescribe) => match entries.get(1) {
                Some(Expected::Statement { hint, .. }) => {
                    Front::InjectedDescribe(hint.as_deref().cloned().unwrap_or_default())
                }
                _ => Front::InjectedDescribe(StatementHint::default()),
            },
            Some(Expected::ClientDescribe) => Front::ClientDescribe,
            Some(Expected::Statement { hint, .. }) => {
                Front::Statement(hint.as_deref().cloned().unwrap_or_default())
            }
            _ => Front::Other,
        }
    }

    /// Remove the oldest entry (after [`ResultQueue::front`] said what it is).
    pub fn pop_front(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.pop_front();
        }
    }

    /// The oldest entry of the current unit, unless the unit has none left.
    fn pop_in_unit(&self) -> Option<Expected> {
        let mut entries = self.entries.lock().ok()?;
        match entries.front() {
            Some(Expected::Boundary) | None => None,
            Some(_) => entries.pop_front(),
        }
    }

    /// Pop the rest of the unit, up to and including its boundary.
    fn pop_unit(&self) -> Vec<Expected> {
        let Ok(mut entries) = self.entries.lock() else {
            return Vec::new();
        };
        let mut rest = Vec::new();
        while let Some(entry) = entries.pop_front() {
            if matches!(entry, Expected::Boundary) {
                break;
            }
            rest.push(entry);
        }
        rest
    }
}

/// What the oldest queued entry is.
#[derive(Debug)]
pub(crate) enum Front {
    /// Gatehouse's own `Describe`, with the hint of the statement it describes.
    InjectedDescribe(StatementHint),
    ClientDescribe,
    Statement(StatementHint),
    Other,
}

/// Rows of one statement kept for a recording that records results, at most.
const CAPTURE_ROWS: usize = 1_000;
/// Bytes of row values of one statement kept for such a recording, at most.
const CAPTURE_BYTES: usize = 1 << 20;

/// Outbound's view of the response in progress, and results waiting to be recorded.
#[derive(Debug, Default)]
pub(crate) struct ResultTracker {
    rows: u64,
    bytes: u64,
    columns: Vec<ResultColumn>,
    binary_columns: Vec<bool>,
    /// Rows kept for the recording, when the session records results.
    capture: Option<Capture>,
    /// Values masked in the response in progress.
    masked: std::collections::BTreeMap<String, u64>,
    /// Completed results not yet written to the audit log and recording.
    pub finished: Vec<StatementResult>,
}

#[derive(Debug, Default)]
struct Capture {
    rows: Vec<Vec<Option<String>>>,
    bytes: usize,
}

impl ResultTracker {
    pub fn new(capture_rows: bool) -> Self {
        ResultTracker {
            capture: capture_rows.then(Capture::default),
            ..ResultTracker::default()
        }
    }

    /// A `RowDescription`: the columns of the rows that follow.
    pub fn on_row_description(&mut self, body: &[u8]) {
        let fields = wire::row_description(body).unwrap_or_default();
        self.binary_columns = fields.iter().map(|f| f.format == 1).collect();
        self.columns = fields
            .into_iter()
            .map(|f| ResultColumn {
                name: f.name,
                type_oid: Some(f.type_oid),
            })
            .collect();
    }

    /// Values masked in the response in progress (added up until the statement completes).
    pub fn note_masked(&mut self, counts: &gatehouse_mask::MaskCounts) {
        for (name, count) in counts.detectors() {
            *self.masked.entry(name.clone()).or_default() += count;
        }
        for (rule, count) in counts.column_rules() {
            *self.masked.entry(format!("column:{rule}")).or_default() += count;
        }
    }

    pub fn on_data_row(&mut self, body: &[u8]) {
        self.rows += 1;
        self.bytes += u64::try_from(body.len()).unwrap_or(u64::MAX);
        let Some(capture) = self.capture.as_mut() else {
            return;
        };
        if capture.rows.len() >= CAPTURE_ROWS || capture.bytes >= CAPTURE_BYTES {
            return;
        }
        let Ok(values) = wire::data_row(body) else {
            return;
        };
        let row = values
            .iter()
            .enumerate()
            .map(|(i, value)| {
                value.map(|bytes| {
                    if self.binary_columns.get(i).copied().unwrap_or(false) {
                        format!("<binary: {} bytes>", bytes.len())
                    } else {
                        String::from_utf8_lossy(bytes).into_owned()
                    }
                })
            })
            .collect();
        capture.bytes += body.len();
        capture.rows.push(row);
    }

    /// The server completed the oldest request of the unit (`tag` is its command tag, if any).
    pub fn on_completion(&mut self, queue: &ResultQueue, tag: Option<&str>) {
        let rows = tag.and_then(rows_of_tag).or(Some(self.rows));
        self.finish(queue, rows, tag.map(str::to_owned), None);
    }

    /// The server reported an error: it completes the oldest request of the unit, if any.
    pub fn on_error(&mut self, queue: &ResultQueue, code: &str, message: &str) {
        self.finish(queue, None, None, Some(format!("{code}: {message}")));
    }

    /// `ReadyForQuery`: whatever the unit still expected was skipped by the server.
    pub fn on_ready(&mut self, queue: &ResultQueue) {
        for entry in queue.pop_unit() {
            if let Expected::Statement { seq, sent_at, .. } = entry {
                self.finished.push(StatementResult {
                    seq,
                    outcome: AuditOutcome {
                        rows: None,
                        command_tag: None,
                        error: Some(
                            "not run: an earlier message of the same request failed".to_owned(),
                        ),
                        duration_us: elapsed_us(sent_at),
                        masked: Default::default(),
                    },
                    columns: Vec::new(),
                    bytes: 0,
                    rows: Vec::new(),
                });
            }
        }
        self.reset();
    }

    fn reset(&mut self) {
        self.masked.clear();
        self.rows = 0;
        self.bytes = 0;
        self.columns.clear();
        self.binary_columns.clear();
        if let Some(capture) = self.capture.as_mut() {
            capture.rows.clear();
            capture.bytes = 0;
        }
    }

    fn finish(
        &mut self,
        queue: &ResultQueue,
        rows: Option<u64>,
        command_tag: Option<String>,
        error: Option<String>,
    ) {
        if let Some(Expected::Statement { seq, sent_at, .. }) = queue.pop_in_unit() {
            let rows_kept = self
                .capture
                .as_mut()
                .map(|c| std::mem::take(&mut c.rows))
                .unwrap_or_default();
            self.finished.push(StatementResult {
                seq,
                outcome: AuditOutcome {
                    rows,
                    command_tag,
                    error,
                    duration_us: elapsed_us(sent_at),
                    masked: std::mem::take(&mut self.masked),
                },
                columns: std::mem::take(&mut self.columns),
                bytes: self.bytes,
                rows: rows_kept,
            });
        }
        self.reset();
    }
}

/// Rows counted by a command tag: the last word of `SELECT 3`, `INSERT 0 1`, `COPY 10`.
fn rows_of_tag(tag: &str) -> Option<u64> {
    tag.rsplit(' ').next()?.parse().ok()
}

fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn statement(seq: i64) -> Expected {
        Expected::Statement {
            seq,
            sent_at: Instant::now(),
            hint: None,
        }
    }

    #[test]
    fn completions_match_statements_in_order_and_errors_skip_the_rest_of_the_unit() {
        let queue = ResultQueue::default();
        let mut tracker = ResultTracker::default();
        for seq in 1..=3 {
            queue.push(statement(seq));
        }
        queue.push(Expected::Boundary);
        queue.push(statement(4));
        queue.push(Expected::Boundary);

        tracker.on_data_row(&[0, 0]);
        tracker.on_completion(&queue, Some("SELECT 1"));
        tracker.on_error(&queue, "22012", "division by zero");
        tracker.on_ready(&queue);
        tracker.on_completion(&queue, Some("INSERT 0 5"));
        tracker.on_ready(&queue);

        let outcomes: Vec<_> = tracker
            .finished
            .iter()
            .map(|r| (r.seq, r.outcome.rows, r.outcome.error.is_some()))
            .collect();
        assert_eq!(
            outcomes,
            [
                (1, Some(1), false),
                (2, None, true),
                (3, None, true),
                (4, Some(5), false)
            ]
        );
        assert!(
            tracker.finished[2]
                .outcome
                .error
                .as_deref()
                .unwrap()
                .contains("not run")
        );
    }

    #[test]
    fn an_error_outside_any_request_completes_nothing() {
        let queue = ResultQueue::default();
        let mut tracker = ResultTracker::default();
        queue.push(Expected::Boundary);
        queue.push(statement(7));
        queue.push(Expected::Boundary);
        tracker.on_error(&queue, "42601", "syntax error in Parse");
        tracker.on_ready(&queue);
        tracker.on_completion(&queue, Some("UPDATE 2"));
        assert_eq!(tracker.finished.len(), 1);
        assert_eq!(tracker.finished[0].seq, 7);
        assert_eq!(tracker.finished[0].outcome.rows, Some(2));
    }
}
