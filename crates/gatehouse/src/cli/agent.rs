//! `gatehouse agent --config agent.toml`: run the network-resident agent. It dials out to the
//! gateway's agent listener, enrols with its one-time token on first contact (keeping the
//! credential it gets in `state_dir`, mode 0600), and opens sessions to its connections'
//! targets — PostgreSQL servers, Kubernetes API servers, HTTP APIs, SSH hosts (whose private
//! key signs the gateway's login here) — with credentials that never leave this machine.

use crate::cli::args::AgentArgs;
use crate::config::agent::AgentConfig;
use crate::config::kubernetes::KUBERNETES;
use anyhow::{Context, Result, anyhow, bail};
use gatehouse_core::SecretString;
use gatehouse_pg::{BuiltinConnector, PgLogin, PgLogins, PgTarget};
use gatehouse_session::{ByKind, TargetConnector};
use gatehouse_ssh_gateway::SshTargets;
use gatehouse_ssh_gateway::agent_login::AgentSshTargets;
use gatehouse_tunnel::{AgentSettings, CredentialStore, TunnelError, WorkloadToken};
use rustls::pki_types::ServerName;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Largest message accepted from a target (the gateway applies its own limit too).
const MAX_SERVER_MESSAGE: usize = 256 * 1024 * 1024;

/// The credential file in the agent's state directory.
struct CredentialFile {
    path: PathBuf,
}

impl CredentialStore for CredentialFile {
    fn load(&self) -> Result<Option<SecretString>, TunnelError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) if !text.trim().is_empty() => Ok(Some(SecretString::new(text.trim()))),
            Ok(_) => Ok(None),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(TunnelError::Credential(format!(
                "cannot read `{}`: {error}",
                self.path.display()
            ))),
        }
    }

    fn save(&self, credential: &SecretString) -> Result<(), TunnelError> {
        let staging = self.path.with_extension("tmp");
        let _ = std::fs::remove_file(&staging);
        crate::server::identity::write_private(&staging, credential.expose().as_bytes())
            .and_then(|()| {
                std::fs::rename(&staging, &self.path)
                    .with_context(|| format!("cannot write `{}`", self.path.display()))
            })
            .map_err(|e| TunnelError::Credential(format!("{e:#}")))?;
        tracing::info!(file = %self.path.display(), "enrolled: the agent's credential is stored");
        Ok(())
    }
}

/// Where the agent's workload identity token is read from, at every hello.
enum WorkloadSource {
    File(PathBuf),
    Env(String),
}

impl WorkloadToken for WorkloadSource {
    fn current(&self) -> Result<SecretString, TunnelError> {
        let text = match self {
            WorkloadSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                TunnelError::Credential(format!(
                    "cannot read the workload token file `{}`: {e}",
                    path.display()
                ))
            })?,
            WorkloadSource::Env(var) => std::env::var(var).map_err(|_| {
                TunnelError::Credential(format!(
                    "the environment variable `{var}` holding the workload token is not set"
                ))
            })?,
        };
        let token = text.trim();
        if token.is_empty() {
            return Err(TunnelError::Credential(
                "the workload token is empty".to_owned(),
            ));
        }
        Ok(SecretString::new(token))
    }
}

/// The agent's logins other than each connection's own: the gateway gives them to identities
/// outside the admin level, so they are checked at start like the gateway's.
fn agent_exposed_logins(logins: &[(String, PgLogin)]) -> Vec<(String, PgTarget, String)> {
    logins
        .iter()
        .filter(|(level, _)| level != gatehouse_core::ADMIN_LOGIN_LEVEL)
        .filter_map(|(level, login)| match login {
            PgLogin::Ready(target) => Some((
                level.clone(),
                target.clone(),
                "the groups the gateway maps to it".to_owned(),
            )),
            PgLogin::Unavailable { .. } => None,
        })
        .collect()
}

pub async fn run(args: AgentArgs) -> Result<ExitCode> {
    let mut config = AgentConfig::load(&args.config)?;
    if let Some(gateway) = args.gateway {
        config.gateway = gateway;
    }
    if let Some(ca_file) = args.ca_file {
        config.ca_file = ca_file;
    }
    let state_dir = config.resolve(&config.state_dir);
    std::fs::create_dir_all(&state_dir).with_context(|| {
        format!(
            "cannot create the state directory `{}`",
            state_dir.display()
        )
    })?;
    let credentials = Arc::new(CredentialFile {
        path: state_dir.join("agent.credential"),
    });
    let enrolment_token = config.enrolment_token()?;
    let workload_token: Option<Arc<dyn WorkloadToken>> =
        match (&config.workload_token_file, &config.workload_token_env) {
            (Some(file), _) => Some(Arc::new(WorkloadSource::File(config.resolve(file)))),
            (None, Some(var)) => Some(Arc::new(WorkloadSource::Env(var.clone()))),
            (None, None) => None,
        };
    if let Some(source) = &workload_token {
        source.current()?;
    } else if credentials.load()?.is_none() && enrolment_token.is_none() {
        bail!(
            "agent `{}` has no credential yet and no enrolment token: create one on the gateway with \
             `gatehouse agents create {}` and give it through `enrolment_token_env` or `enrolment_token_file`",
            config.name,
            config.name
        );
    }
    let mut logins = PgLogins::default();
    let mut login_levels = BTreeMap::new();
    let mut clusters = HashMap::new();
    let mut apis = HashMap::new();
    let mut ssh_logins = HashMap::new();
    let mut ssh_addresses = HashMap::new();
    let mut mysql_logins = HashMap::new();
    let mut mysql_connections = 0;
    for connection in &config.connections {
        if connection.kind == crate::config::mysql::MYSQL {
            let connection_logins = connection.mysql_logins_in(&config.base_dir)?;
            login_levels.insert(
                connection.name.clone(),
                connection_logins
                    .iter()
                    .map(|(level, _)| level.clone())
                    .collect(),
            );
            for (level, login) in connection_logins {
                mysql_logins.insert((connection.name.clone(), level), login);
            }
            mysql_connections += 1;
            continue;
        }
        if connection.kind == crate::config::ssh::SSH {
            ssh_logins.insert(
                connection.name.clone(),
                connection.ssh_agent_login(&config.base_dir)?,
            );
            ssh_addresses.insert(
                connection.name.clone(),
                (connection.host.clone(), connection.port()),
            );
            continue;
        }
        if connection.kind == crate::config::http::HTTP {
            let target = connection.http_target(&config.base_dir, config.connect_timeout)?;
            apis.insert(connection.name.clone(), Arc::new(target));
            continue;
        }
        if connection.kind == KUBERNETES {
            let target = connection.kube_target(&config.base_dir, config.connect_timeout)?;
            clusters.insert(connection.name.clone(), Arc::new(target));
            continue;
        }
        let connection_logins =
            crate::server::logins::connector_logins(connection, &config.base_dir, None)?;
        login_levels.insert(
            connection.name.clone(),
            connection_logins
                .iter()
                .map(|(level, _)| level.clone())
                .collect(),
        );
        tokio::spawn(crate::server::logins::check(
            connection.name.clone(),
            agent_exposed_logins(&connection_logins),
            config.connect_timeout,
        ));
        for (level, login) in connection_logins {
            logins.insert(&connection.name, &level, login);
        }
    }
    let connector = BuiltinConnector::new(logins, config.connect_timeout, MAX_SERVER_MESSAGE);
    let mut connectors: Vec<Arc<dyn TargetConnector>> = Vec::new();
    if clusters.len() + apis.len() + ssh_logins.len() + mysql_connections < config.connections.len()
    {
        connectors.push(Arc::new(gatehouse_pg::PostgresTargets::new(Arc::new(
            connector,
        ))));
    }
    if !clusters.is_empty() {
        connectors.push(Arc::new(gatehouse_k8s_gateway::kube_targets(clusters)));
    }
    if !apis.is_empty() {
        connectors.push(Arc::new(gatehouse_httpapi_gateway::http_targets(apis)));
    }
    if mysql_connections > 0 {
        connectors.push(Arc::new(gatehouse_mysql::MysqlTargets::new(
            mysql_logins,
            config.connect_timeout,
        )));
    }
    if !ssh_logins.is_empty() {
        // The gateway speaks SSH to the target over the stream this agent opens; the private
        // key stays here and signs only the login's userauth request.
        connectors.push(Arc::new(AgentSshTargets {
            dial: SshTargets {
                addresses: ssh_addresses,
                connect_timeout: config.connect_timeout,
            },
            logins: ssh_logins,
        }));
    }
    let host = config
        .gateway
        .rsplit_once(':')
        .map(|(host, _)| host.trim_matches(['[', ']']).to_owned())
        .ok_or_else(|| anyhow!("gateway `{}` is not HOST:PORT", config.gateway))?;
    let server_name = ServerName::try_from(host.clone())
        .map_err(|_| anyhow!("`{host}` is not a host name or IP address"))?;
    let ca_file = config.resolve(&config.ca_file);
    let tls = gatehouse_pg::client_config_trusting(&ca_file)
        .context("the gateway's CA file (`ca_file` in the agent's config)")?;
    let settings = Arc::new(AgentSettings {
        name: config.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        gateway: config.gateway.clone(),
        server_name: server_name.to_owned(),
        tls: Arc::new(tls),
        connector: Arc::new(ByKind::new(connectors)),
        connections: config.connections.iter().map(|c| c.name.clone()).collect(),
        login_levels,
        enrolment_token,
        credentials,
        workload_token,
    });
    tracing::info!(
        agent = %settings.name,
        gateway = %settings.gateway,
        connections = ?settings.connections,
        "agent starting"
    );
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(gatehouse_tunnel::run_agent(settings, shutdown_rx));
    tokio::pin!(agent);
    let outcome = tokio::select! {
        outcome = &mut agent => outcome,
        () = crate::server::serve::wait_for_signal() => {
            tracing::info!("stopping the agent");
            let _ = shutdown_tx.send(true);
            agent.await
        }
    };
    match outcome {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(error)) => Err(anyhow!(error)),
        Err(join) => Err(anyhow!("the agent task failed: {join}")),
    }
}
