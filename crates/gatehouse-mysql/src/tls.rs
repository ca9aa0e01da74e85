//! TLS towards MySQL servers, with gatehouse's one crypto provider (`ring`). Client-facing TLS
//! is configured by the binary and handed over as a ready acceptor.

use crate::{MysqlError, UpstreamTls};
use gatehouse_session::Stream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Start TLS on `tcp` to the server at `host`, verified as `mode` says.
pub(crate) async fn connect_boxed(
    tcp: Box<dyn Stream>,
    host: &str,
    mode: &UpstreamTls,
) -> Result<Box<dyn Stream>, MysqlError> {
    let config = Arc::new(client_config(mode)?);
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| MysqlError::Tls(format!("`{host}` is not a valid TLS server name: {e}")))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map(|tls| Box::new(tls) as Box<dyn Stream>)
        .map_err(|e| MysqlError::Upstream(format!("TLS handshake with {host} failed: {e}")))
}

fn client_config(mode: &UpstreamTls) -> Result<ClientConfig, MysqlError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| MysqlError::Tls(e.to_string()))?;
    Ok(match mode {
        UpstreamTls::VerifyFull { ca_file } => {
            let roots = match ca_file {
                Some(path) => trust_roots(path)?,
                None => RootCertStore::empty(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        UpstreamTls::Disable | UpstreamTls::Prefer | UpstreamTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider())))
            .with_no_client_auth(),
    })
}

/// Every certificate of the PEM file `ca_file`, which must hold at least one.
fn trust_roots(ca_file: &Path) -> Result<RootCertStore, MysqlError> {
    let shown = ca_file.display();
    let certs = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| MysqlError::Tls(format!("cannot read CA file `{shown}`: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in certs {
        let cert =
            cert.map_err(|e| MysqlError::Tls(format!("cannot parse CA file `{shown}`: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| MysqlError::Tls(format!("unusable CA certificate in `{shown}`: {e}")))?;
    }
    if roots.is_empty() {
        return Err(MysqlError::Tls(format!(
            "CA file `{shown}` holds no certificate"
        )));
    }
    Ok(roots)
}

/// `Require`: the channel is encrypted and handshake signatures are checked, but the
/// certificate's identity is not verified. Chosen only by explicit configuration.
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
