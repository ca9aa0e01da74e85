//! The server side of the proxy: dial a MySQL/MariaDB server, start TLS as the login says, and
//! log in with the connection's own credentials (`mysql_native_password`, or
//! `caching_sha2_password` — its fast path, or full authentication only inside TLS), following
//! the server's AuthSwitchRequest. The credentials come from the gateway's configuration and
//! never from the client. `LOCAL_FILES` is never asked for, so the server cannot ask gatehouse
//! for a file.

use crate::packets::PacketStream;
use crate::{MysqlError, MysqlLogin, UpstreamTls};
use gatehouse_mysql_wire::auth::{
    CACHING_SHA2, CLEAR_PASSWORD, FAST_AUTH_OK, NATIVE_PASSWORD, PERFORM_FULL_AUTH, caching_sha2,
    native_password,
};
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_mysql_wire::handshake::{
    AuthSwitchRequest, HandshakeResponse, InitialHandshake, SslRequest, auth_more_data,
};
use gatehouse_mysql_wire::response::ErrPacket;
use tokio::net::TcpStream;

/// Capabilities gatehouse never asks a server for, whatever the client negotiated: files
/// from the client, compression and query attributes (which the relay does not translate),
/// and the flags set only as gatehouse decides (TLS, a database to start in).
pub(crate) const NEVER_UPSTREAM: u64 = Capabilities::LOCAL_FILES.0
    | Capabilities::COMPRESS.0
    | Capabilities::QUERY_ATTRIBUTES.0
    | Capabilities::SSL.0
    | Capabilities::CONNECT_ATTRS.0
    | Capabilities::CONNECT_WITH_DB.0
    | Capabilities::SSL_VERIFY_SERVER_CERT.0
    | Capabilities::OPTIONAL_RESULTSET_METADATA.0;

/// What every login needs.
const REQUIRED: u64 = Capabilities::PROTOCOL_41.0
    | Capabilities::SECURE_CONNECTION.0
    | Capabilities::PLUGIN_AUTH.0
    | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA.0;

/// A logged-in server session.
pub(crate) struct ServerSession {
    pub stream: PacketStream,
    pub server_version: String,
    pub connection_id: u32,
    pub status: u16,
    /// The capabilities in force between gatehouse and the server.
    pub capabilities: Capabilities,
}

/// Log in to `login`'s server asking for the capabilities the client negotiated (`wanted`)
/// as far as the server has them, in character set `collation`.
pub(crate) async fn open(
    login: &MysqlLogin,
    wanted: Capabilities,
    collation: u8,
    max_message: usize,
) -> Result<ServerSession, MysqlError> {
    let tcp = TcpStream::connect((login.host.as_str(), login.port))
        .await
        .map_err(|e| {
            MysqlError::Upstream(format!(
                "cannot reach the server at {}:{}: {e}",
                login.host, login.port
            ))
        })?;
    tcp.set_nodelay(true)?;
    let mut plain = PacketStream::new(Box::new(tcp), max_message, "server");
    let greeting = plain.expect("its handshake").await?;
    if greeting.payload.first() == Some(&0xFF) {
        return Err(refused_by_server(&greeting.payload));
    }
    let handshake =
        InitialHandshake::parse(&greeting.payload).map_err(MysqlError::wire("server"))?;
    let server_has_tls = handshake.capabilities.contains(Capabilities::SSL);
    let use_tls = match &login.tls {
        UpstreamTls::Disable => false,
        UpstreamTls::Prefer => server_has_tls,
        UpstreamTls::Require | UpstreamTls::VerifyFull { .. } if server_has_tls => true,
        UpstreamTls::Require | UpstreamTls::VerifyFull { .. } => {
            return Err(MysqlError::Upstream(format!(
                "the server at {}:{} does not offer TLS, but the login requires it",
                login.host, login.port
            )));
        }
    };
    let mut flags = (wanted.0 & handshake.capabilities.0 & !NEVER_UPSTREAM) | REQUIRED;
    // Session tracking lets the adapter follow sql_mode, the character set and the database
    // whatever changed them; clients never see it.
    flags |= handshake.capabilities.0 & Capabilities::SESSION_TRACK.0;
    if !login.database.is_empty() {
        flags |= Capabilities::CONNECT_WITH_DB.0;
    }
    if use_tls {
        flags |= Capabilities::SSL.0;
    }
    let capabilities = Capabilities(flags);
    let mut sequence = greeting.last_sequence.wrapping_add(1);
    let mut stream = if use_tls {
        let request = SslRequest {
            capabilities,
            max_packet: MAX_PACKET,
            collation,
        };
        sequence = plain.write(sequence, &request.encode()).await?;
        plain.flush().await?;
        if plain.has_buffered() {
            return Err(MysqlError::Protocol(
                "the server sent data before the TLS handshake".into(),
            ));
        }
        let tcp = plain.into_stream();
        let tls = crate::tls::connect_boxed(tcp, &login.host, &login.tls).await?;
        PacketStream::new(tls, max_message, "server")
    } else {
        plain
    };
    let password = login
        .password
        .as_ref()
        .map(|p| p.expose().as_bytes().to_vec())
        .unwrap_or_default();
    let plugin = match handshake.auth_plugin.as_str() {
        CACHING_SHA2 => CACHING_SHA2,
        _ => NATIVE_PASSWORD,
    };
    let response = HandshakeResponse {
        capabilities,
        max_packet: MAX_PACKET,
        collation,
        user: login.user.as_bytes().to_vec(),
        auth_response: scrambled(plugin, &password, &handshake.scramble),
        database: (!login.database.is_empty()).then(|| login.database.as_bytes().to_vec()),
        auth_plugin: Some(plugin.to_owned()),
        attributes: Vec::new(),
    };
    stream.write(sequence, &response.encode()).await?;
    stream.flush().await?;
    let status = authenticate(&mut stream, login, &password, use_tls, plugin).await?;
    Ok(ServerSession {
        stream,
        server_version: handshake.server_version,
        connection_id: handshake.connection_id,
        status,
        capabilities,
    })
}

/// The largest packet gatehouse says it accepts (the protocol maximum).
const MAX_PACKET: u32 = 0xFF_FF_FF;

fn scrambled(plugin: &str, password: &[u8], scramble: &[u8]) -> Vec<u8> {
    let scramble = scramble.get(..20).unwrap_or(scramble);
    if plugin == CACHING_SHA2 {
        caching_sha2(password, scramble)
    } else {
        native_password(password, scramble)
    }
}

/// Answer the server until it says OK (its status flags) or refuses.
async fn authenticate(
    stream: &mut PacketStream,
    login: &MysqlLogin,
    password: &[u8],
    tls: bool,
    mut plugin: &str,
) -> Result<u16, MysqlError> {
    loop {
        let message = stream.expect("the result of the login").await?;
        let next = message.last_sequence.wrapping_add(1);
        let payload = message.payload.as_slice();
        match payload.first() {
            Some(0x00) => {
                let ok = gatehouse_mysql_wire::response::OkPacket::parse(
                    payload,
                    Capabilities(Capabilities::PROTOCOL_41.0),
                )
                .map_err(MysqlError::wire("server"))?;
                return Ok(ok.status);
            }
            Some(0xFF) => return Err(refused_by_server(payload)),
            Some(0xFE) => {
                let switch =
                    AuthSwitchRequest::parse(payload).map_err(MysqlError::wire("server"))?;
                let answer = match switch.plugin.as_str() {
                    NATIVE_PASSWORD | CACHING_SHA2 => {
                        let seed = switch.data.strip_suffix(&[0]).unwrap_or(&switch.data);
                        scrambled(&switch.plugin, password, seed)
                    }
                    CLEAR_PASSWORD if tls => cleartext(password),
                    other => {
                        return Err(MysqlError::Upstream(format!(
                            "the server asks for authentication plugin `{other}` for user `{}`; gatehouse logs in with mysql_native_password or caching_sha2_password",
                            login.user
                        )));
                    }
                };
                plugin = if switch.plugin == CACHING_SHA2 {
                    CACHING_SHA2
                } else {
                    NATIVE_PASSWORD
                };
                stream.write(next, &answer).await?;
                stream.flush().await?;
            }
            Some(0x01) if plugin == CACHING_SHA2 => {
                let data = auth_more_data(payload).unwrap_or_default();
                match data.first() {
                    Some(&FAST_AUTH_OK) => {}
                    Some(&PERFORM_FULL_AUTH) if tls => {
                        stream.write(next, &cleartext(password)).await?;
                        stream.flush().await?;
                    }
                    Some(&PERFORM_FULL_AUTH) => {
                        return Err(MysqlError::Upstream(format!(
                            "the server wants caching_sha2_password full authentication for `{}`, which gatehouse only does over TLS: set the login's tls to require or verify-full (or log the account in once so the server caches it)",
                            login.user
                        )));
                    }
                    _ => {
                        return Err(MysqlError::Protocol(
                            "the server sent an unexpected caching_sha2_password message".into(),
                        ));
                    }
                }
            }
            _ => {
                return Err(MysqlError::Protocol(
                    "the server sent an unexpected message during login".into(),
                ));
            }
        }
    }
}

/// A password as `mysql_clear_password` and caching_sha2's full authentication send it.
fn cleartext(password: &[u8]) -> Vec<u8> {
    let mut out = password.to_vec();
    out.push(0);
    out
}

/// The server's ERR during login, as an error.
pub(crate) fn refused_by_server(payload: &[u8]) -> MysqlError {
    match ErrPacket::parse(payload) {
        Ok(err) => MysqlError::Upstream(format!(
            "the server refused: {} ({})",
            String::from_utf8_lossy(&err.message),
            err.code
        )),
        Err(_) => MysqlError::Upstream("the server refused with a malformed error".into()),
    }
}
