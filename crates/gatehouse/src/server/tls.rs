//! Client-facing TLS material: the configured certificate, or a self-signed one generated in
//! the data directory on first start so that TLS is on by default.

use anyhow::{Context, Result};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the generated certificate lives; `gatehouse exec` trusts it when run beside the gateway.
pub fn generated_cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("server.crt")
}

fn generated_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("server.key")
}

/// Paths of the certificate and key to serve, generating a self-signed pair if none is configured
/// and none was generated before. Returns whether a new one was generated.
pub fn ensure_certificate(
    data_dir: &Path,
    configured: Option<(PathBuf, PathBuf)>,
) -> Result<(PathBuf, PathBuf, bool)> {
    if let Some((cert, key)) = configured {
        return Ok((cert, key, false));
    }
    let cert_path = generated_cert_path(data_dir);
    let key_path = generated_key_path(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path, false));
    }
    // `*.gatehouse.localhost` names HTTP API connections by host
    // (`rabbit.gatehouse.localhost`, `[http] host`), which curl and most resolvers send to
    // loopback without any DNS entry.
    let names = vec![
        "localhost".to_owned(),
        format!("*.{}", crate::config::http::DEFAULT_HTTP_HOST),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .context("cannot generate a self-signed TLS certificate")?;
    let dir = data_dir.join("tls");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("cannot write `{}`", cert_path.display()))?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    Ok((cert_path, key_path, true))
}

/// A rustls server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read TLS certificate `{}`", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot parse TLS certificate `{}`", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read TLS private key `{}`", key.display()))?;
    let config = ServerConfig::builder_with_provider(gatehouse_pg::tls_provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol configuration")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not match or are unusable")?;
    Ok(Arc::new(config))
}

/// Write a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}
