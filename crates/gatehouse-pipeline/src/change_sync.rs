//! When a state-changing request's audit events must be on disk (fsynced) before it is
//! forwarded.
//!
//! By default every request that can change the target waits for its fsync. A statement
//! forwarded into a transaction the target has open changes nothing anyone can see or keep
//! until that transaction commits, and the commit is itself a request of the same session
//! that passes through gatehouse. With [`ChangeSync::AtCommit`], such statements wait only for
//! their events to be written (which survives the gateway being killed), and the next request
//! that is not one of them — the `COMMIT`, anything else that could end the transaction or
//! reach outside it — waits for the fsync that covers them all. A transaction of four changing
//! statements then pays one fsync instead of four.
//!
//! Only the adapter can tell that a request runs inside an open transaction and has no effect
//! outside it (the server's own transaction state, no sequence, no call that reaches beyond
//! the transaction): it says so with [`ChangeScope::OpenTransaction`]; anything else is
//! [`ChangeScope::Immediate`]. What is left out of sight either way is a side effect hidden
//! behind the statement (a trigger that writes elsewhere, a column default that advances a
//! sequence), whose fsync moves from before the statement to before the commit.

use crate::Durability;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// When the events of a request that changes state inside an open transaction must be on disk
/// (`[audit] fsync_changes`: `"each-statement"` or `"at-commit"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeSync {
    /// Before the request itself is forwarded, wherever it runs.
    #[default]
    EachStatement,
    /// Before the next request of the session that is not a transactional statement inside
    /// the same open transaction (its `COMMIT`, at the latest).
    AtCommit,
}

/// Where the changes of a request take effect, as the adapter knows from the target's
/// protocol state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeScope {
    /// As soon as it is forwarded (autocommit), or the adapter cannot tell.
    Immediate,
    /// Only when the transaction the target has open for this session commits, on a later
    /// request of the session: every statement of the request is transactional (reads and
    /// writes of rows, no call with an effect outside the transaction), and nothing that
    /// could have ended the transaction is still on its way to the target.
    OpenTransaction,
}

/// Whether a session forwarded changes whose events are written but not yet fsynced. Shared
/// by the clones of one session's context.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnsyncedChanges(Arc<AtomicBool>);

impl UnsyncedChanges {
    pub(crate) fn pending(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, pending: bool) {
        self.0.store(pending, Ordering::Release);
    }
}

/// How one allowed request's events are stored, under `setting`: what it waits for, and
/// whether it leaves the session with changes whose fsync is still owed.
pub(crate) fn durability_for(
    setting: ChangeSync,
    scope: ChangeScope,
    changes_state: bool,
    owed: &UnsyncedChanges,
) -> (Durability, bool) {
    match (setting, scope) {
        (ChangeSync::AtCommit, ChangeScope::OpenTransaction) => {
            (Durability::Windowed, changes_state || owed.pending())
        }
        _ if changes_state || owed.pending() => (Durability::Synced, false),
        _ => (Durability::Windowed, false),
    }
}

/// After the request's events were stored as decided: remember whether the session now owes
/// an fsync (a failed store changes nothing, so a debt stays until it is paid).
pub(crate) fn settle(owed: &UnsyncedChanges, stored: bool, owes_after: bool) {
    if stored {
        owed.set(owes_after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_statement_ignores_the_scope() {
        let owed = UnsyncedChanges::default();
        for scope in [ChangeScope::Immediate, ChangeScope::OpenTransaction] {
            assert_eq!(
                durability_for(ChangeSync::EachStatement, scope, true, &owed),
                (Durability::Synced, false)
            );
            assert_eq!(
                durability_for(ChangeSync::EachStatement, scope, false, &owed),
                (Durability::Windowed, false)
            );
        }
    }

    #[test]
    fn at_commit_defers_inside_the_transaction_and_pays_on_the_next_other_request() {
        let owed = UnsyncedChanges::default();
        let (durability, owes) = durability_for(
            ChangeSync::AtCommit,
            ChangeScope::OpenTransaction,
            true,
            &owed,
        );
        assert_eq!((durability, owes), (Durability::Windowed, true));
        settle(&owed, true, owes);
        // A read in the same transaction keeps the debt without paying it.
        let (durability, owes) = durability_for(
            ChangeSync::AtCommit,
            ChangeScope::OpenTransaction,
            false,
            &owed,
        );
        assert_eq!((durability, owes), (Durability::Windowed, true));
        settle(&owed, true, owes);
        // The COMMIT changes no state of its own, and still waits for the fsync.
        let (durability, owes) =
            durability_for(ChangeSync::AtCommit, ChangeScope::Immediate, false, &owed);
        assert_eq!((durability, owes), (Durability::Synced, false));
        // Refused by the audit log: the debt stays for the next request.
        settle(&owed, false, owes);
        assert!(owed.pending());
        settle(&owed, true, owes);
        assert!(!owed.pending());
    }
}
