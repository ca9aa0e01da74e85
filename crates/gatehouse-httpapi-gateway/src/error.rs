//! What can go wrong setting up the HTTP API adapter (requests are answered, never errors).

/// An `http` connection that cannot be served as configured.
#[derive(Debug, thiserror::Error)]
pub enum HttpApiGatewayError {
    #[error("connection `{connection}`: {reason}")]
    InvalidConnection { connection: String, reason: String },
    #[error("masking rule `{rule}` of connection `{connection}`: {reason}")]
    InvalidMaskRule {
        connection: String,
        rule: String,
        reason: String,
    },
}
