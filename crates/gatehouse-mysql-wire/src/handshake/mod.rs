//! The connection phase: the server's greeting, the client's optional switch to TLS, its
//! login, and the authentication exchanges (plugin switch, extra plugin data) that follow.

mod auth_switch;
mod initial;
mod login;
mod ssl_request;

pub use auth_switch::{AuthSwitchRequest, auth_more_data, encode_auth_more_data};
pub use initial::InitialHandshake;
pub use login::HandshakeResponse;
pub use ssl_request::{SslRequest, is_ssl_request};

/// The reserved bytes after the client's collation in an SSL request or a login, before the
/// 4 bytes that carry MariaDB's extended capabilities.
const CLIENT_FILLER: usize = 19;
