//! gatehouse's own SSH keys: its host key (what clients pin in known_hosts) and the user
//! certificate authority that signs `gatehouse ssh-cert` certificates. Both are Ed25519,
//! created on first start in OpenSSH's private key format and readable only by their owner.

use crate::SshGatewayError;
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::ssh_key::public::KeyData;
use russh::keys::ssh_key::{Fingerprint, HashAlg};
use russh::keys::{PrivateKey, PublicKey};
use std::io::Write;
use std::path::Path;

/// A fresh Ed25519 key from the operating system's random source.
pub fn generate_ed25519(comment: &str) -> Result<PrivateKey, SshGatewayError> {
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).map_err(|_| {
        SshGatewayError::KeyFile {
            path: String::new(),
            reason: "the operating system's random source failed".to_owned(),
        }
    })?;
    let keypair = Ed25519Keypair::from_seed(&seed);
    PrivateKey::new(KeypairData::Ed25519(keypair), comment).map_err(|error| {
        SshGatewayError::KeyFile {
            path: String::new(),
            reason: error.to_string(),
        }
    })
}

/// The key in `path`, created (mode 0600) when the file does not exist yet.
pub fn load_or_create(path: &Path, comment: &str) -> Result<PrivateKey, SshGatewayError> {
    let shown = path.display().to_string();
    let failed = |reason: String| SshGatewayError::KeyFile {
        path: shown.clone(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => PrivateKey::from_openssh(text.as_bytes())
            .map_err(|error| failed(format!("not an unencrypted OpenSSH private key: {error}"))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = generate_ed25519(comment)?;
            let text = key
                .to_openssh(LineEnding::LF)
                .map_err(|error| failed(error.to_string()))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|error| failed(error.to_string()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .map_err(|error| failed(error.to_string()))?;
            file.write_all(text.as_bytes())
                .map_err(|error| failed(error.to_string()))?;
            Ok(key)
        }
        Err(error) => Err(failed(error.to_string())),
    }
}

/// A public key written as OpenSSH writes it: `TYPE BASE64`, optionally after a known_hosts
/// host pattern (`[127.0.0.1]:2222 ssh-ed25519 AAAA...`) and before a comment.
pub fn parse_public_key(line: &str) -> Result<PublicKey, SshGatewayError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let start = words
        .iter()
        .position(|word| word.starts_with("ssh-") || word.starts_with("ecdsa-"))
        .ok_or_else(|| SshGatewayError::PublicKey(line.to_owned()))?;
    let key_text = words
        .get(start..(start + 2).min(words.len()))
        .map(|pair| pair.join(" "))
        .unwrap_or_default();
    PublicKey::from_openssh(&key_text).map_err(|_| SshGatewayError::PublicKey(line.to_owned()))
}

/// The host key a target must present: the key itself (`TYPE BASE64`, as `ssh-keyscan` or a
/// known_hosts line gives it) or its SHA-256 fingerprint (`SHA256:...`, as `ssh-keygen -lf`
/// prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPin {
    Key(PublicKey),
    Fingerprint(Fingerprint),
}

impl HostKeyPin {
    /// Read a pin as the configuration writes it.
    pub fn parse(text: &str) -> Result<HostKeyPin, SshGatewayError> {
        let text = text.trim();
        if text.starts_with("SHA256:") {
            return text
                .parse::<Fingerprint>()
                .map(HostKeyPin::Fingerprint)
                .map_err(|_| SshGatewayError::PublicKey(text.to_owned()));
        }
        parse_public_key(text).map(HostKeyPin::Key)
    }

    /// Whether a presented host key is the pinned one.
    pub fn matches(&self, presented: &KeyData) -> bool {
        match self {
            HostKeyPin::Key(key) => key.key_data() == presented,
            HostKeyPin::Fingerprint(fingerprint) => {
                &presented.fingerprint(HashAlg::Sha256) == fingerprint
            }
        }
    }
}

impl std::fmt::Display for HostKeyPin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostKeyPin::Key(key) => f.write_str(&public_key_line(key)),
            HostKeyPin::Fingerprint(fingerprint) => write!(f, "{fingerprint}"),
        }
    }
}

/// A public key as one OpenSSH line (`ssh-ed25519 AAAA...`), without a comment.
pub fn public_key_line(key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    key.to_openssh()
        .map(|line| line.trim_end().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_created_key_is_read_back_and_private_to_its_owner() {
        let dir = std::env::temp_dir().join(format!("gh-ssh-keys-{}", std::process::id()));
        let path = dir.join("host_key");
        let _ = std::fs::remove_dir_all(&dir);
        let created = load_or_create(&path, "gatehouse").unwrap();
        let read = load_or_create(&path, "gatehouse").unwrap();
        assert_eq!(created.public_key(), read.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn public_keys_are_read_from_key_files_and_known_hosts_lines() {
        let key = generate_ed25519("x").unwrap();
        let line = public_key_line(key.public_key());
        assert!(line.starts_with("ssh-ed25519 "), "{line}");
        // The key, not its comment (which the line leaves out).
        let same = |parsed: PublicKey| parsed.key_data() == key.public_key().key_data();
        assert!(same(parse_public_key(&line).unwrap()));
        let known = format!("[127.0.0.1]:2222 {line} root@host");
        assert!(same(parse_public_key(&known).unwrap()));
        assert!(parse_public_key("not a key").is_err());
        assert!(parse_public_key("ssh-ed25519 AAAAnotbase64!").is_err());
    }

    #[test]
    fn a_pin_is_a_key_or_its_sha256_fingerprint_and_matches_only_that_key() {
        let key = generate_ed25519("x").unwrap();
        let other = generate_ed25519("y").unwrap();
        let by_key = HostKeyPin::parse(&public_key_line(key.public_key())).unwrap();
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
        let by_fingerprint = HostKeyPin::parse(&fingerprint).unwrap();
        for pin in [&by_key, &by_fingerprint] {
            assert!(pin.matches(key.public_key().key_data()));
            assert!(!pin.matches(other.public_key().key_data()));
        }
        assert_eq!(by_fingerprint.to_string(), fingerprint);
        assert!(HostKeyPin::parse("SHA256:not-a-fingerprint!").is_err());
        assert!(HostKeyPin::parse("MD5:aa:bb").is_err());
    }
}
