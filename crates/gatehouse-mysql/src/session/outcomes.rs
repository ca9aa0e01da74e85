//! What each forwarded statement did, recorded against its audit event: rows returned or
//! affected, the server's error, masked-value counts, and (where the connection records
//! results) the rows as the client saw them. Answers map to statements in order; extra
//! answers (a procedure's result sets) belong to the last statement, and statements after a
//! failed one did not run. Statements that succeeded change the session's state.

use super::relay::Relay;
use super::responses::merge_counts;
use crate::MysqlError;
use gatehouse_core::SqlStatement;
use gatehouse_mysql_sql::SessionChange;
use gatehouse_pipeline::{AuditOutcome, RequestResult, ResultColumn};
use std::collections::BTreeMap;
use std::time::Instant;

/// A forwarded statement: its audit event, what it is, what it changes in the session.
pub(super) struct StatementRun {
    pub seq: i64,
    pub statement: SqlStatement,
    pub change: Option<SessionChange>,
}

/// One result of the server's answer.
pub(crate) struct Answer {
    pub kind: AnswerKind,
    pub columns: Vec<ResultColumn>,
    pub masked: BTreeMap<String, u64>,
    pub bytes: u64,
    pub captured: Vec<Vec<Option<String>>>,
    started: Instant,
}

pub(crate) enum AnswerKind {
    /// An OK packet.
    Done {
        affected: u64,
    },
    /// An OK packet of a statement held to a row cap (`@max_rows`): its affected rows, the
    /// rows counted against the cap, the cap.
    Capped {
        affected: u64,
        counted: u64,
        cap: u64,
    },
    /// A result set.
    Rows {
        rows: u64,
    },
    Failed {
        error: String,
    },
}

impl Answer {
    pub fn new(kind: AnswerKind) -> Self {
        Answer {
            kind,
            columns: Vec::new(),
            masked: BTreeMap::new(),
            bytes: 0,
            captured: Vec::new(),
            started: Instant::now(),
        }
    }

    fn outcome(&self, duration_us: u64) -> AuditOutcome {
        let (rows, status, error) = match &self.kind {
            AnswerKind::Done { affected } => (
                Some(*affected),
                Some(format!("OK, {affected} rows affected")),
                None,
            ),
            AnswerKind::Capped {
                affected,
                counted,
                cap,
            } => (
                Some(*affected),
                Some(format!(
                    "OK, {affected} rows affected ({counted} counted against the row cap of {cap}, `@max_rows`; committed)"
                )),
                None,
            ),
            AnswerKind::Rows { rows } => (Some(*rows), Some(format!("{rows} rows")), None),
            AnswerKind::Failed { error } => (None, None, Some(error.clone())),
        };
        AuditOutcome {
            rows,
            status,
            error,
            duration_us,
            masked: self.masked.clone(),
            request_bytes: None,
            response_bytes: None,
        }
    }
}

/// The outcome of a decided statement that was not run, and why.
fn not_run(seq: i64, why: &str) -> RequestResult {
    RequestResult {
        seq,
        outcome: AuditOutcome {
            rows: None,
            status: None,
            error: Some(format!("not run: {why}")),
            duration_us: 0,
            masked: BTreeMap::new(),
            request_bytes: None,
            response_bytes: None,
        },
        columns: Vec::new(),
        bytes: 0,
        rows: Vec::new(),
    }
}

impl Relay<'_> {
    /// Record that the allowed statements of events `seqs` were not run, and why.
    pub(super) fn record_not_run(&self, seqs: std::ops::RangeInclusive<i64>, why: &str) {
        let results = seqs.map(|seq| not_run(seq, why)).collect();
        if let Err(error) = self.gateway.pipeline.record_results(self.context, results) {
            tracing::error!(session = %self.context.session_id, %error, "statement outcomes could not be recorded");
        }
    }

    /// Record the outcomes of `runs` from `answers`, and follow the session changes of the
    /// statements that succeeded; an error when a change leaves the session unreadable.
    pub(super) fn settle(
        &mut self,
        runs: &[StatementRun],
        answers: Vec<Answer>,
    ) -> Result<(), MysqlError> {
        let mut results: Vec<RequestResult> = Vec::with_capacity(runs.len());
        let mut failed_at = None;
        for (index, answer) in answers.into_iter().enumerate() {
            let duration = u64::try_from(answer.started.elapsed().as_micros()).unwrap_or(u64::MAX);
            if matches!(answer.kind, AnswerKind::Failed { .. }) {
                failed_at.get_or_insert(index.min(runs.len().saturating_sub(1)));
            }
            match (runs.get(index), results.last_mut()) {
                (Some(run), _) => results.push(RequestResult {
                    seq: run.seq,
                    outcome: answer.outcome(duration),
                    columns: answer.columns.clone(),
                    bytes: answer.bytes,
                    rows: answer.captured,
                }),
                (None, Some(last)) => {
                    let extra = answer.outcome(duration);
                    last.outcome.rows = match (last.outcome.rows, extra.rows) {
                        (Some(a), Some(b)) => Some(a.saturating_add(b)),
                        (a, b) => a.or(b),
                    };
                    if extra.error.is_some() {
                        last.outcome.error = extra.error;
                    }
                    merge_counts(&mut last.outcome.masked, &extra.masked);
                    last.bytes += answer.bytes;
                }
                (None, None) => {}
            }
        }
        for run in runs.iter().skip(results.len()) {
            results.push(not_run(
                run.seq,
                "an earlier statement of the message failed",
            ));
        }
        if let Err(error) = self.gateway.pipeline.record_results(self.context, results) {
            tracing::error!(session = %self.context.session_id, %error, "statement outcomes could not be recorded");
        }
        let succeeded = failed_at.unwrap_or(runs.len());
        for run in runs.iter().take(succeeded) {
            if let Some(change) = &run.change {
                self.state
                    .apply(change, &run.statement)
                    .map_err(MysqlError::Refused)?;
            }
        }
        Ok(())
    }
}
