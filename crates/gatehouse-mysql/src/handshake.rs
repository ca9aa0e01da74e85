//! The client's login: gatehouse's greeting, TLS (required: a client whose first answer is
//! not an SSLRequest is refused before it can send a password), the gatehouse token as the
//! password, and the gatehouse connection named as the database.
//!
//! How the password arrives (checked against the real clients by the tests). The greeting
//! names `mysql_clear_password` as the server's default plugin. The stock Debian `mariadb`
//! CLI (client 10.11, MariaDB Connector/C) has that plugin built in and, with `--ssl`, sends
//! the password with it in its HandshakeResponse, inside TLS: no extra flag is needed.
//! mysql-connector-python does the same. PyMySQL names no plugin and gets an
//! AuthSwitchRequest to `mysql_clear_password`, which it answers; so does a client naming
//! `mysql_native_password`. A client that offers `caching_sha2_password` (MySQL 8 clients,
//! which refuse the clear plugin unless it is enabled) gets caching_sha2's "perform full
//! authentication" answer, to which it replies with the password in clear because the
//! channel is TLS. The scramble is never used to check anything: the token decides.

use crate::packets::PacketStream;
use crate::refusal::{self, ErrorCode, err_payload};
use crate::{MysqlError, MysqlGateway};
use gatehouse_core::{ConnectionInfo, Identity, SecretString};
use gatehouse_mysql_wire::auth::{CACHING_SHA2, CLEAR_PASSWORD, PERFORM_FULL_AUTH};
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_mysql_wire::collation::charset_of;
use gatehouse_mysql_wire::handshake::{
    AuthSwitchRequest, HandshakeResponse, InitialHandshake, encode_auth_more_data, is_ssl_request,
};
use gatehouse_pipeline::Authenticated;
use rand::Rng;
use std::net::IpAddr;
use std::sync::Arc;

/// The version gatehouse greets clients with, in the form MariaDB 10.x itself uses: the
/// `5.5.5-` prefix makes MySQL drivers (mysql-connector-python, ...) treat the server as
/// older than MySQL 8 and keep to collations MariaDB knows (not `utf8mb4_0900_ai_ci`);
/// MariaDB clients strip it.
pub(crate) const SERVER_VERSION: &str = "5.5.5-10.11.0-MariaDB-gatehouse";

/// The largest first message a client may send (a login with its attributes).
const LOGIN_LIMIT: usize = 64 * 1024;

/// utf8mb4_general_ci, the collation gatehouse greets with.
const GREETING_COLLATION: u8 = 45;

/// SERVER_STATUS_AUTOCOMMIT, the status gatehouse greets with.
const GREETING_STATUS: u16 = 0x0002;

/// The capabilities gatehouse offers clients: never LOCAL_FILES, COMPRESS, QUERY_ATTRIBUTES
/// or SESSION_TRACK, none of which the relay translates.
pub(crate) const OFFERED: u64 = Capabilities::LONG_PASSWORD.0
    | Capabilities::FOUND_ROWS.0
    | Capabilities::LONG_FLAG.0
    | Capabilities::CONNECT_WITH_DB.0
    | Capabilities::PROTOCOL_41.0
    | Capabilities::IGNORE_SPACE.0
    | Capabilities::INTERACTIVE.0
    | Capabilities::SSL.0
    | Capabilities::TRANSACTIONS.0
    | Capabilities::SECURE_CONNECTION.0
    | Capabilities::MULTI_STATEMENTS.0
    | Capabilities::MULTI_RESULTS.0
    | Capabilities::PS_MULTI_RESULTS.0
    | Capabilities::PLUGIN_AUTH.0
    | Capabilities::CONNECT_ATTRS.0
    | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA.0
    | Capabilities::DEPRECATE_EOF.0;

/// A client that logged in: who it is, what it negotiated, its (TLS) stream.
pub(crate) struct Accepted {
    pub client: PacketStream,
    pub identity: Identity,
    pub credential_id: String,
    pub expires_at_unix: Option<i64>,
    pub connection: Arc<ConnectionInfo>,
    /// What the client asked for, within what gatehouse offered.
    pub capabilities: Capabilities,
    pub collation: u8,
    /// The sequence id of gatehouse's answer to the login (the final OK or an ERR).
    pub next_sequence: u8,
}

/// Log a new client in. Refusals are sent to the client here; `Ok(None)` means refused.
/// `full`: every session slot is taken (the client is told so instead of greeted).
pub(crate) async fn accept(
    gateway: &MysqlGateway,
    tcp: Box<dyn gatehouse_session::Stream>,
    peer: Option<IpAddr>,
    full: bool,
) -> Result<Option<Accepted>, MysqlError> {
    let max = gateway.limits.max_message;
    let mut plain = PacketStream::new(tcp, max, "client");
    if full {
        let message = "gatehouse has too many open sessions (`max_sessions`); try again later";
        plain
            .say_last(0, &err_payload(refusal::TOO_MANY_SESSIONS, message))
            .await;
        return Ok(None);
    }
    let scramble = new_scramble();
    let greeting = InitialHandshake {
        server_version: SERVER_VERSION.to_owned(),
        connection_id: rand::rng().random_range(0x8000_0000..=u32::MAX),
        scramble: scramble.clone(),
        capabilities: Capabilities(OFFERED),
        collation: GREETING_COLLATION,
        status: GREETING_STATUS,
        auth_plugin: CLEAR_PASSWORD.to_owned(),
    };
    plain.write(0, &greeting.encode()).await?;
    plain.flush().await?;
    let (first_sequence, first) = plain.read_exact_packet(LOGIN_LIMIT).await?;
    if !is_ssl_request(&first) {
        let message = "gatehouse: TLS is required: connect with --ssl (mariadb CLI), --ssl-mode=REQUIRED (mysql CLI), or your driver's TLS option; the password is your gatehouse token";
        plain
            .say_last(
                first_sequence.wrapping_add(1),
                &err_payload(refusal::ACCESS_DENIED, message),
            )
            .await;
        return Ok(None);
    }
    let tls = gateway
        .tls
        .accept(plain.into_stream())
        .await
        .map_err(|e| MysqlError::Tls(e.to_string()))?;
    let mut client = PacketStream::new(Box::new(tls), max, "client");
    let message = client.expect("its login after TLS").await?;
    let response =
        HandshakeResponse::parse(&message.payload).map_err(MysqlError::wire("client"))?;
    let mut sequence = message.last_sequence.wrapping_add(1);
    let capabilities = Capabilities(response.capabilities.0 & OFFERED);
    let collation = response.collation;
    if let Err((code, refusal)) = check_collation(collation) {
        client
            .say_last(sequence, &err_payload(code, &refusal))
            .await;
        return Ok(None);
    }
    let Some(database) = response
        .database
        .as_deref()
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
    else {
        let message = "gatehouse: name the gatehouse connection as the database (e.g. `mariadb -h HOST -u YOU -p --ssl CONNECTION`)";
        client
            .say_last(sequence, &err_payload(refusal::UNKNOWN_CONNECTION, message))
            .await;
        return Ok(None);
    };
    let user = String::from_utf8_lossy(&response.user).into_owned();
    let (token, next) = read_token(&mut client, &response, sequence, &scramble).await?;
    sequence = next;
    if token.is_empty() {
        let message = "gatehouse: no password given: pass your gatehouse token as the password";
        client
            .say_last(sequence, &err_payload(refusal::ACCESS_DENIED, message))
            .await;
        return Ok(None);
    }
    let accepted = match gateway.authenticator.authenticate_credential(&token).await {
        Ok(accepted) => accepted,
        Err(error) => {
            tracing::info!(?user, reason = %error, "MySQL client authentication failed");
            let detail = format!("refused MySQL login as user {user:?} to {database:?}: {error}");
            if let Err(failure) = gateway
                .pipeline
                .record_auth_failure(peer, Some(&database), detail)
                .await
            {
                tracing::error!(%failure, "cannot record a refused login in the audit log");
            }
            let message = format!(
                "gatehouse: access denied for user '{user}': the gatehouse token is invalid, expired or revoked; get a new one (`gatehouse token`)"
            );
            client
                .say_last(sequence, &err_payload(refusal::ACCESS_DENIED, &message))
                .await;
            return Ok(None);
        }
    };
    let Authenticated {
        identity,
        credential_id,
        expires_at_unix,
    } = accepted;
    if identity.subject != user {
        tracing::debug!(?user, subject = %identity.subject, "MySQL user name differs from the token's identity; the token decides");
    }
    let Some(connection) = gateway.connections.get(&database).cloned() else {
        let mut names: Vec<&str> = gateway.connections.keys().map(String::as_str).collect();
        names.sort_unstable();
        let message = format!(
            "gatehouse: no connection named `{database}`; name one of [{}] as the database",
            names.join(", ")
        );
        client
            .say_last(
                sequence,
                &err_payload(refusal::UNKNOWN_CONNECTION, &message),
            )
            .await;
        return Ok(None);
    };
    Ok(Some(Accepted {
        client,
        identity,
        credential_id,
        expires_at_unix,
        connection,
        capabilities,
        collation,
        next_sequence: sequence,
    }))
}

/// The client's collation, refused when gatehouse does not know it or its character set is
/// one whose text gatehouse cannot read as the server does.
pub(crate) fn check_collation(collation: u8) -> Result<&'static str, (ErrorCode, String)> {
    match charset_of(u16::from(collation)) {
        None => Err((
            refusal::REFUSED_CHARSET,
            format!(
                "gatehouse: unknown collation id {collation}; use utf8mb4 (--default-character-set=utf8mb4)"
            ),
        )),
        Some(charset) if gatehouse_mysql_sql::charset_is_refused(charset) => Err((
            refusal::REFUSED_CHARSET,
            format!(
                "gatehouse: character set {charset} is refused (its multi-byte characters can hide quotes); use utf8mb4"
            ),
        )),
        Some(charset) => Ok(charset),
    }
}

/// The token the client sent as its password, and the sequence id of gatehouse's next
/// message.
async fn read_token(
    client: &mut PacketStream,
    response: &HandshakeResponse,
    sequence: u8,
    scramble: &[u8],
) -> Result<(SecretString, u8), MysqlError> {
    let plugin = response.auth_plugin.as_deref().unwrap_or_default();
    let request = match plugin {
        CLEAR_PASSWORD => return Ok((password_of(&response.auth_response), sequence)),
        CACHING_SHA2 => encode_auth_more_data(&[PERFORM_FULL_AUTH]),
        _ => {
            let mut data = scramble.to_vec();
            data.push(0);
            AuthSwitchRequest {
                plugin: CLEAR_PASSWORD.to_owned(),
                data,
            }
            .encode()
        }
    };
    client.write(sequence, &request).await?;
    client.flush().await?;
    let answer = client.expect("its password").await?;
    if answer.first_sequence != sequence.wrapping_add(1) {
        return Err(MysqlError::Protocol(format!(
            "the client answered the password request with sequence id {} instead of {}",
            answer.first_sequence,
            sequence.wrapping_add(1)
        )));
    }
    Ok((
        password_of(&answer.payload),
        answer.last_sequence.wrapping_add(1),
    ))
}

/// A clear password as sent: the bytes up to a terminating NUL.
fn password_of(bytes: &[u8]) -> SecretString {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    let password = bytes.get(..end).unwrap_or_default();
    SecretString::new(String::from_utf8_lossy(password).into_owned())
}

/// 20 random printable bytes (clients treat the scramble as a C string, so never NUL).
fn new_scramble() -> Vec<u8> {
    let mut rng = rand::rng();
    (0..20).map(|_| rng.random_range(0x21u8..=0x7E)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_password_ends_at_its_nul() {
        assert_eq!(password_of(b"gh_token\0").expose(), "gh_token");
        assert_eq!(password_of(b"gh_token").expose(), "gh_token");
        assert!(password_of(b"\0").is_empty());
    }

    #[test]
    fn collations_of_refused_or_unknown_character_sets_are_refused() {
        assert!(check_collation(45).is_ok());
        assert!(check_collation(8).is_ok());
        // big5_chinese_ci and gbk_chinese_ci: multi-byte sets that can hide a quote.
        assert!(check_collation(1).is_err());
        assert!(check_collation(28).is_err());
    }

    #[test]
    fn the_offer_never_includes_what_the_relay_does_not_translate() {
        for flag in [
            Capabilities::LOCAL_FILES,
            Capabilities::COMPRESS,
            Capabilities::QUERY_ATTRIBUTES,
            Capabilities::SESSION_TRACK,
        ] {
            assert_eq!(OFFERED & flag.0, 0);
        }
    }
}
