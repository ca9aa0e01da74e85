//! Whether a request runs inside a transaction the server has open for the session, with no
//! effect outside it: then its changes take effect only when a later request of the session
//! (the `COMMIT`) commits them, and under `[audit] fsync_changes = "at-commit"` its audit
//! events need not be fsynced before it is forwarded, only before that later request is
//! ([`gatehouse_pipeline::ChangeSync`]).
//!
//! The transaction state is the server's own: the status of its newest ReadyForQuery, trusted
//! only when every message sent before the request that could start, commit or roll back a
//! transaction had been answered by then. A pipelined `COMMIT` not yet answered, an implicit
//! transaction of a batch that has not reached its Sync, a server skipping to Sync after an
//! error: each makes the request [`ChangeScope::Immediate`], which waits for its fsync as
//! before.
//!
//! A statement runs inside the transaction when it reads or writes rows (`SELECT`, `INSERT`,
//! `UPDATE`, `DELETE`, their `COPY` forms) and calls no function: gatehouse does not know
//! which user functions reach outside the transaction (`dblink`, a file written), and the
//! built-ins that do (`nextval`, `setval`, `pg_notify`, ...) raise the statement's kind with a
//! reason, which also makes it immediate. So does a transaction-control statement that commits
//! nothing — `SAVEPOINT`, `RELEASE`, `ROLLBACK TO`, `ROLLBACK` — told apart from `COMMIT` by
//! PostgreSQL's grammar ([`gatehouse_sql::transaction_control`]), so that an ORM's savepoints
//! do not each pay an fsync.

use super::refusals::Progress;
use crate::wire::tags::transaction_status;
use gatehouse_core::{Action, SqlKind, SqlStatement};
use gatehouse_pipeline::ChangeScope;
use gatehouse_sql::{TransactionControl, transaction_control};

/// Where the changes of `actions` take effect, given how far the server has got and the
/// newest sent message (1-based) that could have changed its transaction state.
pub(super) fn change_scope(
    progress: &Progress,
    last_transaction_entry: u64,
    actions: &[Action],
) -> ChangeScope {
    let inside_open_transaction = progress.transaction_status == transaction_status::IN_TRANSACTION
        && !progress.skipping
        && last_transaction_entry <= progress.retired_at_ready;
    if inside_open_transaction && !actions.is_empty() && actions.iter().all(stays_in_transaction) {
        ChangeScope::OpenTransaction
    } else {
        ChangeScope::Immediate
    }
}

/// A statement whose every effect is undone if its transaction rolls back, and that commits
/// nothing.
fn stays_in_transaction(action: &Action) -> bool {
    action
        .downcast_ref::<SqlStatement>()
        .is_some_and(|statement| {
            statement.reason.is_none()
                && match statement.kind {
                    SqlKind::Select | SqlKind::Insert | SqlKind::Update | SqlKind::Delete => {
                        statement.functions.is_empty()
                    }
                    SqlKind::Session => transaction_control(&statement.text)
                        .is_some_and(TransactionControl::commits_nothing),
                    SqlKind::Ddl | SqlKind::Dcl | SqlKind::Admin | SqlKind::Unknown => false,
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(kind: SqlKind, functions: &[&str], reason: Option<&str>) -> Action {
        session_statement(kind, "statement", functions, reason)
    }

    fn session_statement(
        kind: SqlKind,
        text: &str,
        functions: &[&str],
        reason: Option<&str>,
    ) -> Action {
        Action::of(SqlStatement {
            text: text.into(),
            kind,
            reads: Vec::new(),
            writes: Vec::new(),
            functions: functions.iter().map(|f| (*f).to_owned()).collect(),
            fingerprint: "fingerprint".into(),
            reason: reason.map(str::to_owned),
            all_rows: false,
            context: None,
            lineage: None,
        })
    }

    fn ready(status: u8, retired: u64) -> Progress {
        Progress {
            retired,
            transaction_status: status,
            retired_at_ready: retired,
            ..Progress::default()
        }
    }

    #[test]
    fn plain_row_changes_in_an_answered_open_transaction_wait_for_the_commit() {
        let update = [statement(SqlKind::Update, &[], None)];
        let progress = ready(transaction_status::IN_TRANSACTION, 5);
        assert_eq!(
            change_scope(&progress, 5, &update),
            ChangeScope::OpenTransaction
        );
        assert_eq!(
            change_scope(&progress, 3, &update),
            ChangeScope::OpenTransaction,
            "answered long ago"
        );
    }

    #[test]
    fn savepoints_and_rollbacks_commit_nothing_and_stay_in_the_transaction() {
        let progress = ready(transaction_status::IN_TRANSACTION, 5);
        for sql in [
            "SAVEPOINT s1",
            "RELEASE SAVEPOINT s1",
            "ROLLBACK TO s1",
            "ROLLBACK",
        ] {
            assert_eq!(
                change_scope(
                    &progress,
                    5,
                    &[session_statement(SqlKind::Session, sql, &[], None)]
                ),
                ChangeScope::OpenTransaction,
                "{sql}"
            );
        }
    }

    #[test]
    fn anything_the_server_may_not_have_answered_yet_is_immediate() {
        let update = [statement(SqlKind::Update, &[], None)];
        let progress = ready(transaction_status::IN_TRANSACTION, 5);
        assert_eq!(
            change_scope(&progress, 6, &update),
            ChangeScope::Immediate,
            "a COMMIT still on its way"
        );
        let retired_since = Progress {
            retired: 7,
            ..progress
        };
        assert_eq!(
            change_scope(&retired_since, 6, &update),
            ChangeScope::Immediate,
            "answered, but no ReadyForQuery has said what state it left"
        );
        for status in [transaction_status::IDLE, transaction_status::FAILED] {
            assert_eq!(
                change_scope(&ready(status, 5), 5, &update),
                ChangeScope::Immediate
            );
        }
        let skipping = Progress {
            skipping: true,
            ..progress
        };
        assert_eq!(change_scope(&skipping, 5, &update), ChangeScope::Immediate);
    }

    #[test]
    fn statements_that_may_reach_outside_the_transaction_are_immediate() {
        let progress = ready(transaction_status::IN_TRANSACTION, 2);
        for action in [
            statement(SqlKind::Update, &["nextval"], Some("changes a sequence")),
            statement(SqlKind::Select, &["my_function"], None),
            statement(SqlKind::Session, &[], None),
            statement(SqlKind::Ddl, &[], None),
            statement(SqlKind::Admin, &[], None),
            statement(SqlKind::Unknown, &[], None),
        ] {
            assert_eq!(
                change_scope(&progress, 2, std::slice::from_ref(&action)),
                ChangeScope::Immediate,
                "{action:?}"
            );
        }
        for sql in ["COMMIT", "END", "BEGIN", "SET LOCAL work_mem = '1GB'"] {
            assert_eq!(
                change_scope(
                    &progress,
                    2,
                    &[session_statement(SqlKind::Session, sql, &[], None)]
                ),
                ChangeScope::Immediate,
                "{sql}"
            );
        }
        let mixed = [
            statement(SqlKind::Insert, &[], None),
            statement(SqlKind::Session, &[], None),
        ];
        assert_eq!(change_scope(&progress, 2, &mixed), ChangeScope::Immediate);
        assert_eq!(change_scope(&progress, 2, &[]), ChangeScope::Immediate);
        assert_eq!(
            change_scope(&progress, 2, &[Action::Connect]),
            ChangeScope::Immediate
        );
    }
}
