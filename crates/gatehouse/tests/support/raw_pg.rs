//! A PostgreSQL client that writes the frontend protocol itself, for tests that must send
//! message sequences no driver would send (pipelines across errors, stray COPY messages,
//! fast-path calls) and read every backend message as it arrives. It speaks protocol 3.0 over
//! plain TCP, so the gateway must allow plaintext on loopback.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One frontend message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frontend {
    Query(String),
    Parse {
        name: String,
        sql: String,
        types: Vec<u32>,
    },
    /// Parameters in text format; `None` is SQL NULL. Results in text format.
    Bind {
        portal: String,
        statement: String,
        params: Vec<Option<String>>,
    },
    /// `kind` is `b'S'` (statement) or `b'P'` (portal).
    Describe {
        kind: u8,
        name: String,
    },
    Execute {
        portal: String,
        max_rows: i32,
    },
    Close {
        kind: u8,
        name: String,
    },
    Sync,
    Flush,
    /// A fast-path call of the function with this OID; text arguments, text result.
    FunctionCall {
        oid: u32,
        args: Vec<Option<String>>,
    },
    CopyData(Vec<u8>),
    CopyDone,
    CopyFail(String),
    Terminate,
}

fn put_cstr(out: &mut BytesMut, text: &str) {
    out.put_slice(text.as_bytes());
    out.put_u8(0);
}

fn put_values(out: &mut BytesMut, values: &[Option<String>]) {
    out.put_i16(i16::try_from(values.len()).unwrap());
    for value in values {
        match value {
            Some(text) => {
                out.put_i32(i32::try_from(text.len()).unwrap());
                out.put_slice(text.as_bytes());
            }
            None => out.put_i32(-1),
        }
    }
}

impl Frontend {
    /// Append the message, framed, to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut body = BytesMut::new();
        let tag = match self {
            Frontend::Query(sql) => {
                put_cstr(&mut body, sql);
                b'Q'
            }
            Frontend::Parse { name, sql, types } => {
                put_cstr(&mut body, name);
                put_cstr(&mut body, sql);
                body.put_i16(i16::try_from(types.len()).unwrap());
                for oid in types {
                    body.put_u32(*oid);
                }
                b'P'
            }
            Frontend::Bind {
                portal,
                statement,
                params,
            } => {
                put_cstr(&mut body, portal);
                put_cstr(&mut body, statement);
                body.put_i16(0); // every parameter in text format
                put_values(&mut body, params);
                body.put_i16(0); // every result column in text format
                b'B'
            }
            Frontend::Describe { kind, name } => {
                body.put_u8(*kind);
                put_cstr(&mut body, name);
                b'D'
            }
            Frontend::Execute { portal, max_rows } => {
                put_cstr(&mut body, portal);
                body.put_i32(*max_rows);
                b'E'
            }
            Frontend::Close { kind, name } => {
                body.put_u8(*kind);
                put_cstr(&mut body, name);
                b'C'
            }
            Frontend::Sync => b'S',
            Frontend::Flush => b'H',
            Frontend::FunctionCall { oid, args } => {
                body.put_u32(*oid);
                body.put_i16(0); // arguments in text format
                put_values(&mut body, args);
                body.put_i16(0); // text result
                b'F'
            }
            Frontend::CopyData(data) => {
                body.put_slice(data);
                b'd'
            }
            Frontend::CopyDone => b'c',
            Frontend::CopyFail(message) => {
                put_cstr(&mut body, message);
                b'f'
            }
            Frontend::Terminate => b'X',
        };
        out.put_u8(tag);
        out.put_i32(i32::try_from(body.len() + 4).unwrap());
        out.put_slice(&body);
    }
}

/// One backend message.
#[derive(Debug, Clone)]
pub struct Backend {
    pub tag: u8,
    pub body: Bytes,
}

impl Backend {
    /// A field of an ErrorResponse or NoticeResponse (`b'C'` SQLSTATE, `b'M'` message).
    pub fn field(&self, code: u8) -> Option<String> {
        let mut body = self.body.clone();
        while body.has_remaining() {
            let kind = body.get_u8();
            if kind == 0 {
                return None;
            }
            let end = body.iter().position(|b| *b == 0)?;
            let value = String::from_utf8_lossy(&body[..end]).into_owned();
            body.advance(end + 1);
            if kind == code {
                return Some(value);
            }
        }
        None
    }

    /// The values of a DataRow, as text.
    pub fn columns(&self) -> Vec<Option<String>> {
        let mut body = self.body.clone();
        if body.remaining() < 2 {
            return Vec::new();
        }
        let count = body.get_i16();
        let mut values = Vec::new();
        for _ in 0..count {
            if body.remaining() < 4 {
                break;
            }
            let len = body.get_i32();
            match usize::try_from(len) {
                Ok(len) if len <= body.remaining() => {
                    values.push(Some(
                        String::from_utf8_lossy(&body.split_to(len)).into_owned(),
                    ));
                }
                _ => values.push(None),
            }
        }
        values
    }

    /// The text of a CommandComplete.
    pub fn command_tag(&self) -> String {
        let end = self
            .body
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.body.len());
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }

    /// A short human-readable form: the tag, with the command tag, error or status.
    pub fn summary(&self) -> String {
        let tag = char::from(self.tag);
        match self.tag {
            b'C' => format!("C({})", self.command_tag()),
            b'E' | b'N' => format!(
                "{tag}({} {})",
                self.field(b'C').unwrap_or_default(),
                self.field(b'M').unwrap_or_default()
            ),
            b'Z' => format!("Z({})", char::from(*self.body.first().unwrap_or(&b'?'))),
            b'D' => format!(
                "D({})",
                self.columns()
                    .iter()
                    .map(|v| v.as_deref().unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("|")
            ),
            _ => tag.to_string(),
        }
    }
}

/// What a bounded read got.
#[derive(Debug)]
pub enum Received {
    Message(Backend),
    /// Nothing arrived within the window.
    Silent,
    /// The other side closed the connection.
    Closed,
}

/// A session over plain TCP, after startup and authentication.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    /// The body of the BackendKeyData the session got, for cancel requests.
    pub key: Option<Bytes>,
}

impl RawClient {
    /// Start a session: StartupMessage with `parameters`, the cleartext password `password`
    /// when asked, and everything up to the first ReadyForQuery. An error (or a closed
    /// connection) before that is returned as text.
    pub async fn connect(
        addr: SocketAddr,
        parameters: &[(&str, &str)],
        password: &str,
    ) -> Result<RawClient, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut client = RawClient {
            stream,
            buf: BytesMut::new(),
            key: None,
        };
        let mut body = BytesMut::new();
        body.put_i32(196_608); // protocol 3.0
        for (name, value) in parameters {
            put_cstr(&mut body, name);
            put_cstr(&mut body, value);
        }
        body.put_u8(0);
        let mut startup = BytesMut::new();
        startup.put_i32(i32::try_from(body.len() + 4).unwrap());
        startup.put_slice(&body);
        client.send(&startup).await?;
        let wait = Duration::from_secs(20);
        loop {
            match client.recv_within(wait).await {
                Received::Message(message) => match message.tag {
                    b'R' if message.body[..4] == 3i32.to_be_bytes() => {
                        let mut out = BytesMut::new();
                        out.put_u8(b'p');
                        out.put_i32(i32::try_from(password.len() + 5).unwrap());
                        put_cstr(&mut out, password);
                        client.send(&out).await?;
                    }
                    b'K' => client.key = Some(message.body.clone()),
                    b'Z' => return Ok(client),
                    b'E' => return Err(message.summary()),
                    _ => {}
                },
                other => return Err(format!("during startup: {other:?}")),
            }
        }
    }

    /// Write `bytes` (whole messages); an error means the connection is gone.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|e| e.to_string())?;
        self.stream.flush().await.map_err(|e| e.to_string())
    }

    /// The next backend message, if one arrives within `window`.
    pub async fn recv_within(&mut self, window: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + window;
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes(self.buf[1..5].try_into().unwrap());
                let len = usize::try_from(len).unwrap_or(0).max(4);
                if self.buf.len() > len {
                    let mut frame = self.buf.split_to(1 + len);
                    let tag = frame.get_u8();
                    frame.advance(4);
                    return Received::Message(Backend {
                        tag,
                        body: frame.freeze(),
                    });
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Received::Closed,
                Ok(Ok(_)) => {}
                Err(_) => return Received::Silent,
            }
        }
    }
}

/// Send a CancelRequest for the session whose BackendKeyData body is `key` to `addr`, and
/// wait (bounded) for the receiver to close the connection, as it does once it has acted.
pub async fn cancel(addr: SocketAddr, key: &[u8]) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return;
    };
    let mut request = BytesMut::new();
    request.put_i32(i32::try_from(8 + key.len()).unwrap());
    request.put_i32(80_877_102);
    request.put_slice(key);
    if stream.write_all(&request).await.is_err() {
        return;
    }
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
}
