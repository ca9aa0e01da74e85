//! Shared start-up steps of the subcommands: find the configuration and data directory, open
//! the store, load the policy.

use crate::config::{Config, RecordingStorageKind};
use anyhow::{Context, Result};
use gatehouse_policy::{PolicyEngine, QUICKSTART_POLICY};
use gatehouse_recording::{LocalDirStorage, RecordingStorage};
use gatehouse_store::{AuditKey, AuditLog, AuditOptions, DurabilitySettings, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The data directory when neither `--data-dir` nor the config names one.
pub const DEFAULT_DATA_DIR: &str = ".gatehouse";

/// The configuration and the data directory in force.
pub struct Setup {
    pub config: Config,
    pub data_dir: PathBuf,
    /// No config file was given: the quickstart configuration is in force.
    pub quickstart: bool,
}

impl Setup {
    pub fn load(config_path: Option<&Path>, data_dir: Option<&Path>) -> Result<Setup> {
        let Some(path) = config_path else {
            let data_dir =
                data_dir.map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), Path::to_path_buf);
            return Ok(Setup {
                config: Config::quickstart(&data_dir),
                data_dir,
                quickstart: true,
            });
        };
        let config = Config::load(path)?;
        let data_dir = match (data_dir, &config.data_dir) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(dir)) => config.resolve(dir),
            (None, None) => PathBuf::from(DEFAULT_DATA_DIR),
        };
        Ok(Setup {
            config,
            data_dir,
            quickstart: false,
        })
    }

    /// Create the data directory if needed (owner-only access on Unix).
    pub fn ensure_data_dir(&self) -> Result<()> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| {
            format!(
                "cannot create the data directory `{}`",
                self.data_dir.display()
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ =
                std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700));
        }
        Ok(())
    }

    /// Open (creating) the store in the data directory. When the gateway has a token signing
    /// key, the store also accepts the gatehouse tokens it issued (so reviewers, grant
    /// requesters and stdio MCP agents may use exchanged tokens); the key is never created here.
    pub async fn store(&self) -> Result<Store> {
        self.ensure_data_dir()?;
        let path = self.data_dir.join("gatehouse.db");
        let store = Store::open(&path).await?;
        let key_file = crate::server::identity::token_key_file(&self.config, &self.data_dir);
        match std::fs::read(&key_file) {
            Ok(pkcs8) => {
                let signer = gatehouse_identity::TokenSigner::from_pkcs8(&pkcs8).map_err(|error| {
                    anyhow::anyhow!(
                        "the token signing key `{}` is unusable ({error}); restore it or remove it to have `gatehouse serve` create a new one",
                        key_file.display()
                    )
                })?;
                Ok(store.with_token_verifier(signer.verifier()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(store),
            Err(error) => Err(anyhow::anyhow!(
                "cannot read the token signing key `{}`: {error}",
                key_file.display()
            )),
        }
    }

    /// The audit log in the store, keyed and checkpointed as `[audit]` says.
    pub fn audit_log(&self, store: &Store) -> Result<AuditLog> {
        let audit = &self.config.audit;
        let key = match &audit.key_env {
            Some(var) => {
                let text = std::env::var(var).with_context(|| {
                    format!("[audit] key_env names `{var}`, which is not set; export the audit key (64 hex digits) in it")
                })?;
                AuditKey::from_hex(&text)
                    .with_context(|| format!("in environment variable `{var}`"))?
            }
            None => AuditKey::load_or_create(&self.audit_key_file())?,
        };
        Ok(store.audit_log(AuditOptions {
            key,
            checkpoint_file: Some(self.audit_checkpoint_file()),
            durability: DurabilitySettings {
                window: audit.fsync_window,
                timeout: audit.fsync_timeout,
                max_waiting: audit.max_waiting,
            },
        })?)
    }

    pub fn audit_key_file(&self) -> PathBuf {
        match &self.config.audit.key_file {
            Some(path) => self.config.resolve(path),
            None => self.data_dir.join("audit.key"),
        }
    }

    pub fn audit_checkpoint_file(&self) -> PathBuf {
        match &self.config.audit.checkpoint_file {
            Some(path) => self.config.resolve(path),
            None => self.data_dir.join("audit.checkpoint"),
        }
    }

    /// Where session recordings are kept, as `[recording]` says.
    pub fn recording_storage(&self, store: &Store) -> Result<Arc<dyn RecordingStorage>> {
        let recording = &self.config.recording;
        Ok(match recording.storage {
            RecordingStorageKind::Store => Arc::new(store.recordings()?),
            RecordingStorageKind::Directory => {
                let dir = match &recording.directory {
                    Some(dir) => self.config.resolve(dir),
                    None => self.data_dir.join("recordings"),
                };
                std::fs::create_dir_all(&dir).with_context(|| {
                    format!("cannot create the recordings directory `{}`", dir.display())
                })?;
                Arc::new(LocalDirStorage::new(dir, false)?)
            }
        })
    }

    /// The masking of each connection that has some, compiled; errors name the connection.
    pub fn maskings(
        &self,
    ) -> Result<std::collections::HashMap<String, Arc<gatehouse_pg::ConnectionMasking>>> {
        let mut maskings = std::collections::HashMap::new();
        for connection in &self.config.connections {
            if let Some(config) = &connection.masking {
                maskings.insert(
                    connection.name.clone(),
                    self.connection_masking(&connection.name, config)?,
                );
            }
        }
        Ok(maskings)
    }

    /// The masking `config` gives connection `name`.
    pub fn connection_masking(
        &self,
        name: &str,
        config: &gatehouse_mask::MaskConfig,
    ) -> Result<Arc<gatehouse_pg::ConnectionMasking>> {
        let masker = self
            .masker(config)
            .with_context(|| format!("[connections.masking] of connection `{name}`"))?;
        Ok(Arc::new(gatehouse_pg::ConnectionMasking {
            masker,
            has_column_rules: !config.columns.is_empty(),
        }))
    }

    /// A masker for `config`, keyed with `<data-dir>/mask.key` (created on first use) so that
    /// `hash` tokens stay the same across restarts.
    pub fn masker(&self, config: &gatehouse_mask::MaskConfig) -> Result<gatehouse_mask::Masker> {
        self.ensure_data_dir()?;
        let key = gatehouse_store::load_or_create_key_file(&self.data_dir.join("mask.key"))?;
        Ok(gatehouse_mask::Masker::new(
            config,
            gatehouse_mask::HashKey::new(key),
        )?)
    }

    /// The policy files in force; for the quickstart, the shipped policy written to the data
    /// directory on first use so that it can be read and edited there.
    pub fn policy_files(&self) -> Result<Vec<PathBuf>> {
        if !self.config.policy.files.is_empty() {
            return Ok(self
                .config
                .policy
                .files
                .iter()
                .map(|f| self.config.resolve(f))
                .collect());
        }
        let path = self.data_dir.join("policies").join("quickstart.cedar");
        if !path.exists() {
            let dir = self.data_dir.join("policies");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create `{}`", dir.display()))?;
            std::fs::write(&path, QUICKSTART_POLICY)
                .with_context(|| format!("cannot write `{}`", path.display()))?;
        }
        Ok(vec![path])
    }

    pub fn policy(&self) -> Result<PolicyEngine> {
        let files = self.policy_files()?;
        PolicyEngine::load_files(&files, &crate::server::protocols::policy_schema()?)
            .map_err(|e| anyhow::anyhow!("{e}"))
    }
}
