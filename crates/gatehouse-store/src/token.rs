//! The gatehouse token format: `gh_<key id>_<secret>`.
//!
//! The key id is public (it names the key in `keys list` and audit); the secret is 32 random
//! bytes, stored only as its SHA-256 hash. A fast hash is right here: the secret has 256 bits
//! of entropy, so there is nothing for a slow password hash to protect.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::SecretString;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every gatehouse token starts with this, so secret scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "gh_";
const KEY_ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A token split into its public id and the hash of its secret part.
#[derive(Debug)]
pub struct ParsedToken {
    pub key_id: String,
    pub secret_hash: [u8; 32],
}

/// Create a fresh token; returns it with its parsed form.
pub(crate) fn generate() -> (SecretString, ParsedToken) {
    let mut rng = rand::rng();
    let mut id = [0u8; KEY_ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let secret_text = URL_SAFE_NO_PAD.encode(secret);
    let token = SecretString::new(format!("{TOKEN_PREFIX}{key_id}_{secret_text}"));
    let parsed = ParsedToken {
        key_id,
        secret_hash: hash_secret(&secret_text),
    };
    (token, parsed)
}

/// Split a presented token. `None` when it is not shaped like a gatehouse token.
pub fn parse(token: &SecretString) -> Option<ParsedToken> {
    let rest = token.expose().strip_prefix(TOKEN_PREFIX)?;
    let (key_id, secret) = rest.split_once('_')?;
    let id_ok = key_id.len() == KEY_ID_BYTES * 2 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(id_ok && secret_ok) {
        return None;
    }
    Some(ParsedToken {
        key_id: key_id.to_ascii_lowercase(),
        secret_hash: hash_secret(secret),
    })
}

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn generated_tokens_parse_back_to_the_same_hash() {
        let (token, parsed) = generate();
        let again = parse(&token).unwrap();
        assert_eq!(again.key_id, parsed.key_id);
        assert_eq!(again.secret_hash, parsed.secret_hash);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in [
            "",
            "gh_",
            "gh_abc_def",
            "password",
            "gh_zzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "xx_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "gh_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "gh_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!",
        ] {
            assert!(parse(&SecretString::new(bad)).is_none(), "{bad}");
        }
    }
}
