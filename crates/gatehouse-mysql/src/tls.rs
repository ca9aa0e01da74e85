//! TLS towards MySQL servers, checked as the login says with the upstream TLS every database
//! adapter shares (`gatehouse_session::upstream_tls`). Client-facing TLS is configured by the
//! binary and handed over as a ready acceptor.

use crate::{MysqlError, UpstreamTls};
use gatehouse_session::Stream;
use gatehouse_session::upstream_tls::{self, ServerCheck};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

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
    let check = match mode {
        UpstreamTls::VerifyFull { ca_file } => ServerCheck::Verify(ca_file.as_deref()),
        UpstreamTls::Disable | UpstreamTls::Prefer | UpstreamTls::Require => {
            ServerCheck::EncryptOnly
        }
    };
    upstream_tls::client_config(check).map_err(MysqlError::Tls)
}
