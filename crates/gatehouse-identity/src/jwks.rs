//! JSON Web Key Sets (RFC 7517): the public keys an issuer signs with.

use crate::error::IdentityError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Largest JWKS document accepted.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One public key.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl Jwk {
    /// A base64url member (`n`, `e`, `x`, `y`) decoded.
    pub fn decoded(&self, member: &str) -> Result<Vec<u8>, IdentityError> {
        let value = match member {
            "n" => &self.n,
            "e" => &self.e,
            "x" => &self.x,
            "y" => &self.y,
            _ => &None,
        };
        let text = value.as_deref().ok_or_else(|| {
            IdentityError::BadJwks(format!("a `{}` key has no `{member}`", self.kty))
        })?;
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| IdentityError::BadJwks(format!("`{member}` is not base64url: {e}")))
    }
}

/// A key set.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parse a JWKS document.
    pub fn parse(bytes: &[u8]) -> Result<JwkSet, IdentityError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(IdentityError::BadJwks(format!(
                "larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
        serde_json::from_slice(bytes)
            .map_err(|e| IdentityError::BadJwks(format!("not a JWKS document: {e}")))
    }

    /// The signing key for a token with header `kid` (when the token names none, the set's
    /// only signing key).
    pub fn find(&self, kid: Option<&str>) -> Option<&Jwk> {
        let signing = self
            .keys
            .iter()
            .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"));
        match kid {
            Some(kid) => signing.into_iter().find(|k| k.kid.as_deref() == Some(kid)),
            None => {
                let mut all: Vec<&Jwk> = signing.collect();
                if all.len() == 1 { all.pop() } else { None }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_by_kid_and_ignores_encryption_keys() {
        let set = JwkSet::parse(
            br#"{"keys":[{"kty":"RSA","kid":"a","use":"enc","n":"AQ","e":"AQ"},{"kty":"RSA","kid":"b","n":"AQ","e":"AQAB"}]}"#,
        )
        .unwrap();
        assert!(set.find(Some("a")).is_none());
        assert_eq!(set.find(Some("b")).unwrap().kid.as_deref(), Some("b"));
        assert_eq!(set.find(None).unwrap().kid.as_deref(), Some("b"));
        assert!(JwkSet::parse(b"[]").is_err());
    }
}
