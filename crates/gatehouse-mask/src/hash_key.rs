//! The secret behind the `hash` strategy, kept out of `Debug` output, and the keyed MAC it
//! drives so equal inputs give equal tokens while nobody without the key can recompute them.

use crate::MaskError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// 32 secret bytes keying the `hash` strategy. Its `Debug` output never shows the bytes.
///
/// Use one key per deployment (or per connection) and keep it stable: tokens only line up across
/// queries, sessions and restarts while the key stays the same.
#[derive(Clone, PartialEq, Eq)]
pub struct HashKey([u8; 32]);

impl HashKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        HashKey(bytes)
    }

    /// Reads a key written as 64 hexadecimal characters.
    pub fn from_hex(text: &str) -> Result<Self, MaskError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| MaskError::InvalidHashKey)?;
        Ok(HashKey(bytes))
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<32 secret bytes>)")
    }
}

/// HMAC-SHA256 with the key schedule computed once, cloned per token.
#[derive(Clone)]
pub(crate) struct KeyedHasher(Hmac<Sha256>);

impl KeyedHasher {
    /// HMAC takes keys of any length, so this only fails if the MAC library changes that.
    pub(crate) fn new(key: &HashKey) -> Result<Self, MaskError> {
        <Hmac<Sha256> as Mac>::new_from_slice(&key.0)
            .map(KeyedHasher)
            .map_err(|_| MaskError::InvalidHashKey)
    }

    /// The MAC of `input` as 64 lowercase hex digits.
    pub(crate) fn hex_digest(&self, input: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(input);
        hex::encode(mac.finalize().into_bytes())
    }
}
