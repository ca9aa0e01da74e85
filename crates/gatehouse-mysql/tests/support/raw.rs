//! A MySQL client made of raw packets, for what no real client sends on purpose: messages
//! out of sequence, too large, unknown commands. It logs in as the CLI does (TLS, then the
//! token with `mysql_clear_password`).

use super::{CONNECTION, Fixture};
use gatehouse_mysql_wire::handshake::{
    AuthSwitchRequest, HandshakeResponse, InitialHandshake, SslRequest,
};
use gatehouse_mysql_wire::{Capabilities, Message, PacketReader, write_message};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub struct RawClient {
    stream: TlsStream<TcpStream>,
    reader: PacketReader,
}

const CAPABILITIES: u64 = Capabilities::PROTOCOL_41.0
    | Capabilities::SECURE_CONNECTION.0
    | Capabilities::PLUGIN_AUTH.0
    | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA.0
    | Capabilities::CONNECT_WITH_DB.0
    | Capabilities::SSL.0
    | Capabilities::TRANSACTIONS.0
    | Capabilities::MULTI_RESULTS.0
    | Capabilities::DEPRECATE_EOF.0;

impl RawClient {
    /// Log in to `f`'s gateway with `token`; panics unless the login succeeds.
    pub async fn login(f: &Fixture, token: &str) -> RawClient {
        RawClient::login_with(f, token, "mysql_clear_password").await
    }

    /// Log in offering authentication plugin `plugin` first: the clear password goes in the
    /// login itself for `mysql_clear_password`, after caching_sha2's "perform full
    /// authentication" for `caching_sha2_password`, and after an AuthSwitchRequest to
    /// `mysql_clear_password` for anything else.
    pub async fn login_with(f: &Fixture, token: &str, plugin: &str) -> RawClient {
        let mut tcp = TcpStream::connect(f.address).await.unwrap();
        let mut reader = PacketReader::new(1 << 24);
        let greeting = read_plain(&mut tcp, &mut reader).await;
        InitialHandshake::parse(&greeting.payload).unwrap();
        let ssl = SslRequest {
            capabilities: Capabilities(CAPABILITIES),
            max_packet: 1 << 24,
            collation: 45,
        };
        let mut out = Vec::new();
        write_message(&mut out, 1, &ssl.encode());
        tcp.write_all(&out).await.unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                f.certificate.clone(),
            ))
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        let mut client = RawClient { stream, reader };
        let mut password = token.as_bytes().to_vec();
        password.push(0);
        let first_answer = if plugin == "mysql_clear_password" {
            password.clone()
        } else {
            vec![0x5A; 20]
        };
        let login = HandshakeResponse {
            capabilities: Capabilities(CAPABILITIES),
            max_packet: 1 << 24,
            collation: 45,
            user: b"raw".to_vec(),
            auth_response: first_answer,
            database: Some(CONNECTION.as_bytes().to_vec()),
            auth_plugin: Some(plugin.to_owned()),
            attributes: Vec::new(),
        };
        client.send(2, &login.encode()).await;
        let mut answer = client.next().await.expect("an answer to the login");
        if plugin != "mysql_clear_password" {
            match plugin {
                "caching_sha2_password" => {
                    assert_eq!(answer.payload, [0x01, 0x04], "perform full authentication")
                }
                _ => {
                    let switch = AuthSwitchRequest::parse(&answer.payload).unwrap();
                    assert_eq!(switch.plugin, "mysql_clear_password");
                }
            }
            client
                .send(answer.last_sequence.wrapping_add(1), &password)
                .await;
            answer = client.next().await.expect("an answer to the password");
        }
        assert_eq!(
            answer.payload.first(),
            Some(&0x00),
            "login refused: {:?}",
            String::from_utf8_lossy(&answer.payload)
        );
        client
    }

    /// Send `payload` as a message starting at `sequence`.
    pub async fn send(&mut self, sequence: u8, payload: &[u8]) {
        let mut out = Vec::new();
        write_message(&mut out, sequence, payload);
        self.stream.write_all(&out).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// The next message; `None` once the gateway closed the connection (10 s at most).
    pub async fn next(&mut self) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(10), async {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                if let Some(message) = self.reader.next_message().unwrap() {
                    return Some(message);
                }
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.reader.push(&chunk[..n]),
                }
            }
        })
        .await
        .expect("an answer within 10 s")
    }

    /// Run `sql` and return every message of the answer up to the first OK, ERR or end of
    /// rows (enough for one-result statements).
    pub async fn query(&mut self, sql: &str) -> Vec<Message> {
        let mut command = vec![0x03];
        command.extend_from_slice(sql.as_bytes());
        self.send(0, &command).await;
        let mut messages = Vec::new();
        while let Some(message) = self.next().await {
            let first = message.payload.first().copied();
            let done = first == Some(0xFF)
                || (first == Some(0x00) && messages.is_empty())
                || first == Some(0xFE);
            messages.push(message);
            if done {
                break;
            }
        }
        messages
    }
}

/// The text of an ERR message's payload.
pub fn error_text(message: &Message) -> String {
    assert_eq!(
        message.payload.first(),
        Some(&0xFF),
        "not an ERR: {:?}",
        message.payload
    );
    String::from_utf8_lossy(&message.payload).into_owned()
}

async fn read_plain(tcp: &mut TcpStream, reader: &mut PacketReader) -> Message {
    let mut chunk = vec![0u8; 4096];
    loop {
        if let Some(message) = reader.next_message().unwrap() {
            return message;
        }
        let n = tcp.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the gateway closed the connection");
        reader.push(&chunk[..n]);
    }
}
