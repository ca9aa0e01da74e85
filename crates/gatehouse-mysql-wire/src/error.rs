//! The one error type of the crate: what went wrong decoding bytes from a peer, precise enough
//! to log, never a panic.

/// A decode failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended inside `what`.
    #[error("truncated {what}")]
    Truncated { what: &'static str },
    /// A message declared (or grew to) `size` bytes, more than the `limit` accepted.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    Oversized { size: usize, limit: usize },
    /// `what` is present but not valid.
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// A continuation packet carried sequence id `got` instead of `expected`.
    #[error("packet sequence id {got}, expected {expected}")]
    Sequence { expected: u8, got: u8 },
}

impl WireError {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            detail: detail.into(),
        }
    }
}
