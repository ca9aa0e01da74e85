//! Configuration for network-resident agents: the gateway's `[agents]` section (where agents
//! dial in, how long an enrolment token lives) and the agent's own TOML file (`gatehouse
//! agent --config agent.toml`): its name, the gateway, and the connections it serves with the
//! target credentials that stay on the agent's machine.

use crate::config::{ConfigSide, ConnectionConfig, humantime_serde_compat};
use anyhow::{Context, Result, anyhow, bail};
use gatehouse_core::SecretString;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where agents dial in by default (quickstart: loopback; open it up with `[agents] listen`).
pub const DEFAULT_AGENT_LISTEN: &str = "127.0.0.1:8010";

/// `[agents]` in the gateway's config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// The agent listener (TLS, with the gateway's certificate). Started only when some
    /// connection names `agents`.
    pub listen: SocketAddr,
    /// How long an enrolment token from `gatehouse agents create` stays usable.
    #[serde(with = "humantime_serde_compat")]
    pub enrolment_ttl: Duration,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            listen: DEFAULT_AGENT_LISTEN
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8010))),
            enrolment_ttl: Duration::from_secs(3600),
        }
    }
}

/// The agent's own config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The agent's name, as created with `gatehouse agents create NAME`.
    pub name: String,
    /// The gateway's agent listener, `host:port`.
    pub gateway: String,
    /// The gateway's CA certificate (PEM), to verify the gateway with.
    pub ca_file: PathBuf,
    /// Where the agent keeps the credential it gets at enrolment (`agent.credential`, 0600).
    pub state_dir: PathBuf,
    /// The one-time enrolment token, from an environment variable or a file (needed only
    /// until the agent holds a credential).
    pub enrolment_token_env: Option<String>,
    pub enrolment_token_file: Option<PathBuf>,
    /// Or authenticate with a workload identity token, read anew at every connection (for
    /// agents created with `--workload-provider/--workload-subject`).
    pub workload_token_file: Option<PathBuf>,
    pub workload_token_env: Option<String>,
    /// How long opening a target session may take.
    #[serde(default = "default_connect_timeout", with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// The connections this agent serves, with their targets and credentials (the same
    /// fields as a gateway's directly served connection), and in `[[connections.logins]]`
    /// the `user` and password of each server login level the gateway may ask for.
    pub connections: Vec<ConnectionConfig>,
    /// Where relative paths are resolved from (the file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the agent config `{}`", path.display()))?;
        let mut config: AgentConfig = toml::from_str(&text)
            .map_err(|e| anyhow!("invalid agent config `{}`: {e}", path.display()))?;
        config.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if !gatehouse_store::valid_agent_name(&self.name) {
            bail!(
                "agent name `{}` is not valid: letters, digits, `-`, `_`, `.` (as given to `gatehouse agents create`)",
                self.name
            );
        }
        if self.connections.is_empty() {
            bail!("the agent config lists no [[connections]]: an agent serves at least one");
        }
        let mut seen = std::collections::HashSet::new();
        for connection in &self.connections {
            if !seen.insert(connection.name.as_str()) {
                bail!("connection `{}` is defined twice", connection.name);
            }
            if !connection.agents.is_empty() {
                bail!(
                    "connection `{}`: `agents` belongs in the gateway's config; the agent's config says how to reach the target",
                    connection.name
                );
            }
            if connection.kind == crate::config::http::HTTP {
                connection.validate_http(ConfigSide::Agent)?;
                continue;
            }
            connection.validate_not_http()?;
            if connection.kind == crate::config::ssh::SSH {
                connection.validate_ssh(ConfigSide::Agent)?;
                continue;
            }
            connection.validate_not_ssh()?;
            if connection.kind == crate::config::kubernetes::KUBERNETES {
                connection.validate_kubernetes(ConfigSide::Agent)?;
                continue;
            }
            connection.validate_not_kubernetes()?;
            connection.validate_logins(ConfigSide::Agent)?;
        }
        if self.enrolment_token_env.is_some() && self.enrolment_token_file.is_some() {
            bail!("set `enrolment_token_env` or `enrolment_token_file`, not both");
        }
        if self.workload_token_env.is_some() && self.workload_token_file.is_some() {
            bail!("set `workload_token_env` or `workload_token_file`, not both");
        }
        Ok(())
    }

    pub fn resolve(&self, path: &Path) -> PathBuf {
        crate::config::resolve_from(&self.base_dir, path)
    }

    /// The enrolment token, when one is configured and set.
    pub fn enrolment_token(&self) -> Result<Option<SecretString>> {
        let text = match (&self.enrolment_token_env, &self.enrolment_token_file) {
            (Some(var), _) => std::env::var(var).ok(),
            (None, Some(file)) => {
                let path = self.resolve(file);
                match std::fs::read_to_string(&path) {
                    Ok(text) => Some(text),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                    Err(error) => {
                        return Err(error).with_context(|| {
                            format!("cannot read the enrolment token file `{}`", path.display())
                        });
                    }
                }
            }
            (None, None) => None,
        };
        Ok(text
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(SecretString::new))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn refusal(connection: &str) -> String {
        let text = format!(
            "name = \"dc1\"\ngateway = \"g:8010\"\nca_file = \"ca.pem\"\nstate_dir = \"state\"\n\
             [[connections]]\nname = \"cluster\"\n{connection}"
        );
        let config: AgentConfig = toml::from_str(&text).unwrap();
        match config.validate() {
            Ok(()) => String::new(),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn an_agents_kubernetes_connection_has_the_cluster_and_leaves_impersonation_to_the_gateway() {
        let cluster = "kind = \"kubernetes\"\nurl = \"https://10.0.0.1:6443\"\nca_file = \"ca.pem\"\ntoken_file = \"t\"\n";
        assert_eq!(refusal(cluster), "");
        assert!(
            refusal("kind = \"kubernetes\"\nca_file = \"ca.pem\"\ntoken_file = \"t\"\n")
                .contains("needs `url`")
        );
        assert!(
            refusal(&format!("{cluster}token_env = \"T\"\n")).contains("exactly one credential")
        );
        assert!(
            refusal(&format!("{cluster}[connections.impersonate]\n"))
                .contains("belongs in the gateway's config")
        );
        assert!(
            refusal("kind = \"postgres\"\nhost = \"h\"\ndatabase = \"d\"\nuser = \"u\"\nurl = \"https://x\"\n")
                .contains("`url` is a Kubernetes key")
        );
    }

    #[test]
    fn an_agents_ssh_connection_has_the_target_its_login_key_and_host_key() {
        let target = "kind = \"ssh\"\nhost = \"10.0.0.5\"\nuser = \"deploy\"\nhost_key = \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\"\n";
        assert_eq!(refusal(&format!("{target}private_key_file = \"k\"\n")), "");
        assert!(refusal(&format!("{target}password_env = \"P\"\n")).contains("private key only"));
        assert!(
            refusal(&format!(
                "{target}private_key_file = \"k\"\ndatabase = \"d\"\n"
            ))
            .contains("`database` is not an SSH connection key")
        );
        assert!(
            refusal("kind = \"postgres\"\nhost = \"h\"\ndatabase = \"d\"\nuser = \"u\"\nhost_key = \"x\"\n")
                .contains("`host_key` is an SSH connection key")
        );
    }
}
