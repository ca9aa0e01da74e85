//! Reloading the `[[connections]]` of the configuration file with the policy, where that is
//! safe while sessions run: a connection's masking, whether it records result rows, its
//! description, environment and tags (resource attributes policy reads), and removing a
//! connection (new sessions are refused, open ones end). Masking changes end the open sessions
//! on that connection, which connect again under the new rules; a masked statement cannot
//! switch rules halfway. What a session dials — the target, its credentials, server logins,
//! agents — and new connections need a restart: they are reported, and the running gateway
//! keeps what it started with. Kubernetes connections are read but not reloaded: any change
//! to one is reported as needing a restart.

use crate::config::ConnectionConfig;
use crate::config::setup::Setup;
use gatehouse_mask::MaskConfig;
use gatehouse_pg::{ConnectionSettings, PgGateway};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// What a configuration reload changed, for the reload's answer and its audit event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigurationChanges {
    /// Changes in force now.
    pub applied: Vec<String>,
    /// Changes the file holds that only a restart puts in force.
    pub restart_needed: Vec<String>,
}

/// A configuration read and checked, ready to be put in force.
pub struct PreparedConnections {
    settings: ConnectionSettings,
    masking: HashMap<String, MaskConfig>,
    pub changes: ConfigurationChanges,
}

/// Reloads the connections of one configuration file into a running gateway.
pub struct ConnectionsReload {
    config_path: PathBuf,
    data_dir: Option<PathBuf>,
    gateway: Arc<PgGateway>,
    /// What only a restart changes, per connection, as the gateway started with it.
    started: HashMap<String, String>,
    /// Each connection's masking configuration as last put in force.
    masking_in_force: Mutex<HashMap<String, MaskConfig>>,
    /// The Kubernetes connections the gateway started with (served until a restart).
    started_kubernetes: Vec<String>,
}

impl ConnectionsReload {
    /// For the gateway `setup` started, read again from `config_path` (and `data_dir`).
    pub fn new(
        config_path: PathBuf,
        data_dir: Option<PathBuf>,
        setup: &Setup,
        gateway: Arc<PgGateway>,
    ) -> Self {
        ConnectionsReload {
            config_path,
            data_dir,
            gateway,
            started: setup
                .config
                .connections
                .iter()
                .map(|c| (c.name.clone(), restart_only(c)))
                .collect(),
            masking_in_force: Mutex::new(masking_configs(setup)),
            started_kubernetes: setup
                .config
                .connections
                .iter()
                .filter(|c| c.kind == crate::config::kubernetes::KUBERNETES)
                .map(|c| c.name.clone())
                .collect(),
        }
    }

    /// Read and check the configuration file and work out what changes; nothing is in force
    /// yet. An error says why the file was refused.
    pub fn prepare(&self) -> Result<PreparedConnections, String> {
        let setup = Setup::load(Some(&self.config_path), self.data_dir.as_deref())
            .map_err(|error| format!("{error:#}"))?;
        let current = self.gateway.connection_settings.current();
        let masking_in_force = self
            .masking_in_force
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut changes = ConfigurationChanges::default();
        let mut settings = ConnectionSettings::default();
        for connection in &setup.config.connections {
            let name = &connection.name;
            if connection.kind == crate::config::kubernetes::KUBERNETES
                || connection.kind == crate::config::ssh::SSH
                || connection.kind == crate::config::mysql::MYSQL
            {
                if self.started.get(name) != Some(&restart_only(connection)) {
                    changes.restart_needed.push(format!(
                        "{} connection `{name}` is new or changed: restart gatehouse to put it in force",
                        connection.kind.as_str()
                    ));
                }
                continue;
            }
            match self.started.get(name) {
                None => {
                    changes.restart_needed.push(format!(
                        "connection `{name}` is new: restart gatehouse to serve it"
                    ));
                    continue;
                }
                Some(started) if *started != restart_only(connection) => {
                    changes.restart_needed.push(format!(
                        "connection `{name}`: its target, credentials, server logins or agents changed; it keeps the ones it started with until gatehouse restarts"
                    ));
                }
                Some(_) => {}
            }
            let info = Arc::new(connection.info());
            let info = match current.connections.get(name) {
                Some(old) if **old == *info => old.clone(),
                Some(_) => {
                    changes.applied.push(format!(
                        "connection `{name}`: description, environment or tags changed (for sessions that start from now on)"
                    ));
                    info
                }
                None => {
                    changes.applied.push(format!(
                        "connection `{name}` is served again (with the target it started with)"
                    ));
                    info
                }
            };
            settings.connections.insert(name.clone(), info);
            let masking = match (&connection.masking, masking_in_force.get(name)) {
                (Some(new), Some(old)) if new == old => current.masking.get(name).cloned(),
                (Some(new), _) => {
                    changes.applied.push(format!(
                        "connection `{name}`: masking changed; its open sessions end and connect again under the new rules"
                    ));
                    Some(
                        setup
                            .connection_masking(name, new)
                            .map_err(|error| format!("{error:#}"))?,
                    )
                }
                (None, Some(_)) => {
                    changes.applied.push(format!(
                        "connection `{name}`: masking removed; its open masked sessions end"
                    ));
                    None
                }
                (None, None) => None,
            };
            if let Some(masking) = masking {
                settings.masking.insert(name.clone(), masking);
            }
            if connection.record_results {
                settings.record_results.insert(name.clone());
            }
            if connection.record_results != current.record_results.contains(name) {
                changes.applied.push(format!(
                    "connection `{name}`: result rows are {} recorded (for sessions that start from now on)",
                    if connection.record_results { "now" } else { "no longer" }
                ));
            }
        }
        for name in &self.started_kubernetes {
            if !setup.config.connections.iter().any(|c| &c.name == name) {
                changes.restart_needed.push(format!(
                    "Kubernetes connection `{name}` was removed: it is served until gatehouse restarts"
                ));
            }
        }
        let mut removed: Vec<&String> = current
            .connections
            .keys()
            .filter(|name| !settings.connections.contains_key(*name))
            .collect();
        removed.sort();
        for name in removed {
            changes.applied.push(format!(
                "connection `{name}` removed: new sessions to it are refused and open ones end"
            ));
        }
        Ok(PreparedConnections {
            settings,
            masking: masking_configs(&setup),
            changes,
        })
    }

    /// Put `prepared` in force for sessions that start from now on. Open sessions learn of it
    /// when the pipeline tells them to decide again (the caller does, after this).
    pub fn apply(&self, prepared: PreparedConnections) {
        let mut masking = prepared.masking;
        masking.retain(|name, _| prepared.settings.connections.contains_key(name));
        *self
            .masking_in_force
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = masking;
        self.gateway.connection_settings.replace(prepared.settings);
    }
}

/// The masking configuration of each connection that has one.
fn masking_configs(setup: &Setup) -> HashMap<String, MaskConfig> {
    setup
        .config
        .connections
        .iter()
        .filter_map(|c| Some((c.name.clone(), c.masking.clone()?)))
        .collect()
}

/// What of `connection` only a restart changes (how sessions reach its target), as one
/// comparable text.
fn restart_only(connection: &ConnectionConfig) -> String {
    format!(
        "{:?}",
        (
            (connection.kind, &connection.agents),
            &connection.host,
            connection.port(),
            (
                &connection.private_key_file,
                &connection.private_key_env,
                &connection.host_key,
            ),
            &connection.database,
            &connection.user,
            &connection.password_env,
            &connection.password_file,
            connection.tls,
            &connection.ca_file,
            &connection.logins,
            &connection.default_level,
        )
    ) + &format!(
        "{:?}",
        (
            &connection.url,
            &connection.token_file,
            &connection.token_env,
            &connection.client_cert_file,
            &connection.client_key_file,
            &connection.impersonate,
            &connection.kubeconfig,
            &connection.context,
        )
    )
}
