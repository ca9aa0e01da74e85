//! The tunnel's errors.

/// What can go wrong on either end of a tunnel.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("cannot reach the gateway at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("TLS with the gateway at {address} failed: {reason}")]
    Tls { address: String, reason: String },
    #[error("the gateway refused this agent: {0}")]
    Refused(String),
    #[error("HTTP/2 on the tunnel failed: {0}")]
    Http2(#[from] h2::Error),
    #[error("the tunnel peer broke the protocol: {0}")]
    Protocol(String),
    #[error("I/O error on the tunnel: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot keep the agent's credential: {0}")]
    Credential(String),
}
