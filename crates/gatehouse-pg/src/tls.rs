//! TLS towards target servers. Client-facing TLS is configured by the binary (it owns the
//! certificate files) and handed to the listener as a ready `rustls::ServerConfig`.

use crate::PgError;
use crate::upstream::UpstreamTls;
use gatehouse_session::upstream_tls::{self, ServerCheck};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The crypto provider used everywhere in gatehouse (one provider, chosen explicitly).
pub fn provider() -> Arc<CryptoProvider> {
    upstream_tls::provider()
}

/// Upstream TLS configurations by mode, built on first use and then shared by every dial (and
/// with them rustls's session cache, so reconnecting to a server resumes its TLS session).
/// A mode whose configuration failed is tried again on the next dial; a CA file that changes
/// on disk is read again after a restart.
static UPSTREAM_CONFIGS: LazyLock<Mutex<HashMap<UpstreamTls, Arc<ClientConfig>>>> =
    LazyLock::new(Mutex::default);

fn upstream_config(mode: &UpstreamTls) -> Result<Arc<ClientConfig>, PgError> {
    let mut built = UPSTREAM_CONFIGS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(config) = built.get(mode) {
        return Ok(config.clone());
    }
    let config = Arc::new(upstream_client_config(mode)?);
    built.insert(mode.clone(), config.clone());
    Ok(config)
}

pub(crate) async fn connect_upstream(
    tcp: TcpStream,
    host: &str,
    mode: &UpstreamTls,
) -> Result<TlsStream<TcpStream>, PgError> {
    let config = upstream_config(mode)?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| PgError::Tls(format!("`{host}` is not a valid TLS server name: {e}")))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            PgError::Upstream(format!(
                "TLS handshake with the server at {host} failed: {e}"
            ))
        })
}

/// The TLS client configuration gatehouse uses towards a target server in `mode` (also for
/// the administrative connections the program opens itself, so both verify alike).
pub fn upstream_client_config(mode: &UpstreamTls) -> Result<ClientConfig, PgError> {
    let check = match mode {
        UpstreamTls::Disable | UpstreamTls::Require => ServerCheck::EncryptOnly,
        UpstreamTls::VerifyFull { ca_file } => ServerCheck::Verify(ca_file.as_deref()),
    };
    upstream_tls::client_config(check).map_err(PgError::Tls)
}

/// The trust roots in the PEM file `ca_file` (see [`upstream_tls::trust_roots`]).
pub fn trust_roots(ca_file: &Path) -> Result<RootCertStore, PgError> {
    upstream_tls::trust_roots(ca_file).map_err(PgError::Tls)
}

/// A TLS client configuration that trusts exactly the certificates of `ca_file` (gatehouse
/// ships no public roots), with the process's crypto provider.
pub fn client_config_trusting(ca_file: &Path) -> Result<ClientConfig, PgError> {
    let roots = trust_roots(ca_file)?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ca_file(text: &str) -> (std::path::PathBuf, impl Drop) {
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-ca-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, text).unwrap();
        struct Remove(std::path::PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        (path, Remove(dir))
    }

    fn refusal(text: &str) -> String {
        let (path, _keep) = ca_file(text);
        trust_roots(&path).err().unwrap().to_string()
    }

    #[test]
    fn a_ca_file_that_is_missing_empty_or_holds_a_bad_certificate_is_refused_with_the_reason() {
        let missing = trust_roots(Path::new("/nonexistent/ca.pem"))
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("cannot read CA file"), "{missing}");
        assert!(refusal("").contains("holds no certificate"));
        assert!(refusal("not a certificate\n").contains("holds no certificate"));
        // A PEM block whose contents are not a certificate: never skipped silently.
        let bad = refusal("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert!(bad.contains("unusable CA certificate"), "{bad}");
        let broken = refusal("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        assert!(broken.contains("CA file"), "{broken}");
    }
}
