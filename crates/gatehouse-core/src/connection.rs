//! What is being reached: a named connection to a target, as policy sees it (never its secret).

use serde::Serialize;

/// The server login level of a connection's own login (its `user`): what identities get when
/// the connection maps no level to their groups, and what `gatehouse db-roles` applies with.
/// Other levels (`read`, `write`, ...) are least-privileged logins of their own.
pub const ADMIN_LOGIN_LEVEL: &str = "admin";

/// The protocol family of a connection's target (`postgres`), as config, policies and JSON
/// output name it. Open-ended: each protocol adapter names its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionKind(&'static str);

impl ConnectionKind {
    /// A PostgreSQL server.
    pub const POSTGRES: ConnectionKind = ConnectionKind("postgres");

    /// The kind named `name` (lowercase).
    pub const fn new(name: &'static str) -> ConnectionKind {
        ConnectionKind(name)
    }

    /// The lowercase name used in config, policies and JSON output.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl Serialize for ConnectionKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// The policy-relevant description of a connection. Target credentials are deliberately not
/// part of this type: they stay with the connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    pub name: String,
    pub kind: ConnectionKind,
    /// Free-form environment label (`dev`, `staging`, `prod`) that policies can test.
    pub environment: String,
    pub tags: Vec<String>,
    pub description: String,
}
