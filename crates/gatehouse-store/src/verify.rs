//! `gatehouse audit verify`: walk the chain from the first event, recompute every MAC, and
//! compare the end of the log with the checkpoint kept outside the store.

use crate::StoreError;
use crate::audit::{AuditLog, RawEvent};
use crate::chain::{AuditFormat, AuditKey, GENESIS_MAC, MAC_LEN, macs_equal};
use crate::checkpoint::Checkpoint;
use crate::writer::to_mac;
use gatehouse_pipeline::AuditEventKind;
use serde::Serialize;

/// What verification found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Events whose MAC was checked and found right.
    pub checked: u64,
    /// The newest `seq` in the log (0 when empty).
    pub last_seq: i64,
    /// The checkpoint compared against, if there was one.
    pub checkpoint_seq: Option<i64>,
    /// The first problem, if any: the log is intact exactly when this is `None`.
    pub problem: Option<ChainProblem>,
}

/// The first place the log stops being what was written.
#[derive(Debug, Clone, Serialize)]
pub struct ChainProblem {
    /// The first `seq` that is wrong, missing or beyond the end.
    pub seq: i64,
    pub reason: String,
}

/// Rows are checked in pages this large.
const PAGE: i64 = 5_000;

impl AuditLog {
    /// Verify the whole chain, and its end against `checkpoint` when given.
    pub async fn verify(
        &self,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<VerifyReport, StoreError> {
        let mut walker = ChainWalker::new(self.key(), checkpoint);
        loop {
            let page = self.read_raw(walker.last_seq, PAGE).await?;
            let full = i64::try_from(page.len()).unwrap_or(i64::MAX) == PAGE;
            for event in &page {
                if let Some(problem) = walker.check(event) {
                    return Ok(walker.report(checkpoint, Some(problem)));
                }
            }
            if !full {
                break;
            }
        }
        let problem = checkpoint.and_then(|c| walker.compare_with(c));
        Ok(walker.report(checkpoint, problem))
    }
}

struct ChainWalker<'k> {
    key: &'k AuditKey,
    checked: u64,
    last_seq: i64,
    previous: [u8; MAC_LEN],
    /// The format of the newest event checked: no later event may be in an older one.
    newest_format: Option<AuditFormat>,
    checkpoint: Option<&'k Checkpoint>,
}

impl<'k> ChainWalker<'k> {
    fn new(key: &'k AuditKey, checkpoint: Option<&'k Checkpoint>) -> Self {
        ChainWalker {
            key,
            checked: 0,
            last_seq: 0,
            previous: GENESIS_MAC,
            newest_format: None,
            checkpoint,
        }
    }

    fn check(&mut self, event: &RawEvent) -> Option<ChainProblem> {
        let expected = self.last_seq + 1;
        if event.seq != expected {
            return Some(ChainProblem {
                seq: expected,
                reason: format!(
                    "event {expected} is missing: the log goes from {} to {} (deleted events)",
                    self.last_seq, event.seq
                ),
            });
        }
        let Some(format) = AuditFormat::from_stored(event.format) else {
            return Some(ChainProblem {
                seq: event.seq,
                reason: format!(
                    "event {} is stored in format {}, which this gatehouse does not know (written by a newer version, or the column was edited)",
                    event.seq, event.format
                ),
            });
        };
        if let Some(newest) = self.newest_format
            && format < newest
        {
            return Some(ChainProblem {
                seq: event.seq,
                reason: format!(
                    "event {} is in audit format {} after events in format {}: formats never go back (a downgrade), so it was written by an older gatehouse or inserted",
                    event.seq,
                    format.stored(),
                    newest.stored()
                ),
            });
        }
        let mac = self
            .key
            .mac(format, &self.previous, event.seq, event.body.as_bytes());
        if !macs_equal(&mac, &event.mac) {
            return Some(ChainProblem {
                seq: event.seq,
                reason: format!(
                    "event {} does not match its MAC: it was edited, inserted or moved (or the log was written with another key)",
                    event.seq
                ),
            });
        }
        if let Some(column) = column_disagreeing_with_body(event, format) {
            return Some(ChainProblem {
                seq: event.seq,
                reason: format!(
                    "event {}'s `{column}` column was edited: it disagrees with the event's signed body",
                    event.seq
                ),
            });
        }
        if let Some(checkpoint) = self.checkpoint
            && checkpoint.seq == event.seq
            && !checkpoint.is_reached_by(Some(&event.mac))
        {
            return Some(ChainProblem {
                seq: event.seq,
                reason: format!(
                    "event {} differs from the one the checkpoint recorded: the log was rewritten from here on",
                    event.seq
                ),
            });
        }
        self.checked += 1;
        self.newest_format = Some(format);
        self.last_seq = event.seq;
        self.previous = to_mac(&event.mac);
        None
    }

    /// After the walk: does the log reach the checkpoint, with the same MAC there?
    fn compare_with(&self, checkpoint: &Checkpoint) -> Option<ChainProblem> {
        if self.last_seq < checkpoint.seq {
            return Some(ChainProblem {
                seq: self.last_seq + 1,
                reason: format!(
                    "the log ends at event {} but the checkpoint records event {}: events {}..={} were deleted",
                    self.last_seq,
                    checkpoint.seq,
                    self.last_seq + 1,
                    checkpoint.seq
                ),
            });
        }
        None
    }

    fn report(
        &self,
        checkpoint: Option<&Checkpoint>,
        problem: Option<ChainProblem>,
    ) -> VerifyReport {
        VerifyReport {
            checked: self.checked,
            last_seq: self.last_seq,
            checkpoint_seq: checkpoint.map(|c| c.seq),
            problem,
        }
    }
}

/// The indexed columns are copies of body fields (for searching); an edit to them alone would
/// not break the MAC, so compare them with the body.
fn column_disagreeing_with_body(event: &RawEvent, format: AuditFormat) -> Option<&'static str> {
    let Ok(body) = serde_json::from_str::<gatehouse_pipeline::AuditEvent>(&event.body) else {
        return Some("body");
    };
    // Format 1 named a request event's kind `statement`, in its body and in the column.
    let kind = match (format, body.kind) {
        (AuditFormat::V1, AuditEventKind::Request) => "statement",
        (_, kind) => kind.as_str(),
    };
    if body.time_unix_ms != event.time_unix_ms {
        Some("time_unix_ms")
    } else if kind != event.kind {
        Some("kind")
    } else if body.identity.subject != event.subject {
        Some("subject")
    } else if body.session != event.session {
        Some("session")
    } else {
        None
    }
}
