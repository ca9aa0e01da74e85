//! What is being reached: a named connection to a target, as policy sees it (never its secret).

use serde::{Deserialize, Serialize};

/// The server login level of a connection's own login (its `user`): what identities get when
/// the connection maps no level to their groups, and what `gatehouse db-roles` applies with.
/// Other levels (`read`, `write`, ...) are least-privileged logins of their own.
pub const ADMIN_LOGIN_LEVEL: &str = "admin";

/// The protocol family of a connection's target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    Postgres,
}

impl ConnectionKind {
    /// The lowercase name used in config, policies and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Postgres => "postgres",
        }
    }
}

/// The policy-relevant description of a connection. Target credentials are deliberately not
/// part of this type: they stay with the connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    pub name: String,
    pub kind: ConnectionKind,
    /// Free-form environment label (`dev`, `staging`, `prod`) that policies can test.
    pub environment: String,
    pub tags: Vec<String>,
    pub description: String,
}
