//! API keys: short-lived tokens bound to an identity, created by `gatehouse keys create`,
//! verified on every client connection.

use crate::token::{self, ParsedToken};
use crate::{Store, StoreError};
use gatehouse_core::{Identity, IdentityKind, SecretString};
use gatehouse_pipeline::{AuthError, Authenticated, Authenticator, BoxFuture};
use serde::Serialize;
use sqlx::Row;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

/// What to create a key for.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub subject: String,
    pub kind: IdentityKind,
    pub groups: Vec<String>,
    pub ttl: Duration,
}

/// A key as listed: everything but its secret.
#[derive(Debug, Clone, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub subject: String,
    pub kind: IdentityKind,
    pub groups: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl KeyRecord {
    /// `active`, `expired` or `revoked` at `now` (unix seconds).
    pub fn state(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "active"
        }
    }
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Create a key; the returned token is the only time its secret exists outside a hash.
    pub async fn create_key(&self, new: &NewKey) -> Result<(KeyRecord, SecretString), StoreError> {
        let (token, parsed) = token::generate();
        let now = now_unix();
        let ttl = i64::try_from(new.ttl.as_secs()).unwrap_or(i64::MAX);
        let record = KeyRecord {
            id: parsed.key_id.clone(),
            subject: new.subject.clone(),
            kind: new.kind,
            groups: new.groups.clone(),
            created_at: now,
            expires_at: now.saturating_add(ttl),
            revoked_at: None,
        };
        let groups = serde_json::to_string(&record.groups)
            .map_err(|e| StoreError::Corrupt("api_keys.groups_json", e.to_string()))?;
        sqlx::query(
            "INSERT INTO api_keys (id, subject, kind, groups_json, secret_hash, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.id)
        .bind(&record.subject)
        .bind(record.kind.as_str())
        .bind(groups)
        .bind(&parsed.secret_hash[..])
        .bind(record.created_at)
        .bind(record.expires_at)
        .execute(&self.pool)
        .await?;
        Ok((record, token))
    }

    /// Every key, newest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, subject, kind, groups_json, created_at, expires_at, revoked_at
             FROM api_keys ORDER BY created_at DESC, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Revoke a key by id; later connections with it fail. Revoking twice is not an error.
    pub async fn revoke_key(&self, id: &str) -> Result<KeyRecord, StoreError> {
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
                .bind(now_unix())
                .bind(id)
                .execute(&self.pool)
                .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::NoSuchKey(id.to_owned()));
        }
        let row = sqlx::query(
            "SELECT id, subject, kind, groups_json, created_at, expires_at, revoked_at
             FROM api_keys WHERE id = ?",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        record_from_row(&row)
    }

    /// Verify a presented API key or gatehouse token, then refuse it if its identity (or
    /// anyone in its delegation chain) is revoked.
    async fn verify(&self, presented: &SecretString) -> Result<Authenticated, AuthError> {
        let accepted = self.verify_credential(presented).await?;
        match self.revoked_subject_of(&accepted.identity).await {
            Ok(None) => Ok(accepted),
            Ok(Some(subject)) => Err(AuthError::IdentityRevoked(subject)),
            Err(error) => Err(AuthError::StoreUnavailable(error.to_string())),
        }
    }

    async fn verify_credential(
        &self,
        presented: &SecretString,
    ) -> Result<Authenticated, AuthError> {
        if !presented.expose().starts_with(token::TOKEN_PREFIX)
            && let Some(verifier) = &self.token_verifier
            && gatehouse_identity::token::looks_like_jwt(presented.expose())
        {
            return self.verify_issued(verifier, presented.expose()).await;
        }
        let ParsedToken {
            key_id,
            secret_hash,
        } = token::parse(presented).ok_or(AuthError::Malformed)?;
        let row = sqlx::query(
            "SELECT id, subject, kind, groups_json, created_at, expires_at, revoked_at, secret_hash
             FROM api_keys WHERE id = ?",
        )
        .bind(&key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| AuthError::StoreUnavailable(e.to_string()))?
        .ok_or(AuthError::Unknown)?;
        let stored: Vec<u8> = row
            .try_get("secret_hash")
            .map_err(|e| AuthError::StoreUnavailable(e.to_string()))?;
        if !bool::from(stored.as_slice().ct_eq(&secret_hash[..])) {
            return Err(AuthError::Unknown);
        }
        let record =
            record_from_row(&row).map_err(|e| AuthError::StoreUnavailable(e.to_string()))?;
        match record.state(now_unix()) {
            "revoked" => Err(AuthError::Revoked),
            "expired" => Err(AuthError::Expired),
            _ => Ok(Authenticated {
                identity: Identity::new(record.subject, record.kind, record.groups),
                credential_id: record.id,
                expires_at_unix: Some(record.expires_at),
            }),
        }
    }
}

impl Authenticator for Store {
    fn authenticate_credential<'a>(
        &'a self,
        presented: &'a SecretString,
    ) -> BoxFuture<'a, Result<Authenticated, AuthError>> {
        Box::pin(self.verify(presented))
    }
}

fn record_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<KeyRecord, StoreError> {
    let kind: String = row.try_get("kind")?;
    let groups: String = row.try_get("groups_json")?;
    Ok(KeyRecord {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        kind: kind
            .parse()
            .map_err(|e: String| StoreError::Corrupt("api_keys.kind", e))?,
        groups: serde_json::from_str(&groups)
            .map_err(|e| StoreError::Corrupt("api_keys.groups_json", e.to_string()))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}
