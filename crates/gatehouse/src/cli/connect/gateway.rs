//! The gateway side: verified TLS to the gateway's PostgreSQL listener, startup as
//! `gatehouse` on the served connection with the token as the cleartext password (only ever
//! inside TLS), relaying the gateway's answers to the local client up to `ReadyForQuery`, then
//! splicing bytes. Cancel requests go to the gateway over a TLS connection of their own.

use super::GatewayTarget;
use super::local::{CancelKey, LocalClient};
use anyhow::Result;
use gatehouse_pg::wire::tags::backend;
use gatehouse_pg::wire::{self, FrameReader};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Bound on each message the gateway sends during startup.
const MAX_STARTUP_MESSAGE: usize = 1 << 20;
/// A cancel request is relayed, or given up, within this.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how to reach the gateway, and which connection to ask it for.
pub(super) struct Gateway {
    pub(super) target: GatewayTarget,
}

/// A session's gateway side, authenticated and ready for queries.
pub(super) struct Upstream {
    stream: TlsStream<TcpStream>,
    /// Bytes the gateway sent after its first `ReadyForQuery`.
    leftover: Vec<u8>,
}

/// Why a session could not be opened.
pub(super) enum Failure {
    /// The gateway refused with an ErrorResponse, already relayed to the client verbatim.
    Refused(String),
    /// To be sent to the client as FATAL with this SQLSTATE.
    Local {
        sqlstate: &'static str,
        message: String,
    },
}

fn failure(sqlstate: &'static str, message: String) -> Failure {
    Failure::Local { sqlstate, message }
}

impl Gateway {
    /// TCP, `SSLRequest`, `S`, and a TLS handshake verifying the gateway's certificate.
    async fn dial(&self) -> Result<TlsStream<TcpStream>, Failure> {
        let unreachable = |cause: String| {
            failure(
                "08001",
                format!(
                    "cannot reach the gateway at {}: {cause}",
                    self.target.address
                ),
            )
        };
        let mut tcp = self
            .target
            .tcp()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tcp.write_all(&wire::request_code(wire::SSL_REQUEST_CODE, None))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let answer = tcp
            .read_u8()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if answer != b'S' {
            return Err(failure(
                "08001",
                format!(
                    "the gateway at {} does not offer TLS; gatehouse connect sends tokens only over verified TLS",
                    self.target.address
                ),
            ));
        }
        self.target.tls
            .connect(self.target.server_name.clone(), tcp)
            .await
            .map_err(|e| {
                failure(
                    "08001",
                    format!(
                        "TLS verification of the gateway at {} failed: {e} (is --ca-file the gateway's CA certificate?)",
                        self.target.address
                    ),
                )
            })
    }

    /// Open a session for `client` with `token`: what the gateway answers up to its first
    /// `ReadyForQuery` is relayed to the client.
    pub(super) async fn open(
        &self,
        client: &mut LocalClient,
        token: &str,
    ) -> Result<Upstream, Failure> {
        let mut stream = self.dial().await?;
        let mut params = vec![
            ("user", gatehouse_pg::TOKEN_ONLY_USER),
            ("database", self.target.connection.as_str()),
        ];
        params.extend(client.passthrough());
        let closed = |e: String| {
            failure(
                "08006",
                format!(
                    "lost the gateway at {} during startup: {e}",
                    self.target.address
                ),
            )
        };
        stream
            .write_all(&wire::startup_message(&params))
            .await
            .map_err(|e| closed(e.to_string()))?;
        stream.flush().await.map_err(|e| closed(e.to_string()))?;
        let mut reader = FrameReader::new(stream, MAX_STARTUP_MESSAGE, "gateway");
        let mut relay: Vec<u8> = Vec::new();
        let mut password_sent = false;
        loop {
            let frame = reader
                .next()
                .await
                .map_err(|e| closed(e.to_string()))?
                .ok_or_else(|| closed("it closed the connection".into()))?;
            match frame.tag {
                backend::AUTHENTICATION => {
                    let code = wire::BodyReader::new(frame.body(), "Authentication")
                        .i32()
                        .map_err(|e| closed(e.to_string()))?;
                    match code {
                        3 if !password_sent => {
                            let stream = reader.get_mut();
                            stream
                                .write_all(&wire::password_message(token))
                                .await
                                .map_err(|e| closed(e.to_string()))?;
                            stream.flush().await.map_err(|e| closed(e.to_string()))?;
                            password_sent = true;
                        }
                        0 => relay.extend_from_slice(&frame.raw),
                        other => {
                            return Err(failure(
                                "08P01",
                                format!(
                                    "the gateway at {} asked for authentication method {other}; a gatehouse gateway asks for the token as a password once",
                                    self.target.address
                                ),
                            ));
                        }
                    }
                }
                backend::ERROR_RESPONSE => {
                    relay.extend_from_slice(&frame.raw);
                    let _ = client.stream.write_all(&relay).await;
                    let _ = client.stream.flush().await;
                    let reason = wire::error_fields(frame.body())
                        .map(|fields| wire::describe_error(&fields))
                        .unwrap_or_else(|e| e.to_string());
                    return Err(Failure::Refused(reason));
                }
                backend::READY_FOR_QUERY => {
                    relay.extend_from_slice(&frame.raw);
                    client
                        .stream
                        .write_all(&relay)
                        .await
                        .map_err(|e| failure("08006", format!("lost the client: {e}")))?;
                    let (stream, leftover) = reader.into_parts();
                    return Ok(Upstream {
                        stream,
                        leftover: leftover.to_vec(),
                    });
                }
                _ => relay.extend_from_slice(&frame.raw),
            }
        }
    }

    /// Relay a local client's cancel request to the gateway over TLS, and wait for the
    /// gateway to close that connection (it has then acted on it).
    pub(super) async fn forward_cancel(&self, key: CancelKey) -> Result<(), String> {
        let relay = async {
            let mut stream = self.dial().await.map_err(|failure| match failure {
                Failure::Local { message, .. } | Failure::Refused(message) => message,
            })?;
            let request = wire::request_code(
                wire::CANCEL_REQUEST_CODE,
                Some((key.process_id, key.secret)),
            );
            stream
                .write_all(&request)
                .await
                .map_err(|e| e.to_string())?;
            stream.flush().await.map_err(|e| e.to_string())?;
            // The gateway closes the connection once it has acted on the request (without
            // a TLS close_notify, which reads as an error here: either way it is done).
            let mut sink = [0u8; 64];
            while let Ok(1..) = stream.read(&mut sink).await {}
            Ok(())
        };
        tokio::time::timeout(CANCEL_TIMEOUT, relay)
            .await
            .map_err(|_| {
                format!(
                    "the gateway at {} did not answer in time",
                    self.target.address
                )
            })?
    }
}

/// Forward bytes both ways until either side closes: (client → gateway, gateway → client).
pub(super) async fn splice(client: LocalClient, upstream: Upstream) -> std::io::Result<(u64, u64)> {
    let LocalClient {
        stream: mut local,
        leftover: client_ahead,
        ..
    } = client;
    let Upstream {
        stream: mut remote,
        leftover: gateway_ahead,
    } = upstream;
    local.write_all(&gateway_ahead).await?;
    remote.write_all(&client_ahead).await?;
    remote.flush().await?;
    tokio::io::copy_bidirectional(&mut local, &mut remote).await
}
