//! Step 1 of the pipeline: turning a presented credential into an [`Identity`].

use crate::BoxFuture;
use gatehouse_core::{Identity, SecretString};

/// Why a presented credential was not accepted. Adapters show clients one generic
/// authentication failure whatever the variant, so that probing learns nothing; the variant
/// is for the gateway's own log and audit.
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
    #[error("the identity `{0}` was revoked")]
    IdentityRevoked(String),
    #[error("the credential store is unavailable: {0}")]
    StoreUnavailable(String),
}

/// An accepted credential: who it names, and what a live session established with it must
/// end with (its expiry, and the id revocation names it by).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub identity: Identity,
    /// The credential's public id: an API key's id or a gatehouse token's `jti`.
    pub credential_id: String,
    /// When the credential stops being valid (Unix seconds); sessions end then.
    pub expires_at_unix: Option<i64>,
}

/// Verifies presented tokens. Implementations compare secrets in constant time and never
/// log them.
pub trait Authenticator: Send + Sync {
    /// Verify `presented` and say what it is.
    fn authenticate_credential<'a>(
        &'a self,
        presented: &'a SecretString,
    ) -> BoxFuture<'a, Result<Authenticated, AuthError>>;

    /// Verify `presented`, for callers that need only the identity (one request, no session).
    fn authenticate<'a>(
        &'a self,
        presented: &'a SecretString,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            self.authenticate_credential(presented)
                .await
                .map(|accepted| accepted.identity)
        })
    }
}
