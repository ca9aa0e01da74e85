//! The server side of the proxy: dial a PostgreSQL server, optionally over TLS, and
//! authenticate with the connection's own credentials (trust, cleartext, md5, SCRAM-SHA-256).
//! The credentials come from the gateway's configuration and never from the client.

use crate::connector::{BackendKey, PgTarget, Stream, UpstreamSession};
use crate::wire::tags::{backend, frontend};
use crate::wire::{self, FrameReader};
use crate::{PgError, tls};
use gatehouse_core::SecretString;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// TLS to the target server, with libpq's meaning of the mode names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UpstreamTls {
    /// Plain TCP (fine on loopback or a trusted network segment).
    Disable,
    /// Encrypt, but do not verify the server's certificate (libpq `sslmode=require`).
    Require,
    /// Encrypt and verify the certificate chain and host name against `ca_file`
    /// (or the built-in web roots when none is given).
    VerifyFull { ca_file: Option<PathBuf> },
}

pub(crate) async fn open(
    target: &PgTarget,
    client_parameters: &[(String, String)],
    max_message: usize,
) -> Result<UpstreamSession, PgError> {
    let mut stream = dial(target).await?;
    let mut params: Vec<(&str, &str)> = vec![
        ("user", target.user.as_str()),
        ("database", target.database.as_str()),
    ];
    params.extend(
        client_parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    stream.write_all(&wire::startup_message(&params)).await?;
    stream.flush().await?;

    let mut reader = FrameReader::new(stream, max_message, "server");
    authenticate(&mut reader, target).await?;

    let mut parameters = Vec::new();
    let mut key = None;
    loop {
        let frame = next_frame(&mut reader).await?;
        match frame.tag {
            backend::PARAMETER_STATUS => {
                let mut body = wire::BodyReader::new(frame.body(), "ParameterStatus");
                parameters.push((body.cstr()?.to_owned(), body.cstr()?.to_owned()));
            }
            backend::BACKEND_KEY_DATA => {
                let mut body = wire::BodyReader::new(frame.body(), "BackendKeyData");
                key = Some(BackendKey {
                    process_id: body.i32()?,
                    secret: body.i32()?,
                });
            }
            backend::NOTICE_RESPONSE => {}
            backend::ERROR_RESPONSE => return Err(server_refused(target, frame.body())),
            backend::READY_FOR_QUERY => break,
            other => {
                return Err(PgError::Protocol(format!(
                    "server sent unexpected message type {:?} during startup",
                    char::from(other)
                )));
            }
        }
    }
    let (stream, leftover) = reader.into_parts();
    Ok(UpstreamSession {
        stream,
        parameters,
        key,
        leftover,
    })
}

pub(crate) async fn cancel(target: &PgTarget, key: BackendKey) -> Result<(), PgError> {
    let mut stream = dial(target).await?;
    let request = wire::request_code(
        wire::CANCEL_REQUEST_CODE,
        Some((key.process_id, key.secret)),
    );
    stream.write_all(&request).await?;
    stream.flush().await?;
    // The server closes the connection without answering; wait for that so the cancel has
    // been read before we report success.
    let mut sink = [0u8; 1];
    let _ = stream.read(&mut sink).await;
    Ok(())
}

async fn dial(target: &PgTarget) -> Result<Box<dyn Stream>, PgError> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            PgError::Upstream(format!(
                "cannot reach the server at {}:{}: {e}",
                target.host, target.port
            ))
        })?;
    tcp.set_nodelay(true)?;
    if target.tls == UpstreamTls::Disable {
        return Ok(Box::new(tcp));
    }
    let mut tcp = tcp;
    tcp.write_all(&wire::request_code(wire::SSL_REQUEST_CODE, None))
        .await?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await?;
    if answer != *b"S" {
        return Err(PgError::Upstream(format!(
            "the server at {}:{} does not accept TLS, but the connection requires it (`tls = \"disable\"` turns it off)",
            target.host, target.port
        )));
    }
    let stream = tls::connect_upstream(tcp, &target.host, &target.tls).await?;
    Ok(Box::new(stream))
}

async fn next_frame(reader: &mut FrameReader<Box<dyn Stream>>) -> Result<wire::Frame, PgError> {
    reader
        .next()
        .await?
        .ok_or_else(|| PgError::Upstream("the server closed the connection during startup".into()))
}

fn server_refused(target: &PgTarget, body: &[u8]) -> PgError {
    let summary = wire::error_fields(body)
        .map(|fields| wire::describe_error(&fields))
        .unwrap_or_else(|_| "an unreadable error".to_owned());
    PgError::Upstream(format!(
        "the server at {}:{} refused the connection: {}",
        target.host,
        target.port,
        escape_controls(&summary)
    ))
}

/// The server's text with control characters escaped (`\r`, `\n`, `\u{1b}`): it becomes
/// part of gatehouse's own error, which is logged and sent to the client, where a raw line
/// break forges a log line and an escape sequence drives the reader's terminal.
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn password<'a>(target: &'a PgTarget, method: &str) -> Result<&'a SecretString, PgError> {
    target.password.as_ref().ok_or_else(|| {
        PgError::Upstream(format!(
            "the server asks for {method} authentication but the connection has no password configured \
             (set `password_env` or `password_file` for it)"
        ))
    })
}

async fn authenticate(
    reader: &mut FrameReader<Box<dyn Stream>>,
    target: &PgTarget,
) -> Result<(), PgError> {
    let mut scram: Option<ScramSha256> = None;
    loop {
        let frame = next_frame(reader).await?;
        if frame.tag == backend::ERROR_RESPONSE {
            return Err(server_refused(target, frame.body()));
        }
        if frame.tag != backend::AUTHENTICATION {
            return Err(PgError::Protocol(format!(
                "server sent message type {:?} instead of an authentication request",
                char::from(frame.tag)
            )));
        }
        let mut body = wire::BodyReader::new(frame.body(), "Authentication");
        let reply = match body.i32()? {
            0 => return Ok(()),
            3 => wire::password_message(password(target, "password")?.expose()),
            5 => {
                let salt: [u8; 4] = body
                    .take(4)?
                    .try_into()
                    .map_err(|_| PgError::Protocol("md5 salt is not 4 bytes".into()))?;
                let secret = password(target, "md5")?;
                let hashed = md5_hash(target.user.as_bytes(), secret.expose().as_bytes(), salt);
                wire::password_message(&hashed)
            }
            10 => {
                let mut offered = Vec::new();
                loop {
                    let mechanism = body.cstr()?;
                    if mechanism.is_empty() {
                        break;
                    }
                    offered.push(mechanism.to_owned());
                }
                if !offered.iter().any(|m| m == "SCRAM-SHA-256") {
                    return Err(PgError::Upstream(format!(
                        "the server offers only SASL mechanisms {offered:?}; gatehouse supports SCRAM-SHA-256"
                    )));
                }
                let secret = password(target, "SCRAM-SHA-256")?;
                let client =
                    ScramSha256::new(secret.expose().as_bytes(), ChannelBinding::unsupported());
                let message = wire::sasl_initial_response("SCRAM-SHA-256", client.message());
                scram = Some(client);
                message
            }
            11 => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| PgError::Protocol("SASLContinue before SASL started".into()))?;
                client.update(body.remaining()).map_err(|e| {
                    PgError::Upstream(format!("SCRAM exchange with the server failed: {e}"))
                })?;
                wire::raw_message(frontend::SASL_RESPONSE, client.message())
            }
            12 => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| PgError::Protocol("SASLFinal before SASL started".into()))?;
                client.finish(body.remaining()).map_err(|e| {
                    PgError::Upstream(format!(
                        "the server failed SCRAM verification (it may not know the password): {e}"
                    ))
                })?;
                continue;
            }
            other => {
                return Err(PgError::Upstream(format!(
                    "the server asks for authentication method {other}, which gatehouse does not support \
                     (supported: trust, password, md5, SCRAM-SHA-256)"
                )));
            }
        };
        let stream = reader_stream(reader);
        stream.write_all(&reply).await?;
        stream.flush().await?;
    }
}

fn reader_stream(reader: &mut FrameReader<Box<dyn Stream>>) -> &mut Box<dyn Stream> {
    reader.get_mut()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::escape_controls;

    #[test]
    fn server_text_loses_its_control_characters_but_not_its_meaning() {
        assert_eq!(
            escape_controls("boom\u{1b}[31m\r\nforged\tline\u{7f}\u{9b} é"),
            "boom\\u{1b}[31m\\r\\nforged\\tline\\u{7f}\\u{9b} é"
        );
    }
}
