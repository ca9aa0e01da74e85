//! The outcome of every forwarded statement (rows, command tag or error, duration, masked
//! counts, captured rows), accumulated while its response streams and recorded against its
//! audit event once `server_model` says which statement the response finished.

use super::server_model::{FinishedStatement, StatementEnding};
use crate::encoding::TextEncoding;
use crate::wire;
use gatehouse_pipeline::{AuditOutcome, RequestResult, ResultColumn};
use std::time::Instant;

/// What masking needs to know about a statement before its response arrives.
#[derive(Debug, Clone, Default)]
pub(crate) struct StatementHint {
    /// Relations the statement reads, for `table.column` rules.
    pub tables: Vec<String>,
    /// A `COPY ... TO STDOUT` in CSV format (the protocol does not say).
    pub copy_csv: bool,
    /// What the statement's result columns and conditions derive from, when the classifier
    /// could trace it: masks computed values whole, and withholds errors about them.
    pub lineage: Option<std::sync::Arc<gatehouse_core::Lineage>>,
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
    /// The encoding the described rows' text values are in (the client's).
    encoding: TextEncoding,
    /// Rows kept for the recording, when the session records results.
    capture: Option<Capture>,
    /// Values masked in the response in progress.
    masked: std::collections::BTreeMap<String, u64>,
    /// Completed results not yet written to the audit log and recording.
    pub finished: Vec<RequestResult>,
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
    pub fn on_row_description(&mut self, body: &[u8], encoding: TextEncoding) {
        let fields =
            wire::row_description_in(body, |name| encoding.decode_lossy(name)).unwrap_or_default();
        self.binary_columns = fields.iter().map(|f| f.format == 1).collect();
        self.encoding = encoding;
        self.columns = fields
            .into_iter()
            .map(|f| ResultColumn {
                name: f.name,
                type_name: Some(
                    crate::masking::type_name(f.type_oid)
                        .map_or_else(|| format!("oid {}", f.type_oid), str::to_owned),
                ),
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
                        self.encoding.decode_lossy(bytes)
                    }
                })
            })
            .collect();
        capture.bytes += body.len();
        capture.rows.push(row);
    }

    /// A statement's outcome is known. A completion or failure takes the response that
    /// streamed for it (rows, bytes, columns, masked counts); a statement the server never
    /// ran takes nothing. `tag` is the CommandComplete's tag when the message was one.
    pub fn settle(&mut self, finished: FinishedStatement, tag: Option<&str>) {
        let FinishedStatement { statement, ending } = finished;
        let (rows, command_tag, error) = match ending {
            StatementEnding::NotRun(why) => {
                self.finished.push(RequestResult {
                    seq: statement.seq,
                    outcome: AuditOutcome {
                        rows: None,
                        status: None,
                        error: Some(why.to_owned()),
                        duration_us: elapsed_us(statement.sent_at),
                        masked: Default::default(),
                        request_bytes: None,
                        response_bytes: None,
                    },
                    columns: Vec::new(),
                    bytes: 0,
                    rows: Vec::new(),
                });
                return;
            }
            StatementEnding::Completed(own_tag) => {
                let tag = own_tag.or_else(|| tag.map(str::to_owned));
                let rows = tag.as_deref().and_then(rows_of_tag).or(Some(self.rows));
                (rows, tag, None)
            }
            StatementEnding::Suspended => (Some(self.rows), None, None),
            StatementEnding::Failed(error) => (None, None, Some(error)),
        };
        let rows_kept = self
            .capture
            .as_mut()
            .map(|c| std::mem::take(&mut c.rows))
            .unwrap_or_default();
        self.finished.push(RequestResult {
            seq: statement.seq,
            outcome: AuditOutcome {
                rows,
                status: command_tag,
                error,
                duration_us: elapsed_us(statement.sent_at),
                masked: std::mem::take(&mut self.masked),
                request_bytes: None,
                response_bytes: None,
            },
            columns: std::mem::take(&mut self.columns),
            bytes: self.bytes,
            rows: rows_kept,
        });
        self.reset();
    }

    /// The response in progress ended without completing a recorded statement (an error of
    /// something unrecorded, `ReadyForQuery`): forget what streamed.
    pub fn reset(&mut self) {
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
}

/// Rows counted by a command tag: the last word of `SELECT 3`, `INSERT 0 1`, `COPY 10`.
pub(super) fn rows_of_tag(tag: &str) -> Option<u64> {
    tag.rsplit(' ').next()?.parse().ok()
}

fn elapsed_us(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::session::server_model::Forwarded;

    fn statement(seq: i64) -> Forwarded {
        Forwarded {
            seq,
            sent_at: Instant::now(),
            hint: None,
            copy_in: false,
            row_cap: None,
        }
    }

    #[test]
    fn a_completion_takes_the_rows_that_streamed_and_a_skipped_statement_takes_none() {
        let mut tracker = ResultTracker::default();
        tracker.on_data_row(&[0, 0]);
        tracker.on_data_row(&[0, 0]);
        tracker.settle(
            FinishedStatement {
                statement: statement(2),
                ending: StatementEnding::NotRun("skipped"),
            },
            None,
        );
        tracker.settle(
            FinishedStatement {
                statement: statement(1),
                ending: StatementEnding::Completed(None),
            },
            Some("SELECT 2"),
        );
        tracker.settle(
            FinishedStatement {
                statement: statement(3),
                ending: StatementEnding::Failed("22012: division by zero".into()),
            },
            None,
        );
        let outcomes: Vec<_> = tracker
            .finished
            .iter()
            .map(|r| (r.seq, r.outcome.rows, r.outcome.error.clone(), r.bytes))
            .collect();
        assert_eq!(
            outcomes,
            [
                (2, None, Some("skipped".to_owned()), 0),
                (1, Some(2), None, 4),
                (3, None, Some("22012: division by zero".to_owned()), 0)
            ]
        );
        assert_eq!(
            tracker.finished[1].outcome.status.as_deref(),
            Some("SELECT 2")
        );
    }

    #[test]
    fn a_suspended_portal_counts_the_rows_it_sent() {
        let mut tracker = ResultTracker::default();
        tracker.on_data_row(&[0, 0]);
        tracker.settle(
            FinishedStatement {
                statement: statement(5),
                ending: StatementEnding::Suspended,
            },
            None,
        );
        assert_eq!(tracker.finished[0].outcome.rows, Some(1));
        assert!(tracker.finished[0].outcome.status.is_none());
    }
}
