//! The built-in connector for kind `mysql`: the logins a connection's identities map to, by
//! (connection, level), and the open request that carries what the client negotiated (its
//! capabilities and collation) to wherever the server is dialled — here, or at an agent.

use crate::query::run_query;
use crate::upstream::{self, ServerSession};
use crate::{MYSQL, MysqlError, MysqlLogin};
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_pipeline::BoxFuture;
use gatehouse_session::{ConnectError, OpenRequest, Opened, TargetConnector};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// The largest message read while logging in or provisioning.
const LOGIN_MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// utf8mb4_general_ci: the collation of gatehouse's own sessions.
const UTF8MB4: u8 = 45;

/// The built-in connector for kind "mysql": logins by (connection, level).
pub struct MysqlTargets {
    logins: HashMap<(String, String), MysqlLogin>,
    connect_timeout: Duration,
}

impl MysqlTargets {
    pub fn new(logins: HashMap<(String, String), MysqlLogin>, connect_timeout: Duration) -> Self {
        MysqlTargets {
            logins,
            connect_timeout,
        }
    }
}

/// The open request of a session whose client negotiated `capabilities` and `collation`.
pub(crate) fn open_request(
    login_level: &str,
    capabilities: Capabilities,
    collation: u8,
) -> OpenRequest {
    OpenRequest {
        kind: MYSQL.as_str().to_owned(),
        login_level: login_level.to_owned(),
        details: json!({ "capabilities": capabilities.0, "collation": collation }),
    }
}

/// What the server said while opening, as the adapter reads it from `Opened.details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerDetails {
    pub server_version: String,
    pub connection_id: u32,
    pub status: u16,
    pub capabilities: Capabilities,
}

impl ServerDetails {
    pub fn to_json(&self) -> Value {
        json!({
            "server_version": self.server_version,
            "connection_id": self.connection_id,
            "status": self.status,
            "capabilities": self.capabilities.0,
        })
    }

    pub fn from_json(details: &Value) -> Option<ServerDetails> {
        Some(ServerDetails {
            server_version: details.get("server_version")?.as_str()?.to_owned(),
            connection_id: u32::try_from(details.get("connection_id")?.as_u64()?).ok()?,
            status: u16::try_from(details.get("status")?.as_u64()?).ok()?,
            capabilities: Capabilities(details.get("capabilities")?.as_u64()?),
        })
    }
}

impl TargetConnector for MysqlTargets {
    fn kinds(&self) -> Vec<String> {
        vec![MYSQL.as_str().to_owned()]
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            if request.kind != MYSQL.as_str() {
                return Err(ConnectError::Unavailable(format!(
                    "connection `{connection}` is a MySQL target, not `{}`",
                    request.kind
                )));
            }
            let key = (connection.to_owned(), request.login_level.clone());
            let login = self.logins.get(&key).ok_or_else(|| {
                ConnectError::Unavailable(format!(
                    "connection `{connection}` has no `{}` login",
                    request.login_level
                ))
            })?;
            let number = |name: &str| request.details.get(name).and_then(Value::as_u64);
            let (Some(capabilities), Some(collation)) =
                (number("capabilities"), number("collation"))
            else {
                return Err(ConnectError::Protocol(
                    "the open request does not say what the client negotiated".into(),
                ));
            };
            let collation = u8::try_from(collation).map_err(|_| {
                ConnectError::Protocol("the client's collation is out of range".into())
            })?;
            let opening = upstream::open(
                login,
                Capabilities(capabilities),
                collation,
                LOGIN_MAX_MESSAGE,
            );
            let session = tokio::time::timeout(self.connect_timeout, opening)
                .await
                .map_err(|_| {
                    ConnectError::Unavailable(format!(
                        "the server of connection `{connection}` did not complete the login within {} s",
                        self.connect_timeout.as_secs()
                    ))
                })?
                .map_err(|error| ConnectError::Unavailable(error.to_string()))?;
            let ServerSession {
                stream,
                server_version,
                connection_id,
                status,
                capabilities,
            } = session;
            let details = ServerDetails {
                server_version,
                connection_id,
                status,
                capabilities,
            };
            Ok(Opened {
                stream: stream.into_stream(),
                details: details.to_json(),
                leftover: Vec::new(),
            })
        })
    }

    fn signal<'a>(
        &'a self,
        _connection: &'a str,
        _request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        Box::pin(async {
            Err(ConnectError::Protocol(
                "MySQL targets take no signals".into(),
            ))
        })
    }
}

/// Run `statements` in order as `login` (the quickstart creates least-privileged accounts this
/// way); the first that fails stops the rest and is the error.
pub async fn run_statements(
    login: &MysqlLogin,
    statements: &[String],
    timeout: Duration,
) -> Result<(), MysqlError> {
    let work = async {
        let wanted = Capabilities(Capabilities::PROTOCOL_41.0 | Capabilities::TRANSACTIONS.0);
        let mut session = upstream::open(login, wanted, UTF8MB4, LOGIN_MAX_MESSAGE).await?;
        for statement in statements {
            run_query(&mut session.stream, session.capabilities, statement).await?;
        }
        Ok(())
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        MysqlError::Timeout(format!(
            "the statements did not finish within {} s",
            timeout.as_secs()
        ))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_server_said_survives_the_trip_through_an_agent() {
        let details = ServerDetails {
            server_version: "10.11.19-MariaDB".to_owned(),
            connection_id: 42,
            status: 2,
            capabilities: Capabilities(Capabilities::PROTOCOL_41.0 | Capabilities::SESSION_TRACK.0),
        };
        let json: Value = serde_json::from_str(&details.to_json().to_string()).unwrap_or_default();
        assert_eq!(ServerDetails::from_json(&json), Some(details));
        assert_eq!(ServerDetails::from_json(&json!({})), None);
        let request = open_request("read", Capabilities(512), 45);
        assert_eq!(request.kind, "mysql");
        assert_eq!(
            request.details,
            json!({ "capabilities": 512, "collation": 45 })
        );
    }
}
