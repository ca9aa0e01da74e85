//! Network-resident agents: created with a one-time enrolment token (`gatehouse agents
//! create`), which the agent exchanges on first contact for its own credential; listed with
//! when they were last seen; revocable. Both secrets are stored only as SHA-256 hashes (they
//! are 256 random bits, so a slow hash would protect nothing) and compared in constant time.

use crate::keys::now_unix;
use crate::{Store, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::SecretString;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

/// The agent listing query, with `$tail` (a literal) appended.
macro_rules! select_agents {
    ($tail:literal) => {
        concat!(
            "SELECT name, created_at, enrolment_expires_at, enrolled_at, revoked_at, ",
            "last_seen_at, connected, version, connections_json, peer, workload_provider, ",
            "workload_subject FROM agents ",
            $tail
        )
    };
}

/// Prefix of enrolment tokens (so people and secret scanners recognise them).
pub const ENROLMENT_PREFIX: &str = "ghe_";
/// Prefix of agent credentials.
pub const AGENT_CREDENTIAL_PREFIX: &str = "gha_";
/// Longest agent name.
const MAX_NAME: usize = 64;

/// An agent as listed.
#[derive(Debug, Clone, Serialize)]
pub struct AgentRecord {
    pub name: String,
    pub created_at: i64,
    /// `pending` (not enrolled yet), `enrolled`, or `revoked`.
    pub state: &'static str,
    pub enrolment_expires_at: Option<i64>,
    pub enrolled_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub connected: bool,
    pub last_seen_at: Option<i64>,
    pub version: Option<String>,
    pub connections: Vec<String>,
    pub peer: Option<String>,
    /// `provider:subject` of the workload identity the agent authenticates with, if bound.
    pub workload: Option<String>,
}

/// What an agent presented on connecting.
pub enum AgentProof<'a> {
    Credential(&'a SecretString),
    Enrolment(&'a SecretString),
    /// A workload identity token the caller has verified: its provider and subject.
    Workload {
        provider: &'a str,
        subject: &'a str,
    },
}

/// How a new agent will authenticate.
pub enum AgentEnrolment<'a> {
    /// With a one-time enrolment token valid this long, spent for a credential.
    Token { ttl_secs: i64 },
    /// With workload identity tokens of `provider` whose subject is `subject`.
    Workload { provider: &'a str, subject: &'a str },
}

/// A refused agent: the reason, safe to tell the agent and to audit.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AgentRefusal(pub String);

fn secret(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::new(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

fn hash(secret: &SecretString) -> Vec<u8> {
    Sha256::digest(secret.expose().as_bytes()).to_vec()
}

fn same(stored: Option<Vec<u8>>, presented: &SecretString) -> bool {
    stored.is_some_and(|stored| bool::from(stored.as_slice().ct_eq(&hash(presented))))
}

/// Whether `name` can name an agent (it appears in configs, logs and errors).
pub fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Store {
    /// Create agent `name` (or, with `replace`, start it over: its old credential stops
    /// working). With [`AgentEnrolment::Token`] the enrolment token is returned.
    pub async fn create_agent(
        &self,
        name: &str,
        enrolment: AgentEnrolment<'_>,
        replace: bool,
    ) -> Result<(AgentRecord, Option<SecretString>), StoreError> {
        let now = now_unix();
        let (token, expires, workload) = match enrolment {
            AgentEnrolment::Token { ttl_secs } => (
                Some(secret(ENROLMENT_PREFIX)),
                Some(now.saturating_add(ttl_secs)),
                None,
            ),
            AgentEnrolment::Workload { provider, subject } => {
                (None, None, Some((provider, subject)))
            }
        };
        let token_hash = token.as_ref().map(hash);
        let (provider, subject) = workload.unzip();
        // A workload-bound agent needs no enrolment: it counts as enrolled at once.
        let enrolled_at = workload.map(|_| now);
        let inserted = sqlx::query(
            "INSERT INTO agents (name, created_at, enrolment_hash, enrolment_expires_at, enrolled_at,
                 workload_provider, workload_subject)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .bind(&token_hash)
        .bind(expires)
        .bind(enrolled_at)
        .bind(provider)
        .bind(subject)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            if !replace {
                return Err(StoreError::AgentExists(name.to_owned()));
            }
            sqlx::query(
                "UPDATE agents SET created_at = ?, enrolment_hash = ?, enrolment_expires_at = ?,
                     enrolled_at = ?, credential_hash = NULL, previous_credential_hash = NULL,
                     revoked_at = NULL,
                     workload_provider = ?, workload_subject = ?
                 WHERE name = ?",
            )
            .bind(now)
            .bind(&token_hash)
            .bind(expires)
            .bind(enrolled_at)
            .bind(provider)
            .bind(subject)
            .bind(name)
            .execute(&self.pool)
            .await?;
        }
        let record = self
            .agent(name)
            .await?
            .ok_or_else(|| StoreError::NoSuchAgent(name.to_owned()))?;
        Ok((record, token))
    }

    /// Check what agent `name` presented. An enrolment token is spent here for a credential;
    /// a credential is exchanged for the next one (rotation). The new credential is returned,
    /// to be handed to the agent; a workload identity issues none.
    pub async fn admit_agent(
        &self,
        name: &str,
        proof: AgentProof<'_>,
    ) -> Result<Result<Option<SecretString>, AgentRefusal>, StoreError> {
        let refuse = |text: String| Ok(Err(AgentRefusal(text)));
        let Some(row) = sqlx::query(
            "SELECT enrolment_hash, enrolment_expires_at, enrolled_at, credential_hash,
                 previous_credential_hash, revoked_at,
                 workload_provider, workload_subject
             FROM agents WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        else {
            return refuse(format!(
                "there is no agent named `{name}` on this gateway; create it with `gatehouse agents create {name}`"
            ));
        };
        if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return refuse(format!(
                "agent `{name}` was revoked; `gatehouse agents create {name} --replace` enrols it again"
            ));
        }
        match proof {
            AgentProof::Workload { provider, subject } => {
                let bound_provider: Option<String> = row.try_get("workload_provider")?;
                let bound_subject: Option<String> = row.try_get("workload_subject")?;
                match (bound_provider, bound_subject) {
                    (Some(p), Some(s)) if p == provider && s == subject => Ok(Ok(None)),
                    (Some(p), Some(s)) => refuse(format!(
                        "agent `{name}` is bound to subject `{s}` of identity provider `{p}`, \
                         but presented a workload token for `{subject}` of `{provider}`"
                    )),
                    _ => refuse(format!(
                        "agent `{name}` is not bound to a workload identity; bind it with \
                         `gatehouse agents create {name} --replace --workload-provider P --workload-subject S`"
                    )),
                }
            }
            AgentProof::Credential(credential) => {
                let current = same(row.try_get("credential_hash")?, credential);
                let previous = same(row.try_get("previous_credential_hash")?, credential);
                if !(current || previous) {
                    return refuse(format!(
                        "the credential agent `{name}` presented is not valid"
                    ));
                }
                // Every connection rotates the credential, so a copy stolen from the agent's
                // machine is dead once the agent has connected again. The one presented stays
                // acceptable once more (as `previous`) if it was the current one, in case the
                // agent does not get to keep the new one; presenting `previous` spends it — and
                // if a thief does, the real agent's credential stops working, which shows.
                let next = secret(AGENT_CREDENTIAL_PREFIX);
                let rotated = sqlx::query(
                    "UPDATE agents SET credential_hash = ?,
                         previous_credential_hash = CASE WHEN ? THEN credential_hash ELSE NULL END
                     WHERE name = ? AND revoked_at IS NULL",
                )
                .bind(hash(&next))
                .bind(current)
                .bind(name)
                .execute(&self.pool)
                .await?;
                if rotated.rows_affected() == 0 {
                    return refuse(format!("agent `{name}` was revoked"));
                }
                Ok(Ok(Some(next)))
            }
            AgentProof::Enrolment(token) => {
                if !same(row.try_get("enrolment_hash")?, token) {
                    let spent = row.try_get::<Option<i64>, _>("enrolled_at")?.is_some();
                    return refuse(if spent {
                        format!(
                            "agent `{name}` is already enrolled and its enrolment token is spent; \
                             the agent must present the credential it got then (or run `gatehouse agents create {name} --replace`)"
                        )
                    } else {
                        format!("the enrolment token agent `{name}` presented is not valid")
                    });
                }
                let expires: Option<i64> = row.try_get("enrolment_expires_at")?;
                if expires.is_none_or(|at| at <= now_unix()) {
                    return refuse(format!(
                        "the enrolment token of agent `{name}` expired; create a new one with `gatehouse agents create {name} --replace`"
                    ));
                }
                let credential = secret(AGENT_CREDENTIAL_PREFIX);
                // Spend the token atomically: only one agent can enrol with it.
                let spent = sqlx::query(
                    "UPDATE agents SET enrolment_hash = NULL, enrolment_expires_at = NULL,
                         enrolled_at = ?, credential_hash = ?
                     WHERE name = ? AND enrolment_hash = ? AND revoked_at IS NULL",
                )
                .bind(now_unix())
                .bind(hash(&credential))
                .bind(name)
                .bind(hash(token))
                .execute(&self.pool)
                .await?;
                if spent.rows_affected() == 0 {
                    return refuse(format!(
                        "the enrolment token of agent `{name}` was just used by another agent"
                    ));
                }
                Ok(Ok(Some(credential)))
            }
        }
    }

    /// Note that agent `name` connected (with what it announced) or disconnected.
    pub async fn agent_seen(
        &self,
        name: &str,
        connected: bool,
        announced: Option<(&str, &[String], &str)>,
    ) -> Result<(), StoreError> {
        match announced {
            Some((version, connections, peer)) => {
                let connections = serde_json::to_string(connections)
                    .map_err(|e| StoreError::Corrupt("agents.connections_json", e.to_string()))?;
                sqlx::query(
                    "UPDATE agents SET last_seen_at = ?, connected = ?, version = ?, connections_json = ?, peer = ?
                     WHERE name = ?",
                )
                .bind(now_unix())
                .bind(connected)
                .bind(version)
                .bind(connections)
                .bind(peer)
                .bind(name)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("UPDATE agents SET last_seen_at = ?, connected = ? WHERE name = ?")
                    .bind(now_unix())
                    .bind(connected)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Revoke agent `name`; false when there is none.
    pub async fn revoke_agent(&self, name: &str) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE agents SET revoked_at = COALESCE(revoked_at, ?), credential_hash = NULL,
                 previous_credential_hash = NULL, enrolment_hash = NULL
             WHERE name = ?",
        )
        .bind(now_unix())
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Agent `name`, if it exists.
    pub async fn agent(&self, name: &str) -> Result<Option<AgentRecord>, StoreError> {
        let row = sqlx::query(select_agents!("WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    /// Every agent, by name.
    pub async fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let rows = sqlx::query(select_agents!("ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(agent_from_row).collect()
    }
}

fn agent_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<AgentRecord, StoreError> {
    let enrolled_at: Option<i64> = row.try_get("enrolled_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    let connections: Option<String> = row.try_get("connections_json")?;
    let connections = match connections {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt("agents.connections_json", e.to_string()))?,
        None => Vec::new(),
    };
    Ok(AgentRecord {
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        state: match (revoked_at, enrolled_at) {
            (Some(_), _) => "revoked",
            (None, Some(_)) => "enrolled",
            (None, None) => "pending",
        },
        enrolment_expires_at: row.try_get("enrolment_expires_at")?,
        enrolled_at,
        revoked_at,
        connected: row.try_get::<i64, _>("connected")? != 0 && revoked_at.is_none(),
        last_seen_at: row.try_get("last_seen_at")?,
        version: row.try_get("version")?,
        connections,
        peer: row.try_get("peer")?,
        workload: match (
            row.try_get::<Option<String>, _>("workload_provider")?,
            row.try_get::<Option<String>, _>("workload_subject")?,
        ) {
            (Some(provider), Some(subject)) => Some(format!("{provider}:{subject}")),
            _ => None,
        },
    })
}
