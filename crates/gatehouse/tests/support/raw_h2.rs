//! HTTP/2 written frame by frame, for what no well-behaved client library sends: a header
//! block continued without end (the CONTINUATION flood). Header blocks are HPACK literals that
//! never touch the dynamic table, so no encoder state is needed.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;
pub const END_HEADERS: u8 = 0x4;
pub const END_STREAM: u8 = 0x1;

/// A TLS connection (ALPN `h2`) to one of the gateway's HTTP listeners, preface and SETTINGS
/// sent.
pub struct RawH2 {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
}

/// TLS to `address` with ALPN `h2`, verified with `config`'s roots, for `server_name`.
pub async fn h2_tls(
    address: &str,
    mut config: rustls::ClientConfig,
    server_name: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));
    tls
}

impl RawH2 {
    /// Over `tls` (from [`h2_tls`]).
    pub async fn over(tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> RawH2 {
        let mut raw = RawH2 { tls };
        raw.tls.write_all(PREFACE).await.unwrap();
        raw.frame(SETTINGS, 0, 0, &[]).await.unwrap();
        raw
    }

    /// Write one frame; `Err` once the gateway has closed the connection.
    pub async fn frame(
        &mut self,
        kind: u8,
        flags: u8,
        stream: u32,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut frame = Vec::with_capacity(9 + payload.len());
        frame.extend_from_slice(&length[1..]);
        frame.extend_from_slice(&[kind, flags]);
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        self.tls.write_all(&frame).await?;
        self.tls.flush().await
    }

    /// The frames the gateway sends (kind, stream, payload) until it closes the connection or
    /// sends GOAWAY, or `within` passes.
    pub async fn frames_until_closed(&mut self, within: Duration) -> Vec<(u8, u32, Vec<u8>)> {
        let mut frames = Vec::new();
        let _ = tokio::time::timeout(within, async {
            loop {
                let mut head = [0u8; 9];
                if self.tls.read_exact(&mut head).await.is_err() {
                    return;
                }
                let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
                let mut payload = vec![0u8; length];
                if self.tls.read_exact(&mut payload).await.is_err() {
                    return;
                }
                frames.push((head[3], stream, payload));
                if head[3] == GOAWAY {
                    return;
                }
            }
        })
        .await;
        frames
    }
}

/// A GET's header block: the pseudo-headers and the bearer token.
pub fn request_block(authority: &str, path: &str, token: &str) -> Vec<u8> {
    // `:method GET` and `:scheme https` from the static table (indexes 2 and 7); `:path`
    // (4) and `:authority` (1) as literals with an indexed name.
    let mut block = vec![0x82, 0x87];
    block.push(0x04);
    block.extend(string(path));
    block.push(0x01);
    block.extend(string(authority));
    block.extend(literal("authorization", &format!("Bearer {token}")));
    block
}

/// A header as a literal without indexing, with a new name.
pub fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut field = vec![0x00];
    field.extend(string(name));
    field.extend(string(value));
    field
}

/// An HPACK string literal, not Huffman-coded.
fn string(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut length = text.len();
    if length < 127 {
        out.push(u8::try_from(length).unwrap());
    } else {
        out.push(0x7f);
        length -= 127;
        while length >= 128 {
            out.push(u8::try_from(length % 128).unwrap() | 0x80);
            length /= 128;
        }
        out.push(u8::try_from(length).unwrap());
    }
    out.extend_from_slice(text.as_bytes());
    out
}
