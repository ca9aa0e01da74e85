//! `[mysql]` (the listener MySQL and MariaDB clients talk to, always over TLS) and what a
//! `kind = "mysql"` connection's keys become: the server logins the MySQL adapter's built-in
//! connector authenticates with, one per access level, like a PostgreSQL connection's.

use crate::config::{ConnectionConfig, humantime_serde_compat, parse_addr};
use anyhow::Result;
use gatehouse_core::ConnectionKind;
use gatehouse_mysql::{MysqlLimits, MysqlLogin, UpstreamTls};
use gatehouse_pg::PgTarget;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The kind of a MySQL or MariaDB connection.
pub const MYSQL: ConnectionKind = gatehouse_mysql::MYSQL;

/// Where the quickstart's MySQL listener is.
pub const QUICKSTART_MYSQL_LISTEN: &str = "127.0.0.1:13306";

/// `[mysql]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MysqlListenerConfig {
    pub listen: SocketAddr,
    /// Client connections open at once.
    pub max_sessions: usize,
    /// The largest message a client or server may send (a query, a row), in bytes.
    pub max_message_bytes: usize,
    /// Time a client has from connecting to being logged in.
    #[serde(with = "humantime_serde_compat")]
    pub login_timeout: Duration,
    /// Time a server has to accept the connection and gatehouse's login.
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// How long open sessions get to finish at shutdown.
    #[serde(with = "humantime_serde_compat")]
    pub shutdown_grace: Duration,
}

impl Default for MysqlListenerConfig {
    fn default() -> Self {
        let limits = MysqlLimits::default();
        MysqlListenerConfig {
            listen: parse_addr(QUICKSTART_MYSQL_LISTEN),
            max_sessions: limits.max_sessions,
            max_message_bytes: limits.max_message,
            login_timeout: limits.login_time,
            connect_timeout: Duration::from_secs(10),
            shutdown_grace: limits.shutdown_grace,
        }
    }
}

impl MysqlListenerConfig {
    pub fn limits(&self) -> MysqlLimits {
        MysqlLimits {
            max_sessions: self.max_sessions,
            max_message: self.max_message_bytes,
            login_time: self.login_timeout,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

impl ConnectionConfig {
    /// Every server login of this MySQL connection by level: `admin` (its own) first, then
    /// each `[[connections.logins]]` entry's, all reaching the same server and database.
    pub fn mysql_logins_in(&self, base_dir: &Path) -> Result<Vec<(String, MysqlLogin)>> {
        Ok(self
            .logins_in(base_dir)?
            .into_iter()
            .map(|(level, target)| (level, mysql_login(target)))
            .collect())
    }
}

/// The same target and credentials, as the MySQL connector takes them.
fn mysql_login(target: PgTarget) -> MysqlLogin {
    MysqlLogin {
        host: target.host,
        port: target.port,
        user: target.user,
        password: target.password,
        database: target.database,
        tls: match target.tls {
            gatehouse_pg::UpstreamTls::Disable => UpstreamTls::Disable,
            gatehouse_pg::UpstreamTls::Require => UpstreamTls::Require,
            gatehouse_pg::UpstreamTls::VerifyFull { ca_file } => {
                UpstreamTls::VerifyFull { ca_file }
            }
        },
    }
}

/// The quickstart's MySQL connection.
pub const QUICKSTART_MYSQL_CONNECTION: &str = "demo-mysql";

/// The quickstart's connections: `demo` and, beside it, `demo-mysql` to the local MariaDB's
/// `test` database as `root` (password from `MYSQL_PWD`, none when unset), masked and mapped
/// to server accounts by level like `demo`; readers and writers get least-privileged accounts
/// that `gatehouse serve` creates (`quickstart_mysql`).
pub fn with_quickstart_mysql(data_dir: &Path, demo: ConnectionConfig) -> Vec<ConnectionConfig> {
    let account = |level: &str| {
        crate::server::quickstart_mysql::account_name(QUICKSTART_MYSQL_CONNECTION, level)
    };
    let logins = demo
        .logins
        .iter()
        .map(|login| {
            let mut login = login.clone();
            if login.user.is_some() {
                let user = account(&login.level);
                login.password_file =
                    Some(crate::config::quickstart_password_file(data_dir, &user));
                login.user = Some(user);
            }
            login
        })
        .collect();
    let mysql = ConnectionConfig {
        name: QUICKSTART_MYSQL_CONNECTION.to_owned(),
        kind: MYSQL,
        description: "the local MariaDB's `test` database (quickstart)".to_owned(),
        port_set: None,
        database: "test".to_owned(),
        user: "root".to_owned(),
        password_env: Some("MYSQL_PWD".to_owned()),
        password_file: None,
        logins,
        ..demo.clone()
    };
    vec![demo, mysql]
}
