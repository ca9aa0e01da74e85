//! Step 1 of the pipeline: turning a presented credential into an [`Identity`].

use crate::BoxFuture;
use gatehouse_core::{Identity, SecretString};

/// Why a presented credential was not accepted. Adapters show clients one generic
/// authentication failure whatever the variant, so that probing learns nothing; the variant
/// is for the gateway's own log.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a gatehouse token")]
    Malformed,
    #[error("no such token")]
    Unknown,
    #[error("the token expired")]
    Expired,
    #[error("the token was revoked")]
    Revoked,
    #[error("the credential store is unavailable: {0}")]
    StoreUnavailable(String),
}

/// Verifies presented tokens. Implementations compare secrets in constant time and never
/// log them.
pub trait Authenticator: Send + Sync {
    fn authenticate<'a>(
        &'a self,
        presented: &'a SecretString,
    ) -> BoxFuture<'a, Result<Identity, AuthError>>;
}
