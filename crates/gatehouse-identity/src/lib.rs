//! Identity for gatehouse, without I/O: parsing and verifying JWTs (compact JWS) against a
//! JWKS, the claim rules of a configured workload identity provider, and gatehouse's own
//! short-lived tokens (EdDSA-signed JWTs) that the exchange issues and every listener accepts.
//!
//! Everything that reads bytes an outsider controls — [`jwt::decode`], [`jwks::JwkSet::parse`]
//! — lives here so a fuzz target can reach it. Fetching JWKS over HTTP is the binary's job.

pub mod error;
pub mod jwks;
pub mod jwt;
pub mod provider;
pub mod token;

pub use error::IdentityError;
pub use jwks::{Jwk, JwkSet};
pub use jwt::{Jws, decode};
pub use provider::{GroupRule, Validated, WorkloadRules};
pub use token::{GATEHOUSE_ISSUER, TokenClaims, TokenSigner, TokenVerifier};

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
