//! TLS towards target servers. Client-facing TLS is configured by the binary (it owns the
//! certificate files) and handed to the listener as a ready `rustls::ServerConfig`.

use crate::PgError;
use crate::upstream::UpstreamTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The crypto provider used everywhere in gatehouse (one provider, chosen explicitly).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
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
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(e.to_string()))?;
    let config = match mode {
        UpstreamTls::Disable | UpstreamTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
            .with_no_client_auth(),
        UpstreamTls::VerifyFull { ca_file } => {
            let roots = match ca_file {
                Some(path) => trust_roots(path)?,
                None => RootCertStore::empty(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
}

/// The trust roots in the PEM file `ca_file`: every certificate in it must parse and be
/// usable as a root, and there must be at least one; otherwise the error says which file and
/// why. The one way gatehouse turns a CA file into trust (nothing is skipped silently).
pub fn trust_roots(ca_file: &Path) -> Result<RootCertStore, PgError> {
    let shown = ca_file.display();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| PgError::Tls(format!("cannot read CA file `{shown}`: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        let cert =
            cert.map_err(|e| PgError::Tls(format!("cannot parse CA file `{shown}`: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| PgError::Tls(format!("unusable CA certificate in `{shown}`: {e}")))?;
    }
    if roots.is_empty() {
        return Err(PgError::Tls(format!(
            "CA file `{shown}` holds no certificate (PEM `BEGIN CERTIFICATE` blocks)"
        )));
    }
    Ok(roots)
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

/// libpq's `sslmode=require`: the channel is encrypted and the handshake signatures checked,
/// but the certificate's identity is not verified. Chosen only by explicit configuration.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
