//! Compact JWS (RFC 7515) parsing and signature verification with `ring`.

use crate::error::IdentityError;
use crate::jwks::Jwk;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Longest token accepted (a JWT is a header line, not a document).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The JOSE header fields gatehouse looks at.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub typ: Option<String>,
    /// Extensions the signer says must be understood; gatehouse understands none.
    #[serde(default)]
    pub crit: Option<Value>,
}

/// A decoded, NOT yet verified token.
#[derive(Debug, Clone)]
pub struct Jws {
    pub header: Header,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Split and decode a compact JWS. Checks shape only; call [`Jws::verify`] before trusting it.
pub fn decode(token: &str) -> Result<Jws, IdentityError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IdentityError::Malformed(format!(
            "longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdentityError::Malformed("not three parts".to_owned()));
    };
    let header_bytes = b64(header, "header")?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|e| IdentityError::Malformed(format!("header is not a JOSE header: {e}")))?;
    if header.crit.is_some() {
        return Err(IdentityError::Malformed(
            "header has `crit` extensions gatehouse does not understand".to_owned(),
        ));
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64(payload, "payload")?)
        .map_err(|e| IdentityError::Malformed(format!("payload is not a JSON object: {e}")))?;
    let signature = b64(signature, "signature")?;
    let signing_input = token
        .get(..header_bytes_len(token))
        .unwrap_or_default()
        .to_owned();
    Ok(Jws {
        header,
        claims,
        signing_input,
        signature,
    })
}

/// Length of `header.payload` in `token` (everything before the last dot).
fn header_bytes_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>, IdentityError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| IdentityError::Malformed(format!("{what} is not base64url: {e}")))
}

impl Jws {
    /// The `iss` claim, unverified: only for choosing which provider's keys to verify with.
    pub fn unverified_issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// Verify the signature with `key`. The algorithm must be one gatehouse accepts and must
    /// match the key's type (so an RSA public key can never be used as an HMAC secret, and
    /// `alg: none` is never accepted).
    pub fn verify(&self, key: &Jwk) -> Result<(), IdentityError> {
        verify_raw(
            &self.header.alg,
            key,
            self.signing_input.as_bytes(),
            &self.signature,
        )
    }
}

/// Verify `signature` over `message` with `key` for algorithm `alg`.
pub fn verify_raw(alg: &str, key: &Jwk, message: &[u8], sig: &[u8]) -> Result<(), IdentityError> {
    if !matches!(alg, "RS256" | "ES256" | "EdDSA") {
        return Err(IdentityError::UnsupportedAlgorithm(alg.to_owned()));
    }
    if let Some(key_alg) = &key.alg
        && key_alg != alg
    {
        return Err(IdentityError::BadSignature);
    }
    let verified = match (alg, key.kty.as_str()) {
        ("RS256", "RSA") => {
            let n = key.decoded("n")?;
            let e = key.decoded("e")?;
            signature::RsaPublicKeyComponents { n: &n, e: &e }.verify(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                sig,
            )
        }
        ("ES256", "EC") => {
            if key.crv.as_deref() != Some("P-256") {
                return Err(IdentityError::BadSignature);
            }
            let x = key.decoded("x")?;
            let y = key.decoded("y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err(IdentityError::BadJwks(
                    "EC key coordinates are not 32 bytes".to_owned(),
                ));
            }
            let mut point = Vec::with_capacity(65);
            point.push(4u8);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
        }
        ("EdDSA", "OKP") => {
            if key.crv.as_deref() != Some("Ed25519") {
                return Err(IdentityError::BadSignature);
            }
            let x = key.decoded("x")?;
            signature::UnparsedPublicKey::new(&signature::ED25519, x).verify(message, sig)
        }
        ("RS256" | "ES256" | "EdDSA", _) => return Err(IdentityError::BadSignature),
        (other, _) => return Err(IdentityError::UnsupportedAlgorithm(other.to_owned())),
    };
    verified.map_err(|_| IdentityError::BadSignature)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            "e30.e30",
            "e30.W10.AA",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn alg_none_is_refused() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let payload = URL_SAFE_NO_PAD.encode(br#"{"iss":"x"}"#);
        let jws = decode(&format!("{header}.{payload}.")).unwrap();
        let key: Jwk = serde_json::from_str(r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#).unwrap();
        assert_eq!(
            jws.verify(&key),
            Err(IdentityError::UnsupportedAlgorithm("none".to_owned()))
        );
    }
}
