//! `gatehouse connect` for a MySQL connection: a plaintext MySQL endpoint on loopback whose
//! clients log in with no password (and may name no database: tools such as `mysqlslap` select
//! one later), and whose sessions this command opens at the gateway's MySQL listener over
//! verified TLS with the current token as the password (`mysql_clear_password`, only inside
//! TLS) and the served connection as the database.
//!
//! The login is translated, then bytes are spliced. The local client is shown the gateway's
//! own greeting (its version, capabilities and connection id) without TLS and with
//! `mysql_native_password` as the plugin (a local password is never used), so everything it
//! negotiates also holds at the gateway. Its login answer gives the capabilities, character
//! set, user and connection attributes of the gateway login; the gateway's verdict is relayed
//! with the sequence id the client expects (the gateway's exchange is one packet longer, for
//! the SSL request). After that both sides speak the same protocol and bytes pass unchanged.

use super::GatewayTarget;
use anyhow::{Context, Result, bail};
use gatehouse_mysql_wire::auth::{CLEAR_PASSWORD, NATIVE_PASSWORD};
use gatehouse_mysql_wire::handshake::{HandshakeResponse, InitialHandshake, SslRequest};
use gatehouse_mysql_wire::response::ErrPacket;
use gatehouse_mysql_wire::{Capabilities, PacketReader, write_message};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound on each login message either side sends.
const MAX_LOGIN_MESSAGE: usize = 1 << 20;
/// From accepting a local client to its session being open at the gateway.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// What the local client is told a refusal of this command's own is (access denied).
const ACCESS_DENIED: u16 = 1045;

/// Where and how to reach the gateway's MySQL listener, and which connection to ask it for.
pub(super) struct MysqlForwarder {
    pub(super) target: GatewayTarget,
}

impl MysqlForwarder {
    /// Serve local clients until `stop` resolves.
    pub(super) async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        stop: impl Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((client, peer)) => {
                        let forwarder = self.clone();
                        tasks.spawn(async move {
                            if let Err(error) = forwarder.session(client).await {
                                tracing::warn!(client = %peer, "session ended: {error:#}");
                            }
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot accept a client");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        tasks.shutdown().await;
    }

    /// One local client: the translated login, then bytes both ways until either side leaves.
    async fn session(&self, mut client: TcpStream) -> Result<()> {
        let _ = client.set_nodelay(true);
        let opened = tokio::time::timeout(LOGIN_TIMEOUT, self.login(&mut client)).await;
        let mut gateway = match opened {
            Ok(Ok(gateway)) => gateway,
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                refuse(
                    &mut client,
                    2,
                    "gatehouse connect: the login did not finish in time",
                )
                .await;
                bail!("the login did not finish within {LOGIN_TIMEOUT:?}");
            }
        };
        tokio::io::copy_bidirectional(&mut client, &mut gateway)
            .await
            .map(|_| ())
            .context("relaying")
    }

    async fn login(
        &self,
        client: &mut TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let mut tcp = self.target.tcp().await.with_context(|| {
            format!(
                "cannot reach the gateway's MySQL listener at {}",
                self.target.address
            )
        })?;
        let mut from_gateway = PacketReader::new(MAX_LOGIN_MESSAGE);
        let greeting = read_message(&mut tcp, &mut from_gateway).await?;
        let greeting = InitialHandshake::parse(&greeting.payload)
            .context("the gateway's greeting is not a MySQL greeting")?;
        if !greeting.capabilities.contains(Capabilities::SSL) {
            bail!(
                "the gateway at {} does not offer TLS; gatehouse connect sends tokens only over verified TLS",
                self.target.address
            );
        }
        let local_greeting = InitialHandshake {
            capabilities: greeting.capabilities.without(Capabilities::SSL),
            auth_plugin: NATIVE_PASSWORD.to_owned(),
            ..greeting.clone()
        };
        send(client, 0, &local_greeting.encode()).await?;
        let mut from_client = PacketReader::new(MAX_LOGIN_MESSAGE);
        let answer = read_message(client, &mut from_client).await?;
        let Ok(login) = HandshakeResponse::parse(&answer.payload) else {
            refuse(client, answer.last_sequence.wrapping_add(1), "gatehouse connect: log in with a MySQL 4.1+ client, without TLS (this endpoint is on loopback; gatehouse connect adds TLS to the gateway)").await;
            bail!(
                "the local client's login could not be read (a TLS request, or a pre-4.1 client)"
            );
        };
        let token = match crate::client::token::find(self.target.token_file.as_deref()).await {
            Ok(token) => token,
            Err(error) => {
                let message = format!("gatehouse connect: no token to log in with: {error:#}");
                refuse(client, answer.last_sequence.wrapping_add(1), &message).await;
                return Err(error);
            }
        };
        let capabilities = login.capabilities
            | Capabilities::SSL
            | Capabilities::CONNECT_WITH_DB
            | Capabilities::PLUGIN_AUTH
            | Capabilities::SECURE_CONNECTION
            | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA;
        let ssl_request = SslRequest {
            capabilities,
            max_packet: login.max_packet,
            collation: login.collation,
        };
        send(&mut tcp, 1, &ssl_request.encode()).await?;
        let mut tls = self
            .target
            .tls
            .connect(self.target.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS with the gateway at {} failed", self.target.address))?;
        let mut password = token.into_bytes();
        password.push(0);
        let database = match login.database {
            Some(database) if !database.is_empty() => database,
            _ => self.target.connection.clone().into_bytes(),
        };
        let gateway_login = HandshakeResponse {
            capabilities,
            auth_response: password,
            database: Some(database),
            auth_plugin: Some(CLEAR_PASSWORD.to_owned()),
            ..login
        };
        send(&mut tls, 2, &gateway_login.encode()).await?;
        let mut from_gateway = PacketReader::new(MAX_LOGIN_MESSAGE);
        let verdict = read_message(&mut tls, &mut from_gateway).await?;
        let to_client = answer.last_sequence.wrapping_add(1);
        match verdict.payload.first() {
            Some(0x00) => {
                send(client, to_client, &verdict.payload).await?;
                Ok(tls)
            }
            Some(0xFF) => {
                send(client, to_client, &verdict.payload).await?;
                let refusal = ErrPacket::parse(&verdict.payload)
                    .map(|err| String::from_utf8_lossy(&err.message).into_owned())
                    .unwrap_or_else(|_| "an unreadable error".to_owned());
                bail!("the gateway refused the session: {refusal}")
            }
            _ => {
                refuse(client, to_client, "gatehouse connect: the gateway answered the login with something other than OK or an error").await;
                bail!("the gateway's answer to the login was neither OK nor an error")
            }
        }
    }
}

/// One whole message from `stream`.
async fn read_message(
    stream: &mut (impl AsyncRead + Unpin),
    reader: &mut PacketReader,
) -> Result<gatehouse_mysql_wire::Message> {
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(message) = reader.next_message()? {
            return Ok(message);
        }
        let read = stream.read(&mut buffer).await?;
        let Some(bytes) = buffer.get(..read).filter(|bytes| !bytes.is_empty()) else {
            bail!("the peer closed the connection during the login");
        };
        reader.push(bytes);
    }
}

async fn send(stream: &mut (impl AsyncWrite + Unpin), sequence: u8, payload: &[u8]) -> Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    write_message(&mut out, sequence, payload);
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(())
}

/// Tell the local client why it is not logged in (best effort: it may be gone).
async fn refuse(client: &mut TcpStream, sequence: u8, message: &str) {
    let err = ErrPacket {
        code: ACCESS_DENIED,
        sql_state: *b"28000",
        message: message.as_bytes().to_vec(),
    };
    let _ = send(client, sequence, &err.encode()).await;
}
