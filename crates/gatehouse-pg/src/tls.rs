//! TLS towards target servers. Client-facing TLS is configured by the binary (it owns the
//! certificate files) and handed to the listener as a ready `rustls::ServerConfig`.

use crate::PgError;
use crate::upstream::UpstreamTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The crypto provider used everywhere in gatehouse (one provider, chosen explicitly).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) async fn connect_upstream(
    tcp: TcpStream,
    host: &str,
    mode: &UpstreamTls,
) -> Result<TlsStream<TcpStream>, PgError> {
    let config = upstream_client_config(mode)?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| PgError::Tls(format!("`{host}` is not a valid TLS server name: {e}")))?;
    TlsConnector::from(Arc::new(config))
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
            let mut roots = RootCertStore::empty();
            if let Some(path) = ca_file {
                let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                    PgError::Tls(format!("cannot read CA file `{}`: {e}", path.display()))
                })?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        PgError::Tls(format!("cannot parse CA file `{}`: {e}", path.display()))
                    })?;
                    roots.add(cert).map_err(|e| {
                        PgError::Tls(format!(
                            "unusable CA certificate in `{}`: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(config)
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
