//! The audit log's hash chain: every event's MAC covers the previous event's MAC, its `seq`
//! and its canonical encoding, keyed with a secret the store does not hold.
//!
//! Whoever can write the store but not read the key can neither edit, insert, delete nor
//! reorder events without `gatehouse audit verify` naming the first broken `seq`; deleting the
//! newest events is caught by comparing with a checkpoint kept outside the store.

use crate::StoreError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::Path;
use subtle::ConstantTimeEq;

/// Length of a chain MAC (HMAC-SHA256).
pub const MAC_LEN: usize = 32;

/// The MAC the first event chains from.
pub const GENESIS_MAC: [u8; MAC_LEN] = [0; MAC_LEN];

/// The chain key. Its contents never print.
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    /// Parse a key written as 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, StoreError> {
        let bytes = hex::decode(text.trim()).map_err(|_| StoreError::AuditKey {
            origin: "the given text".to_owned(),
            reason: "an audit key is 64 hex digits".to_owned(),
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| StoreError::AuditKey {
            origin: "the given text".to_owned(),
            reason: "an audit key is 64 hex digits (32 bytes)".to_owned(),
        })?;
        Ok(AuditKey(key))
    }

    /// Read the key file at `path`, creating it (mode 0600, 32 random bytes as hex) if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        load_or_create_key_file(path).map(AuditKey)
    }

    /// The MAC of the event with `seq` and canonical encoding `body`, chained from `previous`.
    pub fn mac(&self, previous: &[u8; MAC_LEN], seq: i64, body: &[u8]) -> [u8; MAC_LEN] {
        // HMAC accepts keys of any length, so construction cannot fail; fall back to an
        // all-zero MAC (which never verifies) rather than panicking if it ever did.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return GENESIS_MAC;
        };
        mac.update(b"gatehouse-audit-v1");
        mac.update(previous);
        mac.update(&seq.to_be_bytes());
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

/// A 32-byte secret kept as 64 hex digits in the file at `path`, created (mode 0600, random)
/// if absent. For keys that must live outside the store: the audit chain key, the masking
/// hash key.
pub fn load_or_create_key_file(path: &Path) -> Result<[u8; 32], StoreError> {
    let error = |reason: String| StoreError::AuditKey {
        origin: path.display().to_string(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => AuditKey::from_hex(&text)
            .map(|key| key.0)
            .map_err(|_| error("the file does not hold a key (64 hex digits)".to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            let mut file = create_private(path).map_err(|e| error(e.to_string()))?;
            file.write_all(hex::encode(key).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| error(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(error(e.to_string())),
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Constant-time comparison of two MACs.
pub fn macs_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
