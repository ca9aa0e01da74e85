//! Just-in-time approvals: the record a held request creates, bound to exactly what was
//! asked, and the store interface the pipeline keeps them in.
//!
//! A `permit` policy annotated with `@approval("GROUP")` permits only once a matching
//! approval exists. The pipeline looks for one bound to the same requester, delegation chain,
//! connection, action, statement text, fingerprint and policy set version; finds it approved
//! and unexpired, it spends it (single use) and allows; otherwise the request is held and a
//! pending approval (new, or the same one a retry of the request already created) is its
//! answer. Reviewers decide through the store (CLI, API); the pipeline never approves.

use crate::BoxFuture;
use serde::{Deserialize, Serialize};

/// Where an approval is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for reviewers.
    Pending,
    /// Enough reviewers approved; may be spent once until it expires.
    Approved,
    /// A reviewer denied it.
    Denied,
    /// Nobody decided in time, or it was approved but not used in time.
    Expired,
    /// The requester withdrew it (e.g. cancelled the waiting statement).
    Cancelled,
    /// It was spent: the statement it was bound to was forwarded.
    Executed,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Cancelled => "cancelled",
            ApprovalState::Executed => "executed",
        }
    }

    /// The state named `name` (as [`ApprovalState::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Self> {
        [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Denied,
            ApprovalState::Expired,
            ApprovalState::Cancelled,
            ApprovalState::Executed,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }

    /// Whether nothing can change it any more.
    pub fn is_final(self) -> bool {
        !matches!(self, ApprovalState::Pending | ApprovalState::Approved)
    }
}

/// Exactly what an approval is for. Two requests share an approval only when every field is
/// equal: a changed statement (even one literal), another connection or requester, or a new
/// policy set version needs a new approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalBinding {
    pub subject: String,
    /// The delegation chain when an agent acts for someone, outermost first.
    pub acting_for: Vec<String>,
    pub connection: String,
    /// The Cedar action, e.g. `sql:delete`.
    pub action: String,
    /// The canonical request text the approval is for (a statement, a command line, a method
    /// and URL); the API's JSON called it `statement` before the protocol-neutral core.
    pub request: String,
    pub fingerprint: String,
    pub policy_version: String,
    /// The parameters and session state the statement runs with: an approval for one set of
    /// values (or one `search_path`, or one resolved table) is not one for another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<gatehouse_core::StatementContext>,
}

/// What approving needs, from the `@approval` annotations of the permitting policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalNeed {
    /// The policy whose annotations ask for approval.
    pub policy: String,
    /// Reviewers must be in this group when they decide.
    pub group: String,
    /// How many distinct reviewers must approve.
    pub required: u32,
    /// How long an approval may wait to be spent once granted, in seconds.
    pub ttl_seconds: u64,
}

/// One reviewer's decision.
/// A reviewer's decision on a pending approval; `approve` or `deny` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewVerdict {
    Approve,
    Deny,
}

impl ReviewVerdict {
    /// `approve` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewVerdict::Approve => "approve",
            ReviewVerdict::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: String,
    pub verdict: ReviewVerdict,
    pub reason: Option<String>,
    pub time_unix_ms: i64,
}

/// A stored approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// `ap-` and 16 hex characters.
    pub id: String,
    pub state: ApprovalState,
    pub binding: ApprovalBinding,
    pub need: ApprovalNeed,
    /// The requester's identity kind (`human`, `machine`, ...) and groups when it asked.
    pub requester_kind: String,
    pub requester_groups: Vec<String>,
    /// The session that asked, when it came through a data path.
    pub session: Option<String>,
    pub created_unix_ms: i64,
    /// When a pending approval expires; once approved, when the approval must be spent by.
    pub expires_unix_ms: i64,
    pub updated_unix_ms: i64,
    pub reviews: Vec<Review>,
}

impl ApprovalRecord {
    /// The state as of `now`: a pending or approved record past its expiry is expired even
    /// before anybody stored that.
    pub fn state_at(&self, now_unix_ms: i64) -> ApprovalState {
        if !self.state.is_final() && now_unix_ms >= self.expires_unix_ms {
            ApprovalState::Expired
        } else {
            self.state
        }
    }
}

/// Where approvals are kept (the SQLite store in `gatehouse-store`). Every method is atomic:
/// two sessions racing to spend one approval cannot both succeed.
pub trait ApprovalStore: Send + Sync {
    /// The newest approval with exactly this binding that is pending or approved and not
    /// expired at `now_unix_ms`.
    fn find_open(
        &self,
        binding: &ApprovalBinding,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<Option<ApprovalRecord>, String>>;

    /// Store a new pending approval.
    fn create(&self, record: &ApprovalRecord) -> BoxFuture<'_, Result<(), String>>;

    /// One approval by id.
    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<ApprovalRecord>, String>>;

    /// Move an approval from `from` to `to` if it is still in `from` and unexpired at
    /// `now_unix_ms`; `false` when it was not (someone else got there first, or it expired).
    fn transition(
        &self,
        id: &str,
        from: ApprovalState,
        to: ApprovalState,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<bool, String>>;
}
