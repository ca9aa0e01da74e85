//! The one PostgreSQL client of the gateway that `gatehouse exec`, the MCP tools and the
//! quickstart's checks share: a connection configuration that verifies the gateway's
//! certificate and sends the token as the password, a driver that passes on the gateway's
//! approval notices (read from their `DETAIL` in the documented `client_detail` form), and
//! error text for people.

use crate::config::setup::Setup;
use crate::server::tls::generated_cert_path;
use anyhow::{Context, Result, bail};
use gatehouse_pipeline::client_detail;
use std::path::{Path, PathBuf};
use tokio_postgres::config::SslMode;

/// A held statement's approval, as the gateway's notice describes it.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) approval_id: String,
    pub(crate) expires_at: String,
    pub(crate) approve_with: String,
}

/// The certificate (or its CA) to verify the gateway with: `--ca-file`, else the one the
/// gateway generated in `setup`'s data directory; it must exist, since gatehouse never skips
/// certificate verification.
pub(crate) fn gateway_ca_file(ca_file: Option<&Path>, setup: &Setup) -> Result<PathBuf> {
    let ca_file = match ca_file {
        Some(file) => file.to_path_buf(),
        None => generated_cert_path(&setup.data_dir),
    };
    if !ca_file.exists() {
        bail!(
            "no CA certificate to verify the gateway with: `{}` does not exist. Pass --ca-file with the gateway's \
             certificate (gatehouse never skips certificate verification), or run beside the gateway with the same --data-dir",
            ca_file.display()
        );
    }
    Ok(ca_file)
}

/// A client configuration for `connection` through the gateway at `gateway` (`HOST:PORT`):
/// TLS required and verified against `ca_file`, the token as password.
pub(crate) fn gateway_config(
    gateway: &str,
    ca_file: &Path,
    connection: &str,
    token: &str,
    application_name: &str,
) -> Result<(
    tokio_postgres::Config,
    tokio_postgres_rustls::MakeRustlsConnect,
)> {
    let (host, port) = gateway
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--gateway `{gateway}` is not HOST:PORT"))?;
    let tls = gatehouse_pg::client_config_trusting(ca_file)?;
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .dbname(connection)
        .user(gatehouse_pg::TOKEN_ONLY_USER)
        .password(token)
        .application_name(application_name)
        .ssl_mode(SslMode::Require);
    Ok((config, connector))
}

/// Drive the connection, passing on the gateway's approval notices.
pub(crate) async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notices: tokio::sync::mpsc::UnboundedSender<Pending>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(tokio_postgres::AsyncMessage::Notice(notice))) => {
                if let Some(pending) = notice.detail().and_then(pending_of) {
                    let _ = notices.send(pending);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return,
        }
    }
}

/// The approval a gateway notice's detail names (see `gatehouse_pipeline::client_detail`).
fn pending_of(detail: &str) -> Option<Pending> {
    let field = |name| client_detail::field(detail, name).map(str::to_owned);
    Some(Pending {
        approval_id: field(client_detail::APPROVAL_ID)?,
        expires_at: field(client_detail::EXPIRES_AT).unwrap_or_default(),
        approve_with: field(client_detail::APPROVE_WITH).unwrap_or_default(),
    })
}

/// A driver error as one line: the server's message and SQLSTATE, or the error and its causes.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(inner) = source {
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            text
        }
    }
}
