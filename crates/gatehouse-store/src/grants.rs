//! Time-boxed access grants as the store keeps them: an approval whose action is
//! `access:grant`, fingerprint `access:<group>`, approved and not yet expired (approving sets
//! its expiry to the granted duration). Nothing else marks a grant, so revoking one is
//! cancelling its approval, and expiry needs no sweeper.

use crate::{Store, StoreError};
use gatehouse_pipeline::{AccessGrant, AccessGrants, BoxFuture, GRANT_ACTION};
use sqlx::Row;

impl Store {
    /// Grants approved for `subject` on `connection` and unexpired at `now_unix_ms`.
    pub async fn access_grants(
        &self,
        subject: &str,
        connection: &str,
        now_unix_ms: i64,
    ) -> Result<Vec<AccessGrant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, fingerprint, expires_unix_ms FROM approvals
             WHERE subject = ? AND connection = ? AND state = 'approved'
               AND action = ? AND expires_unix_ms > ?",
        )
        .bind(subject)
        .bind(connection)
        .bind(GRANT_ACTION)
        .bind(now_unix_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut grants = Vec::with_capacity(rows.len());
        for row in rows {
            let fingerprint: String = row.try_get("fingerprint")?;
            let Some(group) = fingerprint.strip_prefix("access:") else {
                continue;
            };
            grants.push(AccessGrant {
                group: group.to_owned(),
                approval_id: row.try_get("id")?,
                expires_unix_ms: row.try_get("expires_unix_ms")?,
            });
        }
        Ok(grants)
    }
}

impl AccessGrants for Store {
    fn active_grants(
        &self,
        subject: &str,
        connection: &str,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<AccessGrant>, String>> {
        let (subject, connection) = (subject.to_owned(), connection.to_owned());
        Box::pin(async move {
            self.access_grants(&subject, &connection, now_unix_ms)
                .await
                .map_err(|error| error.to_string())
        })
    }
}
