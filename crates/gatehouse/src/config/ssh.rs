//! `[ssh]` (the listener SSH clients talk to, gatehouse's host key and user CA, how long its
//! certificates and a session may last) and the keys of a `kind = "ssh"` connection: the target's `host` and
//! `port`, the login `user`, gatehouse's credential there (`private_key_file`,
//! `private_key_env`, or `password_file`/`password_env`) and the target's pinned `host_key` —
//! in the gateway's config, or for a connection served by agents in the agents' own (the
//! gateway's then names only the `agents`; the agents keep the private key and sign the login).

use crate::config::{
    ConfigSide, ConnectionConfig, humantime_serde_compat, parse_addr, resolve_from,
};
use anyhow::{Context, Result, bail};
use gatehouse_core::{ConnectionKind, SecretString};
use gatehouse_ssh_gateway::agent_login::AgentSshLogin;
use gatehouse_ssh_gateway::{SshTarget, TargetCredential, TargetLogin};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The kind of an SSH connection.
pub const SSH: ConnectionKind = gatehouse_ssh_gateway::SSH;

/// Where the quickstart's SSH listener is.
pub const QUICKSTART_SSH_LISTEN: &str = "127.0.0.1:12222";

/// `[ssh]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshListenerConfig {
    pub listen: SocketAddr,
    /// gatehouse's host key (default: `ssh_host_ed25519_key` in the data directory, created
    /// on first start).
    pub host_key_file: Option<PathBuf>,
    /// The user certificate authority `gatehouse ssh-cert` certificates are signed with
    /// (default: `ssh_user_ca_key` in the data directory, created on first start).
    pub user_ca_key_file: Option<PathBuf>,
    /// The longest a `gatehouse ssh-cert` certificate is valid (it also ends when the token it
    /// was issued for expires).
    #[serde(with = "humantime_serde_compat")]
    pub certificate_validity: Duration,
    /// Client connections open at once.
    pub max_sessions: usize,
    /// How long a session may last whatever its token's expiry (a revocation ends it at once).
    #[serde(with = "humantime_serde_compat")]
    pub max_session_length: Duration,
    /// Time a client has from connecting to being logged in.
    #[serde(with = "humantime_serde_compat")]
    pub login_timeout: Duration,
    /// Time a target has to accept the connection and gatehouse's login.
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// How long open sessions get to finish at shutdown.
    #[serde(with = "humantime_serde_compat")]
    pub shutdown_grace: Duration,
}

impl Default for SshListenerConfig {
    fn default() -> Self {
        let limits = gatehouse_ssh_gateway::SshLimits::default();
        SshListenerConfig {
            listen: parse_addr(QUICKSTART_SSH_LISTEN),
            host_key_file: None,
            user_ca_key_file: None,
            certificate_validity: Duration::from_secs(12 * 60 * 60),
            max_sessions: limits.max_sessions,
            max_session_length: limits.max_session_length,
            login_timeout: limits.login_time,
            connect_timeout: Duration::from_secs(10),
            shutdown_grace: limits.shutdown_grace,
        }
    }
}

impl SshListenerConfig {
    pub fn limits(&self) -> gatehouse_ssh_gateway::SshLimits {
        gatehouse_ssh_gateway::SshLimits {
            max_sessions: self.max_sessions,
            max_session_length: self.max_session_length,
            login_time: self.login_timeout,
            shutdown_grace: self.shutdown_grace,
        }
    }

    /// gatehouse's host key file.
    pub fn host_key_path(&self, data_dir: &Path) -> PathBuf {
        self.host_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("ssh_host_ed25519_key"))
    }

    /// The user CA's key file.
    pub fn user_ca_path(&self, data_dir: &Path) -> PathBuf {
        self.user_ca_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("ssh_user_ca_key"))
    }
}

impl ConnectionConfig {
    /// An SSH connection names its target host, the login, one credential and the pinned host
    /// key; the other kinds' keys mean nothing for it.
    pub(crate) fn validate_ssh(&self, side: ConfigSide) -> Result<()> {
        let name = &self.name;
        let foreign = [
            ("database", !self.database.is_empty()),
            ("logins", !self.logins.is_empty()),
            ("default_level", self.default_level.is_some()),
            ("masking", self.masking.is_some()),
            ("url", self.url.is_some()),
            ("token_file", self.token_file.is_some()),
            ("token_env", self.token_env.is_some()),
            ("client_cert_file", self.client_cert_file.is_some()),
            ("client_key_file", self.client_key_file.is_some()),
            ("kubeconfig", self.kubeconfig.is_some()),
            ("context", self.context.is_some()),
            ("impersonate", self.impersonate.is_some()),
            ("ca_file", self.ca_file.is_some()),
        ];
        if let Some((field, _)) = foreign.iter().find(|(_, set)| *set) {
            bail!(
                "connection `{name}` is `kind = \"ssh\"`: `{field}` is not an SSH connection key; an SSH connection has `host`, `port`, `user`, one credential (`private_key_file`, `private_key_env`, `password_file` or `password_env`) and `host_key`"
            );
        }
        if side == ConfigSide::GatewayAgents {
            return self.validate_ssh_agents();
        }
        if self.host.is_empty() {
            bail!("connection `{name}` needs `host`, the SSH target's address");
        }
        if self.user.is_empty() {
            bail!("connection `{name}` needs `user`, the login gatehouse uses on the target");
        }
        let Some(host_key) = &self.host_key else {
            bail!(
                "connection `{name}` needs `host_key`, the target's public host key (`ssh-keyscan -t ed25519 {}` prints it) or its SHA-256 fingerprint (`SHA256:...`, from `ssh-keygen -lf`): gatehouse refuses targets whose key it cannot check",
                self.host
            );
        };
        gatehouse_ssh_gateway::keys::HostKeyPin::parse(host_key)
            .with_context(|| format!("connection `{name}`: `host_key`"))?;
        let credentials = [
            self.private_key_file.is_some(),
            self.private_key_env.is_some(),
            self.password_file.is_some(),
            self.password_env.is_some(),
        ];
        if side == ConfigSide::Agent
            && (self.password_file.is_some() || self.password_env.is_some())
        {
            bail!(
                "connection `{name}`: an agent logs in to SSH targets with a private key only (`private_key_file` or `private_key_env`, Ed25519): the gateway speaks SSH to the target and the agent signs its login, so a password would have to leave the agent"
            );
        }
        match credentials.iter().filter(|set| **set).count() {
            1 => Ok(()),
            0 => bail!(
                "connection `{name}` needs a credential for `{}`: `private_key_file` (best), `private_key_env`, `password_file` or `password_env`",
                self.user
            ),
            _ => bail!(
                "connection `{name}` names more than one credential; keep one of `private_key_file`, `private_key_env`, `password_file`, `password_env`"
            ),
        }
    }

    /// An SSH connection served by agents: the target's address, login, private key and host
    /// key are the agents' business (the agents say the user and host key when they open the
    /// target, and sign the login; the gateway's config holds nothing of the target).
    fn validate_ssh_agents(&self) -> Result<()> {
        self.validate_agent_names()?;
        let target = [
            ("host", !self.host.is_empty()),
            ("port", self.port_set.is_some()),
            ("user", !self.user.is_empty()),
            ("private_key_file", self.private_key_file.is_some()),
            ("private_key_env", self.private_key_env.is_some()),
            ("password_file", self.password_file.is_some()),
            ("password_env", self.password_env.is_some()),
            ("host_key", self.host_key.is_some()),
        ];
        match target.iter().find(|(_, set)| *set) {
            Some((field, _)) => bail!(
                "connection `{}` is served by agents, so `{field}` belongs in the agents' own config, not the gateway's \
                 (the gateway never holds an agent-served target's address, login, key or host key)",
                self.name
            ),
            None => Ok(()),
        }
    }

    /// The SSH-only keys on a connection of another kind.
    pub(crate) fn validate_not_ssh(&self) -> Result<()> {
        let ssh_only = [
            ("private_key_file", self.private_key_file.is_some()),
            ("private_key_env", self.private_key_env.is_some()),
            ("host_key", self.host_key.is_some()),
        ];
        match ssh_only.iter().find(|(_, set)| *set) {
            Some((field, _)) => bail!(
                "connection `{}` is `kind = \"{}\"`: `{field}` is an SSH connection key",
                self.name,
                self.kind.as_str()
            ),
            None => Ok(()),
        }
    }

    /// The adapter's view of this connection's target, opened through `opener`.
    pub fn ssh_target(
        &self,
        base_dir: &Path,
        opener: Arc<dyn gatehouse_session::TargetConnector>,
        login_time: Duration,
    ) -> Result<SshTarget> {
        let name = &self.name;
        let env = |var: &str, key: &str| {
            std::env::var(var).with_context(|| {
                format!("connection `{name}`: environment variable `{var}` ({key}) is not set")
            })
        };
        let read = |path: &Path, key: &str| {
            let path = resolve_from(base_dir, path);
            std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "connection `{name}`: cannot read {key} `{}`",
                    path.display()
                )
            })
        };
        let private_key = |text: String| -> Result<TargetCredential> {
            let key = russh::keys::PrivateKey::from_openssh(text.as_bytes()).map_err(|error| {
                anyhow::anyhow!(
                    "connection `{name}`: the private key is not an unencrypted OpenSSH private key ({error}); `ssh-keygen -p -N '' -f FILE` removes a passphrase"
                )
            })?;
            Ok(TargetCredential::PrivateKey(Arc::new(key)))
        };
        let credential = if let Some(file) = &self.private_key_file {
            private_key(read(file, "private_key_file")?)?
        } else if let Some(var) = &self.private_key_env {
            private_key(env(var, "private_key_env")?)?
        } else if let Some(file) = &self.password_file {
            TargetCredential::Password(SecretString::new(
                read(file, "password_file")?.trim_end_matches(['\r', '\n']),
            ))
        } else if let Some(var) = &self.password_env {
            TargetCredential::Password(SecretString::new(env(var, "password_env")?))
        } else {
            bail!("connection `{name}` has no credential");
        };
        let host_key = gatehouse_ssh_gateway::keys::HostKeyPin::parse(
            self.host_key.as_deref().unwrap_or_default(),
        )
        .with_context(|| format!("connection `{name}`: `host_key`"))?;
        Ok(SshTarget {
            info: Arc::new(self.info()),
            login: TargetLogin::Held {
                user: self.user.clone(),
                credential,
                host_key,
            },
            opener,
            login_time,
        })
    }

    /// The adapter's view of a connection served by `agents`: nothing of the target.
    pub fn ssh_target_through_agents(
        &self,
        agents: Arc<dyn gatehouse_session::TargetConnector>,
        login_time: Duration,
    ) -> SshTarget {
        SshTarget {
            info: Arc::new(self.info()),
            login: TargetLogin::AtAgent,
            opener: agents,
            login_time,
        }
    }

    /// The login an agent holds for this connection of its config: the user, the private key
    /// (Ed25519, unencrypted) and the target's host key.
    pub fn ssh_agent_login(&self, base_dir: &Path) -> Result<AgentSshLogin> {
        let name = &self.name;
        let text = if let Some(file) = &self.private_key_file {
            let path = resolve_from(base_dir, file);
            std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "connection `{name}`: cannot read private_key_file `{}`",
                    path.display()
                )
            })?
        } else if let Some(var) = &self.private_key_env {
            std::env::var(var).with_context(|| {
                format!(
                    "connection `{name}`: environment variable `{var}` (private_key_env) is not set"
                )
            })?
        } else {
            bail!("connection `{name}` has no private key");
        };
        let key = russh::keys::PrivateKey::from_openssh(text.as_bytes()).map_err(|error| {
            anyhow::anyhow!(
                "connection `{name}`: the private key is not an OpenSSH private key ({error})"
            )
        })?;
        gatehouse_ssh_gateway::agent_login::check_agent_key(&key)
            .with_context(|| format!("connection `{name}`"))?;
        let host_key = gatehouse_ssh_gateway::keys::HostKeyPin::parse(
            self.host_key.as_deref().unwrap_or_default(),
        )
        .with_context(|| format!("connection `{name}`: `host_key`"))?;
        Ok(AgentSshLogin {
            user: self.user.clone(),
            key: Arc::new(key),
            host_key,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::config::Config;
    use std::path::Path;

    fn refusal(connection: &str) -> String {
        let text = format!("[[connections]]\nname = \"box\"\nkind = \"ssh\"\n{connection}");
        match Config::parse(&text, Path::new("/etc/gatehouse/gatehouse.toml")) {
            Ok(_) => String::new(),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn an_agent_served_ssh_connection_names_only_its_agents_in_the_gateways_config() {
        assert_eq!(refusal("agents = [\"dc1\"]\n"), "");
        for field in [
            "host = \"10.0.0.5\"",
            "port = 22",
            "user = \"deploy\"",
            "private_key_file = \"k\"",
            "private_key_env = \"K\"",
            "password_env = \"P\"",
            "host_key = \"ssh-ed25519 AAAA\"",
        ] {
            let name = field.split(' ').next().unwrap();
            assert!(
                refusal(&format!("agents = [\"dc1\"]\n{field}\n")).contains(&format!(
                    "served by agents, so `{name}` belongs in the agents' own config"
                )),
                "{field}"
            );
        }
        assert!(refusal("agents = [\"dc 1\"]\n").contains("dc 1"));
    }
}
