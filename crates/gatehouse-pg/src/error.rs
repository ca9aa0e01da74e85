//! Errors of the PostgreSQL adapter, split by whose fault they are: the client's, the
//! target's, or the gateway's own. That decides what the client is told.

/// Everything that can end or refuse a PostgreSQL session.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol violation: {0}")]
    Protocol(String),
    #[error(
        "{peer} sent a {size}-byte message, over the {limit}-byte limit (`{}`)",
        limit_setting(peer)
    )]
    MessageTooLarge {
        peer: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The target could not be reached or refused us; the message is safe to show clients.
    #[error("{0}")]
    Upstream(String),
    /// A response gatehouse must mask but cannot (fail closed); safe to show clients.
    #[error("cannot mask the result: {0}")]
    CannotMask(String),
    /// The server answered something gatehouse's model of its protocol state cannot place:
    /// what the server runs may no longer be what was decided, so the session ends.
    #[error("gatehouse lost track of the server's protocol state: {0}")]
    Desync(String),
    /// A server setting that gatehouse reads SQL under changed to a value it cannot follow
    /// (the message says which and what to do); safe to show clients.
    #[error("gatehouse can no longer read this session's SQL as the server does: {0}")]
    Unreadable(String),
}

/// The `[postgres]` setting that bounds messages from `peer`, named in errors so that an
/// operator raises the right one.
fn limit_setting(peer: &str) -> &'static str {
    match peer {
        "server" => "max_server_message_bytes",
        _ => "max_message_bytes",
    }
}

impl PgError {
    /// The SQLSTATE a client should see for this failure.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            PgError::Protocol(_) | PgError::MessageTooLarge { .. } | PgError::Desync(_) => "08P01",
            PgError::Upstream(_) => "08001",
            PgError::CannotMask(_) | PgError::Unreadable(_) => "0A000",
            PgError::Timeout(_) => "08006",
            PgError::Io(_) | PgError::Tls(_) => "08006",
        }
    }
}
