//! The MySQL listener `gatehouse serve` opens when a connection is `kind = "mysql"`: the
//! connections' server logins by level (for the quickstart's `demo-mysql`, least-privileged
//! accounts created on the local MariaDB at start), their masking, and the agents that serve
//! the ones the gateway does not reach itself.

use crate::config::ConnectionConfig;
use crate::config::mysql::MYSQL;
use crate::config::setup::Setup;
use crate::server::http_listener::ListenerParts;
use anyhow::{Context, Result};
use gatehouse_mysql::{MysqlGateway, MysqlLogin, MysqlTargets};
use gatehouse_session::TargetConnector;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The bound MySQL listener and what serves it.
pub struct MysqlListener {
    pub address: SocketAddr,
    listener: TcpListener,
    gateway: Arc<MysqlGateway>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl MysqlListener {
    pub async fn serve(self) {
        gatehouse_mysql::serve(self.gateway, self.listener, self.shutdown).await;
    }
}

/// The listener, bound, when some connection is a MySQL one; `None` otherwise.
pub async fn prepare(setup: &Setup, parts: &ListenerParts<'_>) -> Result<Option<MysqlListener>> {
    let config = &setup.config;
    let connections: Vec<&ConnectionConfig> = config
        .connections
        .iter()
        .filter(|c| c.kind == MYSQL)
        .collect();
    if connections.is_empty() {
        return Ok(None);
    }
    let mut logins = HashMap::new();
    let mut login_levels = HashMap::new();
    let mut masking = HashMap::new();
    for connection in &connections {
        if let Some(levels) = connection.login_levels() {
            login_levels.insert(connection.name.clone(), levels);
        }
        if let Some(mask) = &connection.masking {
            let masker = setup.masker(mask).with_context(|| {
                format!("[connections.masking] of connection `{}`", connection.name)
            })?;
            masking.insert(connection.name.clone(), Arc::new(masker));
        }
        if !connection.agents.is_empty() {
            continue;
        }
        if setup.quickstart {
            crate::server::quickstart_mysql::provision(setup, connection).await;
        }
        for (level, login) in connection.mysql_logins_in(&config.base_dir)? {
            logins.insert((connection.name.clone(), level), login);
        }
    }
    let builtin: Arc<dyn TargetConnector> =
        Arc::new(MysqlTargets::new(logins, config.mysql.connect_timeout));
    let connector: Arc<dyn TargetConnector> = match parts.agents {
        Some(hub) if connections.iter().any(|c| !c.agents.is_empty()) => {
            Arc::new(gatehouse_tunnel::RoutedConnector::new(builtin, hub.clone()))
        }
        _ => builtin,
    };
    let services = parts.session_services();
    let gateway = MysqlGateway {
        pipeline: services.pipeline,
        authenticator: services.authenticator,
        connector,
        connections: connections
            .iter()
            .map(|c| (c.name.clone(), Arc::new(c.info())))
            .collect(),
        login_levels,
        masking,
        record_results: connections
            .iter()
            .filter(|c| c.record_results)
            .map(|c| c.name.clone())
            .collect(),
        tls: tokio_rustls::TlsAcceptor::from(parts.server_tls.clone()),
        live: services.live,
        limits: config.mysql.limits(),
    };
    let listener = TcpListener::bind(config.mysql.listen)
        .await
        .with_context(|| format!("cannot listen for MySQL clients on {}", config.mysql.listen))?;
    Ok(Some(MysqlListener {
        address: listener.local_addr()?,
        listener,
        gateway: Arc::new(gateway),
        shutdown: services.shutdown,
    }))
}

/// The admin login of a directly served MySQL connection (its own `user`).
pub fn admin_login(setup: &Setup, connection: &ConnectionConfig) -> Result<MysqlLogin> {
    connection
        .mysql_logins_in(&setup.config.base_dir)?
        .into_iter()
        .find(|(level, _)| level == gatehouse_core::ADMIN_LOGIN_LEVEL)
        .map(|(_, login)| login)
        .with_context(|| format!("connection `{}` has no admin login", connection.name))
}
