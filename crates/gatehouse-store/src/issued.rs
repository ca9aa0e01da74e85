//! gatehouse tokens issued by token exchange (EdDSA-signed JWTs): verified by signature, not
//! looked up, except for the revocation list (`revoked_tokens`, by `jti`).

use crate::keys::now_unix;
use crate::{Store, StoreError};
use gatehouse_identity::{IdentityError, TokenVerifier};
use gatehouse_pipeline::{AuthError, Authenticated};
use serde::Serialize;
use sqlx::Row;

/// A revoked token as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RevokedToken {
    pub jti: String,
    pub revoked_at: i64,
    pub reason: Option<String>,
}

impl Store {
    /// Verify a presented gatehouse token: signature by this gateway's key, issuer, expiry,
    /// and not revoked. Every failure maps onto the same generic refusals API keys get.
    pub(crate) async fn verify_issued(
        &self,
        verifier: &TokenVerifier,
        presented: &str,
    ) -> Result<Authenticated, AuthError> {
        let claims = verifier
            .verify(presented, now_unix())
            .map_err(|error| match error {
                IdentityError::Expired => AuthError::Expired,
                IdentityError::Malformed(_) => AuthError::Malformed,
                _ => AuthError::Unknown,
            })?;
        if self
            .is_token_revoked(&claims.jti)
            .await
            .map_err(|e| AuthError::StoreUnavailable(e.to_string()))?
        {
            return Err(AuthError::Revoked);
        }
        Ok(Authenticated {
            identity: claims.identity(),
            credential_id: claims.jti,
            expires_at_unix: Some(claims.exp),
        })
    }

    /// Whether the token with `jti` was revoked.
    pub async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Revoke the gatehouse token with `jti` (from the exchange's audit event or the token
    /// itself): later connections and API calls with it are refused. Revoking twice is not an
    /// error; the first revocation's time is kept.
    pub async fn revoke_token(
        &self,
        jti: &str,
        reason: Option<&str>,
    ) -> Result<RevokedToken, StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO revoked_tokens (jti, revoked_at, reason) VALUES (?, ?, ?)",
        )
        .bind(jti)
        .bind(now_unix())
        .bind(reason)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT jti, revoked_at, reason FROM revoked_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_one(&self.pool)
            .await?;
        Ok(RevokedToken {
            jti: row.try_get("jti")?,
            revoked_at: row.try_get("revoked_at")?,
            reason: row.try_get("reason")?,
        })
    }
}
