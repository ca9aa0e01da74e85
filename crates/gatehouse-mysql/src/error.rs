//! The adapter's one error type: what ended a session or failed to open a server session,
//! phrased for the operator's log and, where the client is still listening, for the client.

use gatehouse_mysql_wire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A message that does not follow the protocol (from the client or the server).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The wire codec refused bytes (truncated, oversized, out of sequence).
    #[error("{side} sent a message gatehouse cannot read: {error}")]
    Wire {
        side: &'static str,
        error: WireError,
    },
    #[error("TLS: {0}")]
    Tls(String),
    /// The server could not be reached, refused the login, or misbehaved.
    #[error("server: {0}")]
    Upstream(String),
    /// The server did something gatehouse never lets through (a LOCAL INFILE request, a mode
    /// or character set gatehouse cannot read statements in).
    #[error("{0}")]
    Refused(String),
    #[error("the pipeline failed: {0}")]
    Pipeline(#[from] gatehouse_pipeline::PipelineError),
    #[error("timed out: {0}")]
    Timeout(String),
}

impl MysqlError {
    /// The codec refused bytes from `side` (`client` or `server`).
    pub(crate) fn wire(side: &'static str) -> impl Fn(WireError) -> MysqlError {
        move |error| MysqlError::Wire { side, error }
    }
}
