//! gatehouse's own state: API keys (stored only as hashes), the hash-chained audit log and,
//! by default, session recordings, kept in an embedded SQLite database (WAL mode) created on
//! first start.
//!
//! It exists apart from the pipeline so that the pipeline stays free of any storage engine:
//! [`Store`] implements the pipeline's [`gatehouse_pipeline::Authenticator`] and
//! [`gatehouse_pipeline::AuditSink`] traits.

mod agents;
mod approvals;
mod audit;
mod chain;
mod checkpoint;
mod durability;
mod error;
mod grants;
mod identities;
mod issued;
mod keys;
mod migrations;
mod recordings;
mod store_file;
mod token;
mod verify;
mod wal;
mod writer;

pub use agents::{
    AGENT_CREDENTIAL_PREFIX, AgentEnrolment, AgentProof, AgentRecord, AgentRefusal,
    ENROLMENT_PREFIX, valid_agent_name,
};
pub use approvals::ApprovalList;
pub use audit::{AuditFilter, AuditLog, AuditOptions, StoredEvent};
pub use chain::{AuditFormat, AuditKey, load_or_create_key_file};
pub use checkpoint::Checkpoint;
pub use durability::DurabilitySettings;
pub use error::StoreError;
pub use gatehouse_pipeline::ReviewVerdict;
pub use identities::{Revocation, RevokedIdentity};
pub use issued::RevokedToken;
pub use keys::{KeyRecord, NewKey};
pub use recordings::StoreRecordings;
pub use token::{ParsedToken, TOKEN_PREFIX};
pub use verify::{ChainProblem, VerifyReport};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use store_file::StoreFile;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    file: std::sync::Arc<StoreFile>,
    /// Verifies gatehouse tokens (issued by token exchange) presented as passwords or bearer
    /// tokens; without it only `gh_` API keys are accepted.
    token_verifier: Option<std::sync::Arc<gatehouse_identity::TokenVerifier>>,
    /// The bound on the `-wal` file ([`wal`]).
    max_wal_bytes: u64,
}

impl Store {
    /// Open (creating if needed) the SQLite store at `path` and apply pending migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let open_error =
            |e: sqlx::Error| StoreError::Open(path.display().to_string(), e.to_string());
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(open_error)?
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit survives the gateway process being killed; only an OS
            // crash can lose the last commits. Issue-level durability (fsync windows) is the
            // audit log's concern, not every table's.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // Only this first connection may create the file. The pool's later connections must
        // find it: a volume that is not mounted would otherwise get an empty store.
        options
            .clone()
            .create_if_missing(true)
            .connect()
            .await
            .map_err(open_error)?
            .close()
            .await
            .map_err(open_error)?;
        let file = StoreFile::new(path);
        let (on_acquire, on_release) = (file.clone(), file.clone());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // An idle connection to a file the path no longer names (the volume was repaired
            // or the store restored under the gateway), or made before the volume failed, is
            // closed instead of used; while it is failing, none is kept open.
            .before_acquire(move |_, metadata| {
                let current = on_acquire.is_current(metadata.age);
                Box::pin(async move { Ok(current) })
            })
            .after_release(move |_, _| {
                let keep = on_release.keep_idle();
                Box::pin(async move { Ok(keep) })
            })
            .connect_with(options.create_if_missing(false))
            .await
            .map_err(open_error)?;
        migrations::apply(&pool).await?;
        Ok(Store {
            pool,
            file,
            token_verifier: None,
            max_wal_bytes: wal::DEFAULT_MAX_WAL_BYTES,
        })
    }

    /// Also accept gatehouse tokens signed by the key `verifier` checks (token exchange).
    pub fn with_token_verifier(mut self, verifier: gatehouse_identity::TokenVerifier) -> Store {
        self.token_verifier = Some(std::sync::Arc::new(verifier));
        self
    }

    /// Keep the store's `-wal` file under `bytes` (64 MiB unless set) while an audit log opened
    /// from this handle runs: the WAL is started over once it holds half of that.
    pub fn with_max_wal_bytes(mut self, bytes: u64) -> Store {
        self.max_wal_bytes = bytes;
        self
    }

    /// The audit log backed by this store (opens its own writer and WAL checkpoint
    /// connections, starts the fsync and checkpoint threads and the background tasks that
    /// write audit checkpoints: call it inside a tokio runtime).
    pub fn audit_log(&self, options: AuditOptions) -> Result<AuditLog, StoreError> {
        AuditLog::open(&self.file, self.pool.clone(), options, self.max_wal_bytes)
    }

    /// Session recordings kept in this store (opens its own connection; usable outside a
    /// tokio runtime, since [`gatehouse_recording::RecordingStorage`] is synchronous).
    pub fn recordings(&self) -> Result<StoreRecordings, StoreError> {
        StoreRecordings::open(&self.file)
    }

    /// Close all connections, waiting for in-flight work.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
