//! Why a token was refused. Messages say what is wrong and, where it helps, what to do; they
//! never contain the token.

/// Every way identity validation fails (fail closed: any of these refuses the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the token is not a JWT (expected three base64url parts separated by dots): {0}")]
    Malformed(String),
    #[error("the token's signing algorithm `{0}` is not accepted (accepted: RS256, ES256, EdDSA)")]
    UnsupportedAlgorithm(String),
    #[error("the token names no issuer (`iss` claim)")]
    NoIssuer,
    #[error(
        "the issuer `{0}` is not a configured identity provider; add it to [[identity_providers]] or use a token from one that is"
    )]
    UnknownIssuer(String),
    #[error(
        "no key with id `{0}` in the issuer's JWKS (even after refreshing it); the token was not signed by this issuer's current keys"
    )]
    UnknownKey(String),
    #[error("the JWKS is invalid: {0}")]
    BadJwks(String),
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's issuer `{found}` is not `{expected}`")]
    WrongIssuer { expected: String, found: String },
    #[error(
        "the token's audience {found} includes none of the accepted audiences {expected}; request the token for one of them"
    )]
    WrongAudience { expected: String, found: String },
    #[error("the token expired; get a fresh one")]
    Expired,
    #[error("the token is not valid yet (`nbf` is in the future); check the clocks")]
    NotYetValid,
    #[error("the token has no expiry (`exp` claim); only short-lived tokens are accepted")]
    NoExpiry,
    #[error("the token has no usable subject claim `{0}`")]
    NoSubject(String),
    #[error(
        "the token's claim `{claim}` {problem}; this provider accepts only {claim} = {expected:?}"
    )]
    ConditionFailed {
        claim: String,
        expected: String,
        problem: String,
    },
    #[error("the claim `{0}` must be a string or a list of strings")]
    BadGroups(String),
    #[error("cannot sign the token: {0}")]
    Signing(String),
    #[error("the signing key is invalid: {0}")]
    BadKey(String),
}
