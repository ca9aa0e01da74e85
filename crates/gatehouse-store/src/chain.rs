//! The audit log's hash chain: every event's MAC covers the previous event's MAC, its `seq`
//! and its canonical encoding, keyed with a secret the store does not hold.
//!
//! Each stored format has its own MAC domain (`gatehouse-audit-v1`, `-v2`, `-v3`), so a body
//! cannot be passed off as another format's. Format 1 is the event's full JSON (every field,
//! SQL names); format 2 the compact, protocol-neutral JSON (empty fields left out: fewer bytes
//! to hash and store per event); format 3 the same body as format 2 under keyed BLAKE3
//! instead of HMAC-SHA256. The MAC was the single largest cost of recording an event (18 % of
//! the gateway's instructions per pgbench transaction, SHA-256 without CPU extensions);
//! BLAKE3 in keyed mode is a PRF/MAC of the same 256-bit strength at a fraction of the cost.
//! Its key is derived from the chain key (BLAKE3's key derivation, with a context string of
//! its own), so the two MACs never share a key. Older formats stay verifiable: a chain may
//! hold events of several formats, in non-decreasing order.
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

/// BLAKE3 key-derivation context of the format 3 MAC key (globally unique, never reused).
const BLAKE3_KEY_CONTEXT: &str = "gatehouse 2026-12-06 audit chain format 3 MAC key";

/// The MAC the first event chains from.
pub const GENESIS_MAC: [u8; MAC_LEN] = [0; MAC_LEN];

/// How an event's body is encoded, stored beside it (`audit_log.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuditFormat {
    /// The event's full serde JSON with SQL names, as written before format 2.
    V1 = 1,
    /// Compact, protocol-neutral JSON ([`gatehouse_pipeline::AuditEvent`]'s serde form).
    V2 = 2,
    /// The body of [`AuditFormat::V2`], MACed with keyed BLAKE3.
    V3 = 3,
}

impl AuditFormat {
    /// The format new events are written in.
    pub const CURRENT: AuditFormat = AuditFormat::V3;

    /// The format stored as `number`, if gatehouse knows it.
    pub fn from_stored(number: i64) -> Option<AuditFormat> {
        match number {
            1 => Some(AuditFormat::V1),
            2 => Some(AuditFormat::V2),
            3 => Some(AuditFormat::V3),
            _ => None,
        }
    }

    /// The number stored in `audit_log.format`.
    pub fn stored(self) -> i64 {
        self as i64
    }

    fn domain(self) -> &'static [u8] {
        match self {
            AuditFormat::V1 => b"gatehouse-audit-v1",
            AuditFormat::V2 => b"gatehouse-audit-v2",
            AuditFormat::V3 => b"gatehouse-audit-v3",
        }
    }
}

/// The chain key. Its contents never print.
#[derive(Clone)]
pub struct AuditKey {
    bytes: [u8; 32],
    /// HMAC-SHA256 keyed with `bytes`, before any input: cloned for every MAC of formats 1-2.
    keyed: Hmac<Sha256>,
    /// Keyed BLAKE3 with the key derived from `bytes`: cloned for every MAC of format 3.
    keyed_blake3: blake3::Hasher,
}

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
        Self::from_bytes(key)
    }

    /// Read the key file at `path`, creating it (mode 0600, 32 random bytes as hex) if absent.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        load_or_create_key_file(path).and_then(Self::from_bytes)
    }

    fn from_bytes(bytes: [u8; 32]) -> Result<Self, StoreError> {
        // HMAC accepts keys of any length; this cannot fail for 32 bytes.
        let keyed = Hmac::<Sha256>::new_from_slice(&bytes).map_err(|e| StoreError::AuditKey {
            origin: "the key".to_owned(),
            reason: e.to_string(),
        })?;
        let blake3_key = blake3::derive_key(BLAKE3_KEY_CONTEXT, &bytes);
        Ok(AuditKey {
            bytes,
            keyed,
            keyed_blake3: blake3::Hasher::new_keyed(&blake3_key),
        })
    }

    /// The MAC of the event with `seq` and body `body` stored in `format`, chained from
    /// `previous`.
    pub fn mac(
        &self,
        format: AuditFormat,
        previous: &[u8; MAC_LEN],
        seq: i64,
        body: &[u8],
    ) -> [u8; MAC_LEN] {
        match format {
            AuditFormat::V1 | AuditFormat::V2 => {
                let mut mac = self.keyed.clone();
                mac.update(format.domain());
                mac.update(previous);
                mac.update(&seq.to_be_bytes());
                mac.update(body);
                mac.finalize().into_bytes().into()
            }
            AuditFormat::V3 => {
                let mut mac = self.keyed_blake3.clone();
                mac.update(format.domain());
                mac.update(previous);
                mac.update(&seq.to_be_bytes());
                mac.update(body);
                mac.finalize().into()
            }
        }
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
            .map(|key| key.bytes)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn key() -> AuditKey {
        AuditKey::from_hex(&"4b".repeat(32)).unwrap()
    }

    /// Format 3 as an independent verifier would compute it: BLAKE3 keyed with the key
    /// BLAKE3 derives from the chain key under [`BLAKE3_KEY_CONTEXT`], over domain, previous
    /// MAC, big-endian seq and body.
    #[test]
    fn format_3_is_keyed_blake3_over_domain_previous_seq_and_body() {
        let derived = blake3::derive_key(BLAKE3_KEY_CONTEXT, &[0x4b; 32]);
        let mut input = b"gatehouse-audit-v3".to_vec();
        input.extend_from_slice(&[7; MAC_LEN]);
        input.extend_from_slice(&42i64.to_be_bytes());
        input.extend_from_slice(b"{\"kind\":\"request\"}");
        let expected: [u8; 32] = blake3::keyed_hash(&derived, &input).into();
        let mac = key().mac(
            AuditFormat::V3,
            &[7; MAC_LEN],
            42,
            b"{\"kind\":\"request\"}",
        );
        assert_eq!(mac, expected);
    }

    #[test]
    fn every_input_and_format_changes_the_mac() {
        let key = key();
        let base = key.mac(AuditFormat::V3, &GENESIS_MAC, 1, b"body");
        let others = [
            key.mac(AuditFormat::V2, &GENESIS_MAC, 1, b"body"),
            key.mac(AuditFormat::V3, &[1; MAC_LEN], 1, b"body"),
            key.mac(AuditFormat::V3, &GENESIS_MAC, 2, b"body"),
            key.mac(AuditFormat::V3, &GENESIS_MAC, 1, b"bodY"),
            AuditKey::from_hex(&"4c".repeat(32)).unwrap().mac(
                AuditFormat::V3,
                &GENESIS_MAC,
                1,
                b"body",
            ),
        ];
        for other in others {
            assert!(!macs_equal(&base, &other));
        }
        assert!(macs_equal(
            &base,
            &key.mac(AuditFormat::V3, &GENESIS_MAC, 1, b"body")
        ));
    }
}
