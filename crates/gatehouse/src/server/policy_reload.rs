//! Replacing the policy set while the gateway runs (`SIGHUP`, `POST /v1/policy/reload`,
//! `gatehouse policy reload`): the policy files are loaded and validated again; an invalid set
//! is refused and the old one stays in force; a valid one is recorded in the audit log (fsynced)
//! before it decides anything, then put in force for every request from then on. Open sessions
//! decide again what they decided once ([`gatehouse_pg`]'s policy watch); held approvals bound
//! to the old version are held again under the new one (an approval binds the policy version).
//! With a configuration file, its `[[connections]]` are read again too, where that is safe
//! (`connections_reload`): a refused file refuses the whole reload.

use crate::server::connections_reload::{ConfigurationChanges, ConnectionsReload};
use gatehouse_core::DecisionKind;
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, Durability, Pipeline};
use gatehouse_policy::{PolicyEngine, PolicySchema};
use gatehouse_store::AuditLog;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// What a reload put in force.
#[derive(Debug, Clone, Serialize)]
pub struct Reloaded {
    /// The version in force now.
    pub version: String,
    /// The version it replaced (equal to `version` when the files did not change).
    pub previous_version: String,
    pub policies: usize,
    /// Validator warnings that did not refuse the set.
    pub warnings: Vec<String>,
    /// Whether the set in force changed.
    pub changed: bool,
    /// What a reload of the configuration file's connections changed (empty without a file).
    pub configuration: ConfigurationChanges,
}

/// Why a reload was refused; the set in force did not change.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadRefused {
    #[error("the policy files were refused, so version {in_force} stays in force:\n{reason}")]
    Invalid { in_force: String, reason: String },
    #[error(
        "the configuration file was refused, so the policy (version {in_force}) and the connections in force stay:\n{reason}"
    )]
    InvalidConfiguration { in_force: String, reason: String },
    #[error(
        "the reload could not be recorded in the audit log ({0}), so the old policy stays in force"
    )]
    Unrecorded(String),
}

/// Reloads the policy files into a running gateway's pipeline, one reload at a time.
pub struct PolicyReloader {
    files: Vec<PathBuf>,
    schema: PolicySchema,
    pipeline: Pipeline,
    audit: AuditLog,
    /// The configuration file's connections, when the gateway runs from one.
    connections: Option<ConnectionsReload>,
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl PolicyReloader {
    pub fn new(
        files: Vec<PathBuf>,
        schema: PolicySchema,
        pipeline: Pipeline,
        audit: AuditLog,
        connections: Option<ConnectionsReload>,
    ) -> Self {
        PolicyReloader {
            files,
            schema,
            pipeline,
            audit,
            connections,
            one_at_a_time: tokio::sync::Mutex::new(()),
        }
    }

    /// Load the files again and put the set in force if it is valid; `by` caused it (an
    /// admin's identity, or the operator who sent SIGHUP), through `via`.
    pub async fn reload(&self, by: AuditIdentity, via: &str) -> Result<Reloaded, ReloadRefused> {
        let _one = self.one_at_a_time.lock().await;
        let in_force = self.pipeline.policy();
        let prepared = match self.connections.as_ref().map(ConnectionsReload::prepare) {
            Some(Err(reason)) => {
                self.record_refusal(
                    by.clone(),
                    via,
                    &format!("configuration: {reason}"),
                    &in_force,
                )
                .await;
                return Err(ReloadRefused::InvalidConfiguration {
                    in_force: in_force.version().to_owned(),
                    reason,
                });
            }
            Some(Ok(prepared)) => Some(prepared),
            None => None,
        };
        let loaded = PolicyEngine::load_files(&self.files, &self.schema);
        let policy = match loaded {
            Ok(policy) => Arc::new(policy),
            Err(error) => {
                let reason = error.to_string();
                self.record_refusal(by, via, &reason, &in_force).await;
                return Err(ReloadRefused::Invalid {
                    in_force: in_force.version().to_owned(),
                    reason,
                });
            }
        };
        let changed = policy.version() != in_force.version();
        let configuration = prepared
            .as_ref()
            .map(|prepared| prepared.changes.clone())
            .unwrap_or_default();
        let mut detail = if changed {
            format!(
                "reload ({via}): policy set version {} ({} policies) replaces {}",
                policy.version(),
                policy.policy_ids().len(),
                in_force.version()
            )
        } else {
            format!(
                "reload ({via}): the policy files are unchanged, version {} stays in force",
                policy.version()
            )
        };
        for change in &configuration.applied {
            detail.push_str(&format!("; {change}"));
        }
        for change in &configuration.restart_needed {
            detail.push_str(&format!("; not in force until a restart: {change}"));
        }
        let event = AuditEvent::administrative(
            AuditEventKind::PolicyChange,
            by,
            "policy:reload",
            DecisionKind::Allow,
            Some(detail),
        );
        self.audit
            .append(&[event], Durability::Synced)
            .await
            .map_err(ReloadRefused::Unrecorded)?;
        let reloaded = Reloaded {
            version: policy.version().to_owned(),
            previous_version: in_force.version().to_owned(),
            policies: policy.policy_ids().len(),
            warnings: policy.warnings().to_vec(),
            changed,
            configuration,
        };
        // The connections first, so that sessions told to decide again read the new ones.
        let settings_changed = !reloaded.configuration.applied.is_empty();
        if let (Some(connections), Some(prepared)) = (&self.connections, prepared) {
            connections.apply(prepared);
        }
        for change in &reloaded.configuration.applied {
            tracing::info!("configuration reloaded: {change}");
        }
        for change in &reloaded.configuration.restart_needed {
            tracing::warn!("configuration reload: not in force until a restart: {change}");
        }
        if settings_changed && !changed {
            self.pipeline.reconsider_sessions();
        }
        if changed {
            self.pipeline.replace_policy(policy);
            tracing::info!(
                version = %reloaded.version,
                previous = %reloaded.previous_version,
                policies = reloaded.policies,
                via,
                "policy reloaded: open sessions decide again what they decided at their start"
            );
        } else {
            tracing::info!(version = %reloaded.version, via, "policy reload: files unchanged");
        }
        for warning in &reloaded.warnings {
            tracing::warn!("policy: {warning}");
        }
        Ok(reloaded)
    }
}

impl PolicyReloader {
    /// Record, unsynced, that a reload was refused and why.
    async fn record_refusal(
        &self,
        by: AuditIdentity,
        via: &str,
        reason: &str,
        in_force: &PolicyEngine,
    ) {
        let event = AuditEvent::administrative(
            AuditEventKind::PolicyChange,
            by,
            "policy:reload",
            DecisionKind::Deny,
            Some(format!(
                "reload ({via}) refused, version {} stays in force: {reason}",
                in_force.version()
            )),
        );
        if let Err(error) = self.audit.append(&[event], Durability::Windowed).await {
            tracing::error!(%error, "a refused policy reload could not be recorded");
        }
    }
}

/// Reload on every `SIGHUP` until the process ends; the outcome goes to the log.
#[cfg(unix)]
pub async fn on_sighup(reloader: Arc<PolicyReloader>, operator: AuditIdentity) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP: reload the policy with `gatehouse policy reload`");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        if let Err(refused) = reloader.reload(operator.clone(), "SIGHUP").await {
            tracing::error!("policy reload refused: {refused}");
        }
    }
}
