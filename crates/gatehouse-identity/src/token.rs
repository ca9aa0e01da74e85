//! gatehouse's own tokens: JWTs signed with Ed25519 (`alg: EdDSA`) by the gateway's key,
//! carrying who the holder is (subject, kind, groups, delegation chain), a `jti`, and a short
//! expiry. Accepted as the PostgreSQL password and as the bearer token of the HTTP APIs.

use crate::error::IdentityError;
use crate::jwks::Jwk;
use crate::jwt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::{Identity, IdentityKind};
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};

/// `iss` of every gatehouse token.
pub const GATEHOUSE_ISSUER: &str = "gatehouse";
/// `typ` of every gatehouse token (so an IdP's JWT is never mistaken for one).
pub const TOKEN_TYPE: &str = "gatehouse+jwt";

/// The claims of a gatehouse token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    pub iss: String,
    pub sub: String,
    pub kind: IdentityKind,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Delegation chain: who this identity acts for, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acting_for: Vec<String>,
    /// The identity provider the identity came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

impl TokenClaims {
    /// Claims for `identity`, issued `now`, living `ttl_secs`, with a fresh random `jti`.
    pub fn new(identity: &Identity, idp: Option<String>, now: i64, ttl_secs: i64) -> TokenClaims {
        let mut jti = [0u8; 16];
        rand::rng().fill_bytes(&mut jti);
        TokenClaims {
            iss: GATEHOUSE_ISSUER.to_owned(),
            sub: identity.subject.clone(),
            kind: identity.kind,
            groups: identity.groups.clone(),
            acting_for: identity.acting_for.clone(),
            idp,
            jti: hex::encode(jti),
            iat: now,
            exp: now.saturating_add(ttl_secs),
        }
    }

    /// The identity the token stands for.
    pub fn identity(&self) -> Identity {
        let mut identity = Identity::new(self.sub.clone(), self.kind, self.groups.clone());
        identity.acting_for = self.acting_for.clone();
        identity
    }
}

/// Signs gatehouse tokens with the gateway's Ed25519 key.
pub struct TokenSigner {
    key: Ed25519KeyPair,
    verifier: TokenVerifier,
}

impl TokenSigner {
    /// A new key, PKCS#8-encoded, to store (0600) and load with [`TokenSigner::from_pkcs8`].
    pub fn generate_pkcs8() -> Result<Vec<u8>, IdentityError> {
        let rng = ring::rand::SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|e| IdentityError::BadKey(e.to_string()))
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<TokenSigner, IdentityError> {
        let key =
            Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| IdentityError::BadKey(e.to_string()))?;
        let verifier = TokenVerifier::new(key.public_key().as_ref())?;
        Ok(TokenSigner { key, verifier })
    }

    /// The verifier for this key's tokens.
    pub fn verifier(&self) -> TokenVerifier {
        self.verifier.clone()
    }

    /// Sign `claims` into a compact JWS.
    pub fn sign(&self, claims: &TokenClaims) -> Result<String, IdentityError> {
        let header =
            serde_json::json!({"alg": "EdDSA", "typ": TOKEN_TYPE, "kid": self.verifier.kid});
        let header =
            serde_json::to_vec(&header).map_err(|e| IdentityError::Signing(e.to_string()))?;
        let payload =
            serde_json::to_vec(claims).map_err(|e| IdentityError::Signing(e.to_string()))?;
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.key.sign(input.as_bytes());
        Ok(format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// Verifies gatehouse tokens against the gateway's public key.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    key: Jwk,
    /// Key id: the first 8 bytes of SHA-256 of the public key, in hex.
    pub kid: String,
}

impl TokenVerifier {
    /// From a raw 32-byte Ed25519 public key.
    pub fn new(public_key: &[u8]) -> Result<TokenVerifier, IdentityError> {
        if public_key.len() != 32 {
            return Err(IdentityError::BadKey(
                "an Ed25519 public key is 32 bytes".to_owned(),
            ));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, public_key);
        let kid = hex::encode(digest.as_ref().get(..8).unwrap_or_default());
        let key = Jwk {
            kty: "OKP".to_owned(),
            crv: Some("Ed25519".to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(public_key)),
            alg: Some("EdDSA".to_owned()),
            kid: Some(kid.clone()),
            ..Jwk::default()
        };
        Ok(TokenVerifier { key, kid })
    }

    /// The public key as a JWK (for publishing, e.g. at a JWKS endpoint).
    pub fn jwk(&self) -> &Jwk {
        &self.key
    }

    /// Verify a presented token at `now`: shape, algorithm, signature, issuer, expiry.
    pub fn verify(&self, token: &str, now: i64) -> Result<TokenClaims, IdentityError> {
        let jws = jwt::decode(token)?;
        if jws.header.alg != "EdDSA" {
            return Err(IdentityError::UnsupportedAlgorithm(jws.header.alg.clone()));
        }
        if jws.header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(IdentityError::Malformed("not a gatehouse token".to_owned()));
        }
        if jws.header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(IdentityError::UnknownKey(
                jws.header.kid.clone().unwrap_or_default(),
            ));
        }
        jws.verify(&self.key)?;
        let claims: TokenClaims = serde_json::from_value(serde_json::Value::Object(jws.claims))
            .map_err(|e| IdentityError::Malformed(format!("claims: {e}")))?;
        if claims.iss != GATEHOUSE_ISSUER {
            return Err(IdentityError::WrongIssuer {
                expected: GATEHOUSE_ISSUER.to_owned(),
                found: claims.iss,
            });
        }
        if claims.exp <= now {
            return Err(IdentityError::Expired);
        }
        Ok(claims)
    }
}

/// Whether `text` is shaped like a JWT (three base64url parts): worth trying as one.
pub fn looks_like_jwt(text: &str) -> bool {
    text.starts_with("eyJ")
        && text.split('.').count() == 3
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::from_pkcs8(&TokenSigner::generate_pkcs8().unwrap()).unwrap()
    }

    #[test]
    fn round_trip_and_refusals() {
        let signer = signer();
        let mut identity = Identity::new("ci", IdentityKind::Machine, vec!["deployers".to_owned()]);
        identity.acting_for = vec!["ana".to_owned()];
        let claims = TokenClaims::new(&identity, Some("ci".to_owned()), 1000, 900);
        let token = signer.sign(&claims).unwrap();
        assert!(looks_like_jwt(&token));
        let back = signer.verifier().verify(&token, 1100).unwrap();
        assert_eq!(back.identity(), identity);
        assert_eq!(
            signer.verifier().verify(&token, 1900),
            Err(IdentityError::Expired)
        );
        // Another gateway's key.
        assert!(signer_other_refuses(&token));
        // Tampered payload.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&TokenClaims {
                groups: vec!["admins".to_owned()],
                ..claims
            })
            .unwrap(),
        );
        parts[1] = &forged;
        assert_eq!(
            signer.verifier().verify(&parts.join("."), 1100),
            Err(IdentityError::BadSignature)
        );
    }

    fn signer_other_refuses(token: &str) -> bool {
        signer().verifier().verify(token, 1100).is_err()
    }
}
