//! The passwords of the least-privileged server logins gatehouse creates (`gatehouse
//! db-roles`, the quickstart): kept in files readable only by their owner, generated when
//! missing, and sent to the server only as SCRAM-SHA-256 verifiers.

use anyhow::{Context, Result, bail};
use gatehouse_core::SecretString;
use std::path::Path;

/// The password in `path`, or a new one written there (0600) when the file does not exist.
pub(crate) fn read_or_create(path: &Path) -> Result<(SecretString, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let password = text.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                bail!(
                    "the password file `{}` is empty; remove it to have a new password generated",
                    path.display()
                );
            }
            Ok((SecretString::new(password), false))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create `{}`", dir.display()))?;
            }
            let password = new_password();
            crate::server::identity::write_private(path, password.expose().as_bytes())?;
            Ok((password, true))
        }
        Err(error) => Err(error)
            .with_context(|| format!("cannot read the password file `{}`", path.display())),
    }
}

/// 32 random bytes, URL-safe base64: no character a config, URL or shell would trip on.
pub(crate) fn new_password() -> SecretString {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    SecretString::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The SCRAM-SHA-256 verifier of `password`: what the server stores, and all the SQL holds.
pub(crate) fn verifier(password: &SecretString) -> String {
    postgres_protocol::password::scram_sha_256(password.expose().as_bytes())
}
