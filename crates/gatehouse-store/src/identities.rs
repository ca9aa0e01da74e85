//! Revoking whole identities (`gatehouse identities revoke SUBJECT`): every credential that
//! names the subject — API keys, exchanged tokens, as subject or in the delegation chain — is
//! refused from then on, and the gateway ends the subject's live sessions. Also the feed of
//! revocations (identities, tokens, keys) the gateway polls to end live sessions.

use crate::keys::now_unix;
use crate::{Store, StoreError};
use gatehouse_core::Identity;
use serde::Serialize;
use sqlx::Row;

/// A revoked identity as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedIdentity {
    pub subject: String,
    pub revoked_at: i64,
    pub reason: Option<String>,
}

/// Something revoked that live sessions may depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Every session of this subject (or acting for it) ends.
    Identity {
        subject: String,
        reason: Option<String>,
    },
    /// Every session established with this credential (API key id or token `jti`) ends.
    Credential { id: String, reason: Option<String> },
    /// The agent's tunnels close (and the sessions through them end).
    Agent { name: String },
}

impl Store {
    /// Revoke `subject`. Revoking twice keeps the first time; revoking a restored identity
    /// revokes it again.
    pub async fn revoke_identity(
        &self,
        subject: &str,
        reason: Option<&str>,
    ) -> Result<RevokedIdentity, StoreError> {
        sqlx::query(
            "INSERT INTO revoked_identities (subject, revoked_at, reason, restored_at)
             VALUES (?, ?, ?, NULL)
             ON CONFLICT(subject) DO UPDATE SET
                 revoked_at = CASE WHEN restored_at IS NULL THEN revoked_at ELSE excluded.revoked_at END,
                 reason = CASE WHEN restored_at IS NULL THEN reason ELSE excluded.reason END,
                 restored_at = NULL",
        )
        .bind(subject)
        .bind(now_unix())
        .bind(reason)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(
            "SELECT subject, revoked_at, reason FROM revoked_identities WHERE subject = ?",
        )
        .bind(subject)
        .fetch_one(&self.pool)
        .await?;
        revoked_from_row(&row)
    }

    /// Lift the revocation of `subject`; false when it was not revoked.
    pub async fn restore_identity(&self, subject: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE revoked_identities SET restored_at = ? WHERE subject = ? AND restored_at IS NULL",
        )
        .bind(now_unix())
        .bind(subject)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Identities revoked now, oldest first.
    pub async fn revoked_identities(&self) -> Result<Vec<RevokedIdentity>, StoreError> {
        let rows = sqlx::query(
            "SELECT subject, revoked_at, reason FROM revoked_identities
             WHERE restored_at IS NULL ORDER BY revoked_at, subject",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(revoked_from_row).collect()
    }

    /// The first of `identity`'s subject and delegation chain that is revoked, if any.
    pub async fn revoked_subject_of(
        &self,
        identity: &Identity,
    ) -> Result<Option<String>, StoreError> {
        for subject in std::iter::once(&identity.subject).chain(identity.acting_for.iter()) {
            let row = sqlx::query(
                "SELECT 1 FROM revoked_identities WHERE subject = ? AND restored_at IS NULL",
            )
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
            if row.is_some() {
                return Ok(Some(subject.clone()));
            }
        }
        Ok(None)
    }

    /// Revocations of identities, tokens and API keys made at or after `since` (Unix
    /// seconds), for ending the live sessions that depend on them.
    pub async fn revocations_since(&self, since: i64) -> Result<Vec<Revocation>, StoreError> {
        let mut found = Vec::new();
        let identities = sqlx::query(
            "SELECT subject, reason FROM revoked_identities WHERE revoked_at >= ? AND restored_at IS NULL",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        for row in &identities {
            found.push(Revocation::Identity {
                subject: row.try_get("subject")?,
                reason: row.try_get("reason")?,
            });
        }
        let tokens = sqlx::query("SELECT jti, reason FROM revoked_tokens WHERE revoked_at >= ?")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        for row in &tokens {
            found.push(Revocation::Credential {
                id: row.try_get("jti")?,
                reason: row.try_get("reason")?,
            });
        }
        let keys = sqlx::query("SELECT id FROM api_keys WHERE revoked_at >= ?")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        for row in &keys {
            found.push(Revocation::Credential {
                id: row.try_get("id")?,
                reason: None,
            });
        }
        let agents = sqlx::query("SELECT name FROM agents WHERE revoked_at >= ?")
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        for row in &agents {
            found.push(Revocation::Agent {
                name: row.try_get("name")?,
            });
        }
        Ok(found)
    }
}

fn revoked_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RevokedIdentity, StoreError> {
    Ok(RevokedIdentity {
        subject: row.try_get("subject")?,
        revoked_at: row.try_get("revoked_at")?,
        reason: row.try_get("reason")?,
    })
}
