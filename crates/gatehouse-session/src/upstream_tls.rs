//! TLS towards target servers, the same for every database adapter: gatehouse's one crypto
//! provider, a CA file turned into trust roots (every certificate in it must be usable, and
//! there must be one), and the client configuration for the two ways a target is checked —
//! verified against roots, or encrypted only (handshake signatures checked, identity not),
//! which only explicit configuration chooses. Errors are sentences; each adapter wraps them
//! in its own error type.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// The crypto provider used everywhere in gatehouse (one provider, chosen explicitly).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a target server's certificate is checked.
#[derive(Debug, Clone, Copy)]
pub enum ServerCheck<'a> {
    /// Encrypt, checking handshake signatures but not whose certificate it is (libpq's
    /// `sslmode=require`).
    EncryptOnly,
    /// Verify the chain and host name against the certificates of this CA file (none: no
    /// roots, so nothing verifies).
    Verify(Option<&'a Path>),
}

/// The TLS client configuration that checks a target server as `check` says.
pub fn client_config(check: ServerCheck<'_>) -> Result<ClientConfig, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    Ok(match check {
        ServerCheck::EncryptOnly => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
            .with_no_client_auth(),
        ServerCheck::Verify(ca_file) => {
            let roots = match ca_file {
                Some(path) => trust_roots(path)?,
                None => RootCertStore::empty(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    })
}

/// The trust roots in the PEM file `ca_file`: every certificate in it must parse and be
/// usable as a root, and there must be at least one; otherwise the error says which file and
/// why. The one way gatehouse turns a CA file into trust (nothing is skipped silently).
pub fn trust_roots(ca_file: &Path) -> Result<RootCertStore, String> {
    let shown = ca_file.display();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("cannot read CA file `{shown}`: {e}"))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        let cert = cert.map_err(|e| format!("cannot parse CA file `{shown}`: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable CA certificate in `{shown}`: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "CA file `{shown}` holds no certificate (PEM `BEGIN CERTIFICATE` blocks)"
        ));
    }
    Ok(roots)
}

/// `ServerCheck::EncryptOnly`: the channel is encrypted and the handshake signatures checked,
/// but the certificate's identity is not verified.
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
