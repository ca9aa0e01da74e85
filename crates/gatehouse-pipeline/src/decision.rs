//! Step 3 of the pipeline: the decision, and the [`Permit`] that only an allowed, recorded
//! request carries.

use serde::Serialize;

/// Proof that a request was allowed by policy and its audit event stored. It cannot be
/// constructed outside this crate, cloned or copied, so an adapter that requires one by value
/// to forward cannot forward an undecided or refused request.
#[derive(Debug)]
#[must_use = "a Permit exists to be spent on forwarding the request it was issued for"]
pub struct Permit {
    first_seq: i64,
    last_seq: i64,
    /// Per decided action, the most rows it may change (`@max_rows`), if capped.
    row_caps: Vec<Option<u64>>,
}

impl Permit {
    pub(crate) fn issue(first_seq: i64, last_seq: i64, row_caps: Vec<Option<u64>>) -> Self {
        Permit {
            first_seq,
            last_seq,
            row_caps,
        }
    }

    /// The most rows each decided action may change, in the order the actions were given
    /// (`None`: no cap). The adapter enforces it where the rows are counted.
    pub fn row_caps(&self) -> &[Option<u64>] {
        &self.row_caps
    }

    /// The audit `seq` of each decided action's event, in the order the actions were given.
    pub fn audit_seqs(&self) -> std::ops::RangeInclusive<i64> {
        self.first_seq..=self.last_seq
    }
}

/// Why a request was refused, phrased for the person or program that sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    /// The refused action's name, e.g. `sql:delete`.
    pub action: String,
    /// The policies that refused it; empty when nothing permitted it (default deny).
    pub policies: Vec<String>,
    /// A complete sentence that names the action and the deciding policy.
    pub message: String,
}

impl Denial {
    /// The deciding policy's name for display: the first forbidding policy, or `default-deny`.
    pub fn policy_label(&self) -> String {
        match self.policies.first() {
            Some(id) => id.clone(),
            None => "default-deny".to_owned(),
        }
    }
}

/// A request that policy permits only once reviewers approve it: nothing was forwarded, and
/// the pending approval says who must approve. Asking again with the same request finds the
/// same approval, and once it is approved, spends it and is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// The held action's name, e.g. `sql:delete`.
    pub action: String,
    pub approval: crate::ApprovalRecord,
    /// A complete sentence: what is held, who must approve, and how.
    pub message: String,
    /// The command a reviewer runs to approve it.
    pub approve_with: String,
}

/// The outcome of [`crate::Pipeline::decide`].
#[derive(Debug)]
pub enum Decision {
    Allow(Permit),
    Deny(Denial),
    Hold(Box<Hold>),
}
