//! Which transaction-control statement a text is, read with PostgreSQL's own grammar: an
//! adapter that lets a transaction's changes wait for one fsync before its `COMMIT` must know
//! a `SAVEPOINT` (which keeps the transaction open and commits nothing) from a `COMMIT`, and
//! the classifier gives both the same kind (`Session`).

use pg_query::NodeEnum;
use pg_query::protobuf::TransactionStmtKind;

/// A transaction-control statement, as PostgreSQL's grammar reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionControl {
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`, also `COMMIT AND CHAIN`.
    Commit,
    /// `ROLLBACK`, `ABORT`, also `ROLLBACK AND CHAIN`: the whole transaction is undone.
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint,
    /// `RELEASE [SAVEPOINT] name`.
    Release,
    /// `ROLLBACK TO [SAVEPOINT] name`.
    RollbackTo,
    /// `PREPARE TRANSACTION`, `COMMIT PREPARED`, `ROLLBACK PREPARED`: two-phase commit.
    TwoPhase,
}

impl TransactionControl {
    /// Whether the statement leaves every change of the open transaction undone or still
    /// uncommitted: nothing it does can make a change take effect.
    pub fn commits_nothing(self) -> bool {
        matches!(
            self,
            TransactionControl::Rollback
                | TransactionControl::Savepoint
                | TransactionControl::Release
                | TransactionControl::RollbackTo
        )
    }
}

/// The transaction-control statement `sql` is, when it is exactly one such statement; `None`
/// for anything else, more than one statement, or text that does not parse.
pub fn transaction_control(sql: &str) -> Option<TransactionControl> {
    let parsed = std::panic::catch_unwind(|| pg_query::parse(sql, 0))
        .ok()?
        .ok()?;
    let [statement] = parsed.protobuf.stmts.as_slice() else {
        return None;
    };
    let NodeEnum::TransactionStmt(transaction) = statement.stmt.as_ref()?.node.as_ref()? else {
        return None;
    };
    use TransactionStmtKind as Kind;
    Some(match Kind::try_from(transaction.kind).ok()? {
        Kind::TransStmtBegin | Kind::TransStmtStart => TransactionControl::Begin,
        Kind::TransStmtCommit => TransactionControl::Commit,
        Kind::TransStmtRollback => TransactionControl::Rollback,
        Kind::TransStmtSavepoint => TransactionControl::Savepoint,
        Kind::TransStmtRelease => TransactionControl::Release,
        Kind::TransStmtRollbackTo => TransactionControl::RollbackTo,
        Kind::TransStmtPrepare
        | Kind::TransStmtCommitPrepared
        | Kind::TransStmtRollbackPrepared => TransactionControl::TwoPhase,
        Kind::Undefined => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transaction_statement_is_told_apart() {
        for (sql, expected) in [
            ("BEGIN", TransactionControl::Begin),
            (
                "start transaction isolation level serializable",
                TransactionControl::Begin,
            ),
            ("COMMIT", TransactionControl::Commit),
            ("END", TransactionControl::Commit),
            ("commit and chain", TransactionControl::Commit),
            ("ROLLBACK", TransactionControl::Rollback),
            ("ABORT", TransactionControl::Rollback),
            ("SAVEPOINT s1", TransactionControl::Savepoint),
            (
                "/* comment */ savepoint \"a b\"",
                TransactionControl::Savepoint,
            ),
            ("RELEASE s1", TransactionControl::Release),
            ("RELEASE SAVEPOINT s1", TransactionControl::Release),
            ("ROLLBACK TO s1", TransactionControl::RollbackTo),
            (
                "ROLLBACK TRANSACTION TO SAVEPOINT s1",
                TransactionControl::RollbackTo,
            ),
            ("PREPARE TRANSACTION 'x'", TransactionControl::TwoPhase),
            ("COMMIT PREPARED 'x'", TransactionControl::TwoPhase),
            ("ROLLBACK PREPARED 'x'", TransactionControl::TwoPhase),
        ] {
            assert_eq!(transaction_control(sql), Some(expected), "{sql}");
        }
    }

    #[test]
    fn anything_else_is_none() {
        for sql in [
            "SELECT 1",
            "SET LOCAL statement_timeout = 0",
            "SAVEPOINT a; COMMIT",
            "COMMIT; SAVEPOINT a",
            "SAVEPOINT",
            "",
            "ROLLBACK TO",
        ] {
            assert_eq!(transaction_control(sql), None, "{sql}");
        }
    }

    #[test]
    fn only_what_keeps_changes_uncommitted_or_undone_commits_nothing() {
        let nothing: Vec<_> = [
            TransactionControl::Begin,
            TransactionControl::Commit,
            TransactionControl::Rollback,
            TransactionControl::Savepoint,
            TransactionControl::Release,
            TransactionControl::RollbackTo,
            TransactionControl::TwoPhase,
        ]
        .into_iter()
        .filter(|control| control.commits_nothing())
        .collect();
        assert_eq!(
            nothing,
            [
                TransactionControl::Rollback,
                TransactionControl::Savepoint,
                TransactionControl::Release,
                TransactionControl::RollbackTo
            ]
        );
    }
}
