//! A server login as the gateway holds it: where the server is, which account, its password
//! (never the client's), and how TLS towards it is set up.

use gatehouse_core::SecretString;
use std::path::PathBuf;

/// TLS to the server, with the MariaDB client's meaning of the mode names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpstreamTls {
    /// Plain TCP (fine on loopback or a trusted network segment).
    Disable,
    /// TLS when the server offers it, plain TCP otherwise.
    Prefer,
    /// Encrypt, but do not verify the server's certificate.
    Require,
    /// Encrypt and verify the certificate chain and host name against `ca_file` (no
    /// certificate is trusted without one).
    VerifyFull { ca_file: Option<PathBuf> },
}

/// One server login of a connection.
#[derive(Debug, Clone)]
pub struct MysqlLogin {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<SecretString>,
    /// The database the session starts in (empty: none).
    pub database: String,
    pub tls: UpstreamTls,
}
