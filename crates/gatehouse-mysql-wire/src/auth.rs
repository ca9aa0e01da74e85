//! The password scrambles of the authentication plugins gatehouse speaks to servers with: the
//! client proves it knows the password without sending it, by hashing it with the server's
//! per-connection nonce (the scramble of the greeting or of an auth switch).

use ring::digest::{self, SHA1_FOR_LEGACY_USE_ONLY, SHA256};

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2: &str = "caching_sha2_password";
pub const CLEAR_PASSWORD: &str = "mysql_clear_password";

/// caching_sha2_password: the server had the hash cached and accepted the scramble.
pub const FAST_AUTH_OK: u8 = 3;
/// caching_sha2_password: the server needs the password itself (over TLS, or RSA-encrypted).
pub const PERFORM_FULL_AUTH: u8 = 4;
/// caching_sha2_password: the client's request for the server's RSA public key.
pub const REQUEST_PUBLIC_KEY: u8 = 2;

/// mysql_native_password's answer:
/// `SHA1(password) XOR SHA1(scramble ++ SHA1(SHA1(password)))`; empty for an empty password.
pub fn native_password(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let hash = |parts: &[&[u8]]| {
        let mut context = digest::Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        for part in parts {
            context.update(part);
        }
        context.finish()
    };
    let stage1 = hash(&[password]);
    let stage2 = hash(&[stage1.as_ref()]);
    let mask = hash(&[scramble, stage2.as_ref()]);
    xor(stage1.as_ref(), mask.as_ref())
}

/// caching_sha2_password's fast-path answer:
/// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) ++ scramble)`; empty for an empty
/// password.
pub fn caching_sha2(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let hash = |parts: &[&[u8]]| {
        let mut context = digest::Context::new(&SHA256);
        for part in parts {
            context.update(part);
        }
        context.finish()
    };
    let stage1 = hash(&[password]);
    let stage2 = hash(&[stage1.as_ref()]);
    let mask = hash(&[stage2.as_ref(), scramble]);
    xor(stage1.as_ref(), mask.as_ref())
}

fn xor(left: &[u8], right: &[u8]) -> Vec<u8> {
    left.iter().zip(right).map(|(l, r)| l ^ r).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn empty_passwords_answer_nothing() {
        assert!(native_password(b"", b"01234567890123456789").is_empty());
        assert!(caching_sha2(b"", b"01234567890123456789").is_empty());
    }

    /// A server checks a native answer by unmasking it with `SHA1(scramble ++ stored)` (where
    /// `stored = SHA1(SHA1(password))`, the hash in mysql.user) and hashing the result.
    #[test]
    fn native_answer_unmasks_to_the_stored_hash() {
        let scramble = b"abcdefghij0123456789";
        let answer = native_password(b"secret", scramble);
        assert_eq!(answer.len(), 20);
        let stage1 = digest::digest(&SHA1_FOR_LEGACY_USE_ONLY, b"secret");
        let stored = digest::digest(&SHA1_FOR_LEGACY_USE_ONLY, stage1.as_ref());
        let mask = digest::digest(
            &SHA1_FOR_LEGACY_USE_ONLY,
            &[&scramble[..], stored.as_ref()].concat(),
        );
        let unmasked = xor(&answer, mask.as_ref());
        assert_eq!(
            digest::digest(&SHA1_FOR_LEGACY_USE_ONLY, &unmasked).as_ref(),
            stored.as_ref()
        );
        // The mysql.user hash of "secret" as `PASSWORD('secret')` prints it.
        assert_eq!(
            hex(stored.as_ref()).to_uppercase(),
            "14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
    }

    /// Vector computed from the definition with an independent SHA-256 implementation
    /// (Python's hashlib), password "password", nonce "01234567890123456789":
    /// `SHA256("password") XOR SHA256(SHA256(SHA256("password")) ++ nonce)`.
    #[test]
    fn caching_sha2_known_vector() {
        let nonce = b"01234567890123456789";
        let answer = caching_sha2(b"password", nonce);
        assert_eq!(
            hex(&answer),
            "eabea378c3fddb0f63df965eac53321a81ae7f2fe5f4fe2eb37b9390523faec1"
        );
        // Unmasking with the mask gives back SHA256(password), whose hash the server caches.
        let stage1 = digest::digest(&SHA256, b"password");
        assert_eq!(
            hex(stage1.as_ref()),
            "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
        );
        let stage2 = digest::digest(&SHA256, stage1.as_ref());
        let mask = digest::digest(&SHA256, &[stage2.as_ref(), &nonce[..]].concat());
        assert_eq!(xor(&answer, mask.as_ref()), stage1.as_ref());
    }

    /// The same for mysql_native_password (Python's hashlib, password "secret", nonce
    /// "abcdefghij0123456789").
    #[test]
    fn native_known_vector() {
        assert_eq!(
            hex(&native_password(b"secret", b"abcdefghij0123456789")),
            "99db25ccb2a625f0e7cf4ce2e895ef9609dfe5e4"
        );
    }
}
