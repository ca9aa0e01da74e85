//! Just-in-time approvals in the store: the pipeline's [`ApprovalStore`] (find, create, get,
//! spend) and what reviewers do (list, review).
//!
//! It exists so that every change of an approval's state is one conditional `UPDATE`: two
//! sessions racing to spend an approval, or two reviewers acting at once, cannot both win or
//! lose each other's review, and pending approvals survive a gateway restart because they live
//! in the same SQLite file as the keys and the audit log.

use crate::{Store, StoreError};
use gatehouse_core::Identity;
use gatehouse_pipeline::{
    ApprovalBinding, ApprovalNeed, ApprovalRecord, ApprovalState, ApprovalStore, BoxFuture, Review,
    ReviewVerdict,
};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// How often a review is retried when other reviewers changed the approval between reading
/// and writing it. Each retry means somebody else's review landed, so this bounds only a
/// burst of simultaneous reviewers.
const REVIEW_ATTEMPTS: usize = 16;

/// Every column of `approvals`, as a literal so queries stay `&'static str` (sqlx refuses
/// SQL built at run time).
macro_rules! columns {
    () => {
        "id, state, subject, acting_for_json, connection, action, statement, fingerprint, \
         policy_version, policy, approver_group, required, ttl_seconds, requester_kind, \
         requester_groups_json, session, created_unix_ms, expires_unix_ms, updated_unix_ms, \
         reviews_json, context_json"
    };
}

/// What [`Store::list_approvals`] found.
#[derive(Debug, Clone, Default)]
pub struct ApprovalList {
    /// The approvals asked for, newest first, each in its state as of the listing.
    pub approvals: Vec<ApprovalRecord>,
    /// Approvals this listing found pending or approved past their expiry and stored as
    /// `expired` (each is reported by exactly one listing, so the caller can audit it once).
    pub expired: Vec<ApprovalRecord>,
}

impl Store {
    /// Store a new approval (normally pending, as the pipeline creates it).
    pub async fn create_approval(&self, record: &ApprovalRecord) -> Result<(), StoreError> {
        let binding = &record.binding;
        let need = &record.need;
        let result = sqlx::query(
            "INSERT INTO approvals (id, state, subject, acting_for_json, connection, action,
                 statement, fingerprint, policy_version, policy, approver_group, required,
                 ttl_seconds, requester_kind, requester_groups_json, session, created_unix_ms,
                 expires_unix_ms, updated_unix_ms, reviews_json, context_json, context_digest)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.id)
        .bind(record.state.as_str())
        .bind(&binding.subject)
        .bind(to_json("approvals.acting_for_json", &binding.acting_for)?)
        .bind(&binding.connection)
        .bind(&binding.action)
        .bind(&binding.request)
        .bind(&binding.fingerprint)
        .bind(&binding.policy_version)
        .bind(&need.policy)
        .bind(&need.group)
        .bind(i64::from(need.required))
        .bind(i64::try_from(need.ttl_seconds).unwrap_or(i64::MAX))
        .bind(&record.requester_kind)
        .bind(to_json(
            "approvals.requester_groups_json",
            &record.requester_groups,
        )?)
        .bind(&record.session)
        .bind(record.created_unix_ms)
        .bind(record.expires_unix_ms)
        .bind(record.updated_unix_ms)
        .bind(to_json("approvals.reviews_json", &record.reviews)?)
        .bind(
            binding
                .context
                .as_ref()
                .map(|context| to_json("approvals.context_json", context))
                .transpose()?,
        )
        .bind(context_digest(binding))
        .execute(&self.pool)
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Err(StoreError::ApprovalExists {
                    id: record.id.clone(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// One approval by id, as stored (use [`ApprovalRecord::state_at`] for its state now).
    pub async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        Ok(self.approval_raw(id).await?.map(|(record, _)| record))
    }

    /// The newest approval with exactly `binding` that is pending or approved and unexpired
    /// at `now_unix_ms`.
    pub async fn find_open_approval(
        &self,
        binding: &ApprovalBinding,
        now_unix_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM approvals
             WHERE subject = ? AND connection = ? AND fingerprint = ?
               AND state IN ('pending', 'approved')
               AND acting_for_json = ? AND action = ? AND statement = ? AND policy_version = ?
               AND context_digest = ? AND expires_unix_ms > ?
             ORDER BY created_unix_ms DESC, id DESC
             LIMIT 1"
        ))
        .bind(&binding.subject)
        .bind(&binding.connection)
        .bind(&binding.fingerprint)
        .bind(to_json("approvals.acting_for_json", &binding.acting_for)?)
        .bind(&binding.action)
        .bind(&binding.request)
        .bind(&binding.policy_version)
        .bind(context_digest(binding))
        .bind(now_unix_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(record_from_row).transpose()
    }

    /// Move approval `id` from `from` to `to`, only if it is still in `from` and unexpired at
    /// `now_unix_ms`. One `UPDATE`: of several callers racing, exactly one gets `true`.
    pub async fn transition_approval(
        &self,
        id: &str,
        from: ApprovalState,
        to: ApprovalState,
        now_unix_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE approvals SET state = ?, updated_unix_ms = ?
             WHERE id = ? AND state = ? AND expires_unix_ms > ?",
        )
        .bind(to.as_str())
        .bind(now_unix_ms)
        .bind(id)
        .bind(from.as_str())
        .bind(now_unix_ms)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Approvals newest first (only pending ones with `pending_only`), in their state as of
    /// `now_unix_ms`. Pending or approved approvals past their expiry are first stored as
    /// `expired`; those are returned in [`ApprovalList::expired`] so the caller can record
    /// the change in the audit log.
    pub async fn list_approvals(
        &self,
        pending_only: bool,
        now_unix_ms: i64,
    ) -> Result<ApprovalList, StoreError> {
        let expired = sqlx::query(concat!(
            "UPDATE approvals SET state = 'expired', updated_unix_ms = ?
             WHERE state IN ('pending', 'approved') AND expires_unix_ms <= ?
             RETURNING ",
            columns!()
        ))
        .bind(now_unix_ms)
        .bind(now_unix_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut expired = expired
            .iter()
            .map(record_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        expired.sort_by(|a, b| (b.created_unix_ms, &b.id).cmp(&(a.created_unix_ms, &a.id)));
        let query = if pending_only {
            concat!(
                "SELECT ",
                columns!(),
                " FROM approvals WHERE state = 'pending' ORDER BY created_unix_ms DESC, id DESC"
            )
        } else {
            concat!(
                "SELECT ",
                columns!(),
                " FROM approvals ORDER BY created_unix_ms DESC, id DESC"
            )
        };
        let rows = sqlx::query(query).fetch_all(&self.pool).await?;
        let approvals = rows
            .iter()
            .map(|row| {
                let mut record = record_from_row(row)?;
                record.state = record.state_at(now_unix_ms);
                Ok(record)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let approvals = if pending_only {
            approvals
                .into_iter()
                .filter(|record| record.state == ApprovalState::Pending)
                .collect()
        } else {
            approvals
        };
        Ok(ApprovalList { approvals, expired })
    }

    /// Approvals whose `updated_unix_ms` is at or after `updated_since_unix_ms`, oldest change
    /// first, as stored (use [`ApprovalRecord::state_at`] for their state now). For watchers
    /// (the webhook notifier) that poll for changes made by any process sharing the store.
    pub async fn approvals_changed_since(
        &self,
        updated_since_unix_ms: i64,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM approvals WHERE updated_unix_ms >= ? ORDER BY updated_unix_ms, id"
        ))
        .bind(updated_since_unix_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Record `reviewer`'s verdict on pending approval `id` at `now_unix_ms` and return the
    /// approval as it is afterwards.
    ///
    /// Refused (nothing changes) when the approval does not exist or is not pending and
    /// unexpired; when the reviewer asked for it, or is in (or behind) its delegation chain;
    /// when the reviewer's groups (from their identity now) lack the approving group; when
    /// the reviewer already approved it; and a denial without a reason. Once distinct
    /// approvers reach the number required it is `approved` and must be spent within the
    /// need's TTL from now; a denial makes it `denied`.
    pub async fn review_approval(
        &self,
        id: &str,
        reviewer: &Identity,
        verdict: ReviewVerdict,
        reason: Option<String>,
        now_unix_ms: i64,
    ) -> Result<ApprovalRecord, StoreError> {
        let reason = reason
            .map(|reason| reason.trim().to_owned())
            .filter(|reason| !reason.is_empty());
        for _ in 0..REVIEW_ATTEMPTS {
            let Some((record, stored_reviews)) = self.approval_raw(id).await? else {
                return Err(StoreError::NoSuchApproval(id.to_owned()));
            };
            let mut updated = reviewed(record, reviewer, verdict, reason.clone(), now_unix_ms)?;
            // Compare-and-swap on what was read: a review stored meanwhile by someone else
            // makes this one match nothing, and it is judged again on the new state.
            let result = sqlx::query(
                "UPDATE approvals
                 SET state = ?, reviews_json = ?, expires_unix_ms = ?, updated_unix_ms = ?
                 WHERE id = ? AND state = 'pending' AND reviews_json = ? AND expires_unix_ms > ?",
            )
            .bind(updated.state.as_str())
            .bind(to_json("approvals.reviews_json", &updated.reviews)?)
            .bind(updated.expires_unix_ms)
            .bind(now_unix_ms)
            .bind(id)
            .bind(&stored_reviews)
            .bind(now_unix_ms)
            .execute(&self.pool)
            .await?;
            if result.rows_affected() == 1 {
                updated.updated_unix_ms = now_unix_ms;
                return Ok(updated);
            }
        }
        Err(StoreError::ReviewContended(id.to_owned()))
    }

    /// One approval and its `reviews_json` exactly as stored (for compare-and-swap).
    async fn approval_raw(&self, id: &str) -> Result<Option<(ApprovalRecord, String)>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM approvals WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let reviews: String = row.try_get("reviews_json")?;
                Ok(Some((record_from_row(&row)?, reviews)))
            }
        }
    }
}

/// `record` with `reviewer`'s verdict applied, or why the reviewer may not give it.
fn reviewed(
    mut record: ApprovalRecord,
    reviewer: &Identity,
    verdict: ReviewVerdict,
    reason: Option<String>,
    now_unix_ms: i64,
) -> Result<ApprovalRecord, StoreError> {
    let id = record.id.clone();
    let group = record.need.group.clone();
    let state = record.state_at(now_unix_ms);
    if state != ApprovalState::Pending {
        return Err(StoreError::ApprovalClosed {
            id,
            state: state.as_str(),
            next: closed_hint(state),
        });
    }
    // The requester's side of the request (who asked, and everyone they act for) and the
    // reviewer's side (who reviews, and everyone they act for) must not meet.
    let requesters: Vec<&str> = std::iter::once(record.binding.subject.as_str())
        .chain(record.binding.acting_for.iter().map(String::as_str))
        .collect();
    let own = std::iter::once(reviewer.subject.as_str())
        .chain(reviewer.acting_for.iter().map(String::as_str))
        .any(|name| requesters.contains(&name));
    if own {
        return Err(StoreError::SelfReview {
            id,
            reviewer: reviewer.subject.clone(),
            group,
        });
    }
    if !reviewer.groups.contains(&group) {
        return Err(StoreError::NotApprover {
            id,
            reviewer: reviewer.subject.clone(),
            group,
        });
    }
    let required = record.need.required.max(1);
    if verdict == ReviewVerdict::Approve
        && record
            .reviews
            .iter()
            .any(|r| r.reviewer == reviewer.subject && r.verdict == ReviewVerdict::Approve)
    {
        return Err(StoreError::AlreadyApproved {
            id,
            reviewer: reviewer.subject.clone(),
            group,
            approvals: approvers(&record.reviews),
            required,
        });
    }
    if verdict == ReviewVerdict::Deny && reason.is_none() {
        return Err(StoreError::ReasonRequired(id));
    }
    record.reviews.push(Review {
        reviewer: reviewer.subject.clone(),
        verdict,
        reason,
        time_unix_ms: now_unix_ms,
    });
    match verdict {
        ReviewVerdict::Deny => record.state = ApprovalState::Denied,
        ReviewVerdict::Approve if approvers(&record.reviews) >= required => {
            let ttl_ms = i64::try_from(record.need.ttl_seconds)
                .unwrap_or(i64::MAX)
                .saturating_mul(1000);
            record.state = ApprovalState::Approved;
            record.expires_unix_ms = now_unix_ms.saturating_add(ttl_ms);
        }
        ReviewVerdict::Approve => {}
    }
    Ok(record)
}

/// How many distinct reviewers approved.
fn approvers(reviews: &[Review]) -> u32 {
    let mut names: Vec<&str> = reviews
        .iter()
        .filter(|r| r.verdict == ReviewVerdict::Approve)
        .map(|r| r.reviewer.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    u32::try_from(names.len()).unwrap_or(u32::MAX)
}

/// What to do about an approval that can no longer be reviewed.
fn closed_hint(state: ApprovalState) -> &'static str {
    match state {
        ApprovalState::Approved => "it already has the approvals it needs; nothing is left to do",
        ApprovalState::Denied => "a reviewer denied it; the requester must ask again",
        ApprovalState::Expired => {
            "nobody decided in time; the requester must run the statement again to ask anew"
        }
        ApprovalState::Cancelled => "the requester withdrew it",
        ApprovalState::Executed => "it was approved and the statement has run",
        ApprovalState::Pending => "it is waiting for reviewers",
    }
}

fn to_json<T: serde::Serialize>(column: &'static str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(column, e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &'static str,
    what: &'static str,
) -> Result<T, StoreError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(what, e.to_string()))
}

/// What the binding lookup compares of a statement's context: its digest, empty for none.
fn context_digest(binding: &ApprovalBinding) -> &str {
    binding
        .context
        .as_ref()
        .map(|context| context.digest.as_str())
        .unwrap_or_default()
}

fn record_from_row(row: &SqliteRow) -> Result<ApprovalRecord, StoreError> {
    let state: String = row.try_get("state")?;
    let required: i64 = row.try_get("required")?;
    let ttl_seconds: i64 = row.try_get("ttl_seconds")?;
    Ok(ApprovalRecord {
        id: row.try_get("id")?,
        state: ApprovalState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt("approvals.state", state.clone()))?,
        binding: ApprovalBinding {
            subject: row.try_get("subject")?,
            acting_for: from_json(row, "acting_for_json", "approvals.acting_for_json")?,
            connection: row.try_get("connection")?,
            action: row.try_get("action")?,
            request: row.try_get("statement")?,
            fingerprint: row.try_get("fingerprint")?,
            policy_version: row.try_get("policy_version")?,
            context: {
                let text: Option<String> = row.try_get("context_json")?;
                text.map(|text| {
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt("approvals.context_json", e.to_string()))
                })
                .transpose()?
            },
        },
        need: ApprovalNeed {
            policy: row.try_get("policy")?,
            group: row.try_get("approver_group")?,
            required: u32::try_from(required)
                .map_err(|e| StoreError::Corrupt("approvals.required", e.to_string()))?,
            ttl_seconds: u64::try_from(ttl_seconds)
                .map_err(|e| StoreError::Corrupt("approvals.ttl_seconds", e.to_string()))?,
        },
        requester_kind: row.try_get("requester_kind")?,
        requester_groups: from_json(
            row,
            "requester_groups_json",
            "approvals.requester_groups_json",
        )?,
        session: row.try_get("session")?,
        created_unix_ms: row.try_get("created_unix_ms")?,
        expires_unix_ms: row.try_get("expires_unix_ms")?,
        updated_unix_ms: row.try_get("updated_unix_ms")?,
        reviews: from_json(row, "reviews_json", "approvals.reviews_json")?,
    })
}

impl ApprovalStore for Store {
    fn find_open(
        &self,
        binding: &ApprovalBinding,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<Option<ApprovalRecord>, String>> {
        let binding = binding.clone();
        Box::pin(async move {
            self.find_open_approval(&binding, now_unix_ms)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn create(&self, record: &ApprovalRecord) -> BoxFuture<'_, Result<(), String>> {
        let record = record.clone();
        Box::pin(async move {
            self.create_approval(&record)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<ApprovalRecord>, String>> {
        let id = id.to_owned();
        Box::pin(async move { self.approval(&id).await.map_err(|e| e.to_string()) })
    }

    fn transition(
        &self,
        id: &str,
        from: ApprovalState,
        to: ApprovalState,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<bool, String>> {
        let id = id.to_owned();
        Box::pin(async move {
            self.transition_approval(&id, from, to, now_unix_ms)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
