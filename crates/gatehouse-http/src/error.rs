//! The crate's one error type: what can go wrong setting up or talking to an upstream,
//! reading a request body, and reading a relayed WebSocket.

/// An HTTP proxy layer failure.
#[derive(Debug, thiserror::Error)]
pub enum HttpProxyError {
    /// A target URL that cannot be used.
    #[error("invalid target URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// TLS material that cannot be used.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The upstream could not be reached or answered badly.
    #[error("the target did not answer: {0}")]
    Upstream(String),
    /// The path to the target is down now (its agent is not connected): nothing was sent.
    #[error("the target cannot be reached now: {0}")]
    Unavailable(String),
    /// A request body over the limit.
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// A request body that could not be read (client went away, or too slow).
    #[error("the request body could not be read: {0}")]
    BodyRead(String),
    /// A relayed stream's bytes that a WebSocket tap cannot read (the sentence says why).
    #[error("{0}")]
    WebSocketFraming(&'static str),
}
