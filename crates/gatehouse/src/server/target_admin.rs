//! Connections the program itself opens to a target server, outside any client session: to
//! create least-privileged logins (`gatehouse db-roles --apply`, the quickstart) and to check
//! at start what each configured login may do. Same credentials and TLS rules as the
//! connector's; never through policy, so only the operator's own commands and the gateway's
//! start use them.

use gatehouse_pg::{PgTarget, UpstreamTls};
use std::time::Duration;
use tokio_postgres::config::SslMode;

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The server answered, and refused the login (bad password, no such role, no CONNECT).
    Refused(String),
    /// The server could not be reached, or did not finish the handshake in time.
    Unreachable(String),
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectFailure::Refused(reason) | ConnectFailure::Unreachable(reason) => {
                f.write_str(reason)
            }
        }
    }
}

/// A client logged in to `target` as its user, within `timeout`.
pub async fn connect(
    target: &PgTarget,
    timeout: Duration,
) -> Result<tokio_postgres::Client, ConnectFailure> {
    let unreachable = |reason: String| {
        ConnectFailure::Unreachable(format!(
            "cannot reach the server at {}:{}: {reason}",
            target.host, target.port
        ))
    };
    let tls = gatehouse_pg::upstream_client_config(&target.tls)
        .map_err(|error| unreachable(error.to_string()))?;
    let mut config = tokio_postgres::Config::new();
    config
        .host(&target.host)
        .port(target.port)
        .dbname(&target.database)
        .user(&target.user)
        .application_name("gatehouse")
        .connect_timeout(timeout)
        .ssl_mode(match target.tls {
            UpstreamTls::Disable => SslMode::Disable,
            UpstreamTls::Require | UpstreamTls::VerifyFull { .. } => SslMode::Require,
        });
    if let Some(password) = &target.password {
        config.password(password.expose());
    }
    let connecting = config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls));
    let (client, connection) = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| unreachable(format!("no answer within {timeout:?}")))?
        .map_err(|error| match error.as_db_error() {
            Some(db) => ConnectFailure::Refused(format!(
                "the server at {}:{} refused the login `{}`: {}",
                target.host,
                target.port,
                target.user,
                db.message()
            )),
            None => unreachable(error.to_string()),
        })?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "an administrative server connection ended");
        }
    });
    Ok(client)
}
