//! gatehouse logging in to a server with `caching_sha2_password` (MySQL 8's default, which the
//! machine's MariaDB does not offer): a scripted server speaks the protocol's side of it —
//! the fast path with the scramble checked, an AuthSwitchRequest from the greeting's plugin,
//! a full-authentication request that gatehouse refuses to answer without TLS (the password
//! never crosses in clear), and the server's own refusal passed on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_core::SecretString;
use gatehouse_mysql::{MysqlLogin, UpstreamTls, run_statements};
use gatehouse_mysql_wire::auth::{
    CACHING_SHA2, FAST_AUTH_OK, NATIVE_PASSWORD, PERFORM_FULL_AUTH, caching_sha2,
};
use gatehouse_mysql_wire::handshake::{
    AuthSwitchRequest, HandshakeResponse, InitialHandshake, encode_auth_more_data,
};
use gatehouse_mysql_wire::response::{ErrPacket, OkPacket};
use gatehouse_mysql_wire::{Capabilities, Message, PacketReader, write_message};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PASSWORD: &str = "s3cret-password";

/// What the scripted server does after the client's login answer.
#[derive(Clone, Copy)]
enum Script {
    /// Check the caching_sha2 scramble, say "fast auth OK", accept, answer one query.
    FastPath,
    /// Greet with mysql_native_password, then switch the client to caching_sha2.
    SwitchThenFastPath,
    /// Ask for full authentication (which needs the password itself).
    FullAuthentication,
    /// Refuse the login.
    Refuse,
}

struct Server {
    stream: TcpStream,
    reader: PacketReader,
}

impl Server {
    async fn read(&mut self) -> Option<Message> {
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(message) = self.reader.next_message().unwrap() {
                return Some(message);
            }
            let read = self.stream.read(&mut buffer).await.unwrap_or(0);
            if read == 0 {
                return None;
            }
            self.reader.push(&buffer[..read]);
        }
    }

    async fn send(&mut self, sequence: u8, payload: &[u8]) {
        let mut out = Vec::new();
        write_message(&mut out, sequence, payload);
        self.stream.write_all(&out).await.unwrap();
    }
}

fn capabilities() -> Capabilities {
    Capabilities::LONG_PASSWORD
        | Capabilities::PROTOCOL_41
        | Capabilities::SECURE_CONNECTION
        | Capabilities::PLUGIN_AUTH
        | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA
        | Capabilities::CONNECT_WITH_DB
        | Capabilities::TRANSACTIONS
}

fn ok() -> Vec<u8> {
    OkPacket {
        affected_rows: 0,
        last_insert_id: 0,
        status: 2,
        warnings: 0,
        info: Vec::new(),
        session_state: Vec::new(),
    }
    .encode(0x00, capabilities())
}

/// Runs `script` for one client; returns what the server saw after its last message (true:
/// the client sent something more, which for full authentication would be the password).
async fn serve(listener: TcpListener, script: Script) -> bool {
    let (stream, _) = listener.accept().await.unwrap();
    let mut server = Server {
        stream,
        reader: PacketReader::new(1 << 20),
    };
    let scramble = b"0123456789abcdefghij".to_vec();
    let greeting = InitialHandshake {
        server_version: "8.0.36-scripted".to_owned(),
        connection_id: 7,
        scramble: scramble.clone(),
        capabilities: capabilities(),
        collation: 45,
        status: 2,
        auth_plugin: match script {
            Script::SwitchThenFastPath => NATIVE_PASSWORD,
            _ => CACHING_SHA2,
        }
        .to_owned(),
    };
    server.send(0, &greeting.encode()).await;
    let login = server.read().await.unwrap();
    let response = HandshakeResponse::parse(&login.payload).unwrap();
    assert_eq!(response.user, b"gatehouse_app");
    assert_eq!(response.database.as_deref(), Some(&b"shop"[..]));
    let mut sequence = login.last_sequence.wrapping_add(1);
    let (scramble, answer) = match script {
        Script::SwitchThenFastPath => {
            let fresh = b"ABCDEFGHIJ0123456789".to_vec();
            let mut data = fresh.clone();
            data.push(0);
            let switch = AuthSwitchRequest {
                plugin: CACHING_SHA2.to_owned(),
                data,
            };
            server.send(sequence, &switch.encode()).await;
            let answer = server.read().await.unwrap();
            sequence = answer.last_sequence.wrapping_add(1);
            (fresh, answer.payload)
        }
        _ => (scramble, response.auth_response.clone()),
    };
    match script {
        Script::FastPath | Script::SwitchThenFastPath => {
            assert_eq!(answer, caching_sha2(PASSWORD.as_bytes(), &scramble));
            server
                .send(sequence, &encode_auth_more_data(&[FAST_AUTH_OK]))
                .await;
            server.send(sequence.wrapping_add(1), &ok()).await;
            let query = server.read().await.unwrap();
            assert_eq!(query.payload, b"\x03SELECT 1");
            server.send(1, &ok()).await;
            false
        }
        Script::FullAuthentication => {
            assert_eq!(answer, caching_sha2(PASSWORD.as_bytes(), &scramble));
            server
                .send(sequence, &encode_auth_more_data(&[PERFORM_FULL_AUTH]))
                .await;
            server.read().await.is_some()
        }
        Script::Refuse => {
            let refusal = ErrPacket {
                code: 1045,
                sql_state: *b"28000",
                message: b"Access denied for user 'gatehouse_app'".to_vec(),
            };
            server.send(sequence, &refusal.encode()).await;
            false
        }
    }
}

async fn log_in(script: Script) -> (Result<(), gatehouse_mysql::MysqlError>, bool) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(serve(listener, script));
    let login = MysqlLogin {
        host: "127.0.0.1".to_owned(),
        port,
        user: "gatehouse_app".to_owned(),
        password: Some(SecretString::new(PASSWORD)),
        database: "shop".to_owned(),
        tls: UpstreamTls::Disable,
    };
    let result = run_statements(&login, &["SELECT 1".to_owned()], Duration::from_secs(5)).await;
    let sent_more = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();
    (result, sent_more)
}

#[tokio::test]
async fn the_fast_path_sends_only_the_scramble_and_the_session_runs() {
    let (result, _) = log_in(Script::FastPath).await;
    result.unwrap();
}

#[tokio::test]
async fn a_switch_to_caching_sha2_is_answered_with_the_new_scramble() {
    let (result, _) = log_in(Script::SwitchThenFastPath).await;
    result.unwrap();
}

#[tokio::test]
async fn full_authentication_without_tls_is_refused_and_the_password_never_sent() {
    let (result, sent_more) = log_in(Script::FullAuthentication).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("only does over TLS"), "{error}");
    assert!(!sent_more, "the password crossed without TLS");
}

#[tokio::test]
async fn the_servers_refusal_is_passed_on() {
    let (result, _) = log_in(Script::Refuse).await;
    let error = result.unwrap_err().to_string();
    assert!(error.contains("Access denied"), "{error}");
}
