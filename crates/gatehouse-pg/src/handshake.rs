//! The client side of connection startup: TLS negotiation, the startup message, the token as
//! cleartext password (asked for only inside TLS unless plaintext is explicitly allowed), and
//! the `connect` decision. What comes out is an authenticated, authorised client.

use crate::connector::{BackendKey, Stream};
use crate::startup_settings::{StartupSetting, startup_settings};
use crate::wire::tags::frontend;
use crate::wire::{self, FrameReader, Severity};
use crate::{PgError, PgGateway};
use bytes::BytesMut;
use gatehouse_core::{ConnectionInfo, Identity, SecretString};
use gatehouse_pipeline::Authenticated;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// What a client is told when `max_sessions` sessions are already open.
pub(crate) const TOO_MANY_SESSIONS: &str =
    "gatehouse has too many open sessions (`max_sessions`); try again later";

/// A user name that means "whoever the token says": for programs that have a token but no
/// reason to repeat its subject (`gatehouse exec` uses it).
pub const TOKEN_ONLY_USER: &str = "gatehouse";

/// A client that finished startup: who it is, what it asked for, its stream.
pub(crate) struct Accepted {
    pub stream: Box<dyn Stream>,
    pub leftover: BytesMut,
    pub identity: Identity,
    pub credential: Credential,
    pub connection: Arc<ConnectionInfo>,
    /// The settings the client asked for at startup (passed to the server once decided).
    pub settings: Vec<StartupSetting>,
}

/// The credential a client authenticated with: the session ends when it expires or is
/// revoked.
pub(crate) struct Credential {
    /// An API key's id or a gatehouse token's `jti`.
    pub id: String,
    pub expires_at_unix: Option<i64>,
}

/// Outcome of the startup phase.
pub(crate) enum Startup {
    /// A client ready for the session.
    Client(Accepted),
    /// The connection was a cancel request and has been handled.
    Cancelled,
}

/// Run startup on a new connection. Errors that the client should see are sent to it here.
///
/// `full` means every session slot is taken: the client is refused with SQLSTATE 53300 once
/// it has sent its startup message (after TLS, as PostgreSQL does), because a client that
/// asked for TLS cannot read an error sent in place of the answer to its `SSLRequest`.
/// Cancel requests are still relayed.
pub(crate) async fn accept(
    gateway: &PgGateway,
    tcp: Box<dyn Stream>,
    peer: Option<IpAddr>,
    full: bool,
) -> Result<Startup, PgError> {
    let max = gateway.settings.max_client_message;
    let mut reader = FrameReader::new(tcp, max, "client");
    let mut encrypted = false;
    loop {
        let Some(frame) = reader.next_startup().await? else {
            return Err(PgError::Protocol(
                "client closed the connection during startup".into(),
            ));
        };
        match frame.code {
            wire::SSL_REQUEST_CODE if !encrypted => {
                let Some(acceptor) = gateway.tls.clone() else {
                    reader.get_mut().write_all(b"N").await?;
                    continue;
                };
                if !reader.buffer_is_empty() {
                    return Err(PgError::Protocol(
                        "client sent data after SSLRequest before the TLS handshake".into(),
                    ));
                }
                let (mut stream, _) = reader.into_parts();
                stream.write_all(b"S").await?;
                let tls = acceptor
                    .accept(stream)
                    .await
                    .map_err(|e| PgError::Tls(e.to_string()))?;
                reader = FrameReader::new(Box::new(tls), max, "client");
                encrypted = true;
            }
            wire::GSSENC_REQUEST_CODE if !encrypted => {
                reader.get_mut().write_all(b"N").await?;
            }
            wire::CANCEL_REQUEST_CODE => {
                let mut body = wire::BodyReader::new(&frame.body, "CancelRequest");
                let key = BackendKey {
                    process_id: body.i32()?,
                    secret: body.i32()?,
                };
                relay_cancel(gateway, key).await;
                // Close a TLS cancel connection with close_notify: libpq 17 reports a cancel
                // whose connection just drops as failed, though the query was cancelled.
                let _ = reader.get_mut().shutdown().await;
                return Ok(Startup::Cancelled);
            }
            code if code >> 16 == 3 && full => {
                refuse(&mut reader, "53300", TOO_MANY_SESSIONS, None).await;
                return Err(PgError::Protocol(
                    "refused: every session slot is taken (`max_sessions`)".into(),
                ));
            }
            code if code >> 16 == 3 => {
                let params = wire::startup_parameters(&frame.body)?;
                return startup(gateway, reader, peer, encrypted, code & 0xffff, params)
                    .await
                    .map(Startup::Client);
            }
            other => {
                let message = format!(
                    "unsupported frontend protocol {}.{}: gatehouse speaks protocol 3.0",
                    other >> 16,
                    other & 0xffff
                );
                refuse(&mut reader, "08P01", &message, None).await;
                return Err(PgError::Protocol(message));
            }
        }
    }
}

async fn relay_cancel(gateway: &PgGateway, key: BackendKey) {
    match gateway.cancels.resolve(key) {
        Some(resolved) => {
            let connection = &resolved.connection;
            if let Err(error) = gateway.connector.cancel(connection, resolved.backend).await {
                tracing::warn!(%connection, %error, "cancel request could not be relayed");
            }
            // Only once the server has read the cancel: a session waiting for an approval
            // answers the interrupt with a query of its own (the refusal marker), which a
            // cancel still on its way would otherwise cancel instead, replacing gatehouse's
            // "withdrawn" with the server's "canceling statement due to user request".
            resolved.interrupt();
        }
        None => tracing::debug!("cancel request with an unknown key ignored"),
    }
}

/// Send a FATAL error to a client that is being refused; failures to send are moot.
async fn refuse(
    reader: &mut FrameReader<Box<dyn Stream>>,
    sqlstate: &str,
    message: &str,
    hint: Option<&str>,
) {
    let error = wire::error_response(Severity::Fatal, sqlstate, message, None, hint);
    let stream = reader.get_mut();
    let _ = stream.write_all(&error).await;
    let _ = stream.flush().await;
}

async fn startup(
    gateway: &PgGateway,
    mut reader: FrameReader<Box<dyn Stream>>,
    peer: Option<IpAddr>,
    encrypted: bool,
    minor: i32,
    params: Vec<(String, String)>,
) -> Result<Accepted, PgError> {
    if !encrypted && gateway.settings.require_tls {
        let message = "gatehouse requires TLS: connect with sslmode=require (or verify-full with the gateway's CA certificate)";
        refuse(&mut reader, "28000", message, None).await;
        return Err(PgError::Protocol("client did not start TLS".into()));
    }
    let unknown_options: Vec<String> = params
        .iter()
        .filter(|(name, _)| name.starts_with("_pq_."))
        .map(|(name, _)| name.clone())
        .collect();
    if minor > 0 || !unknown_options.is_empty() {
        reader
            .get_mut()
            .write_all(&wire::negotiate_protocol_version(0, &unknown_options))
            .await?;
    }
    let value = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let Some(user) = value("user") else {
        refuse(
            &mut reader,
            "28000",
            "no user name given in the startup message",
            None,
        )
        .await;
        return Err(PgError::Protocol("startup without user".into()));
    };
    let database = value("database").unwrap_or_else(|| user.clone());
    let classify = |sql: &str| -> Vec<gatehouse_core::SqlStatement> {
        gateway
            .classifier
            .classify(sql)
            .iter()
            .map(|c| c.statement.clone())
            .collect()
    };
    let settings = match startup_settings(&params, classify) {
        Ok(settings) => settings,
        Err(message) => {
            refuse(&mut reader, "08P01", &message, None).await;
            return Err(PgError::Protocol(message));
        }
    };

    reader
        .get_mut()
        .write_all(&wire::authentication(3, &[]))
        .await?;
    reader.get_mut().flush().await?;
    let Some(frame) = reader.next().await? else {
        return Err(PgError::Protocol(
            "client closed the connection instead of sending a password".into(),
        ));
    };
    if frame.tag != frontend::PASSWORD_MESSAGE {
        let message = "expected a password message: pass your gatehouse token as the password";
        refuse(&mut reader, "08P01", message, None).await;
        return Err(PgError::Protocol(message.into()));
    }
    let token = SecretString::new(wire::BodyReader::new(frame.body(), "PasswordMessage").cstr()?);

    let accepted = match gateway.authenticator.authenticate_credential(&token).await {
        Ok(accepted) => accepted,
        Err(error) => {
            // `?`: the user name is the client's, Debug escapes control characters so it
            // cannot forge log lines.
            tracing::info!(?user, reason = %error, "client authentication failed");
            metrics::counter!("gatehouse_pg_auth_failures_total").increment(1);
            let detail =
                format!("refused PostgreSQL login as user {user:?} to {database:?}: {error}");
            if let Err(failure) = gateway
                .pipeline
                .record_auth_failure(peer, Some(&database), detail)
                .await
            {
                tracing::error!(%failure, "cannot record a refused login in the audit log");
            }
            let message = format!("password authentication failed for user \"{user}\"");
            let hint = "the gatehouse token is invalid, expired or revoked: get a new one (`gatehouse token` after `gatehouse login`, or `gatehouse keys create`)";
            refuse(&mut reader, "28P01", &message, Some(hint)).await;
            return Err(PgError::Protocol(format!("authentication failed: {error}")));
        }
    };
    let Authenticated {
        identity,
        credential_id,
        expires_at_unix,
    } = accepted;
    if identity.subject != user && user != TOKEN_ONLY_USER {
        let message = format!(
            "the token belongs to `{}`, not `{user}`: connect with user={} (or user={TOKEN_ONLY_USER})",
            identity.subject, identity.subject
        );
        refuse(&mut reader, "28000", &message, None).await;
        return Err(PgError::Protocol(message));
    }
    let in_force = gateway.connection_settings.current();
    let Some(connection) = in_force.connections.get(&database).cloned() else {
        let mut names: Vec<&str> = in_force.connections.keys().map(String::as_str).collect();
        names.sort_unstable();
        let message = format!(
            "gatehouse has no connection named `{database}`; name one of [{}] as the database",
            names.join(", ")
        );
        refuse(&mut reader, "3D000", &message, None).await;
        return Err(PgError::Protocol(message));
    };
    let (stream, leftover) = reader.into_parts();
    Ok(Accepted {
        stream,
        leftover,
        identity,
        credential: Credential {
            id: credential_id,
            expires_at_unix,
        },
        connection,
        settings,
    })
}
