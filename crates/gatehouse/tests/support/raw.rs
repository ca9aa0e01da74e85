//! A client speaking the PostgreSQL wire protocol itself over plain TCP (the gateway must be
//! started with `allow_plaintext = true`), so tests can send exactly the message sequences a
//! driver never would: pipelined batches, messages after errors, unknown portals, raw COPY.

use super::Gateway;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use postgres_protocol::message::frontend;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
// ---------------------------------------------------------------------------------------------

/// One backend message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub tag: u8,
    pub body: Bytes,
}

impl Msg {
    /// A field of an ErrorResponse or NoticeResponse.
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

    /// The columns of a DataRow, as text.
    pub fn columns(&self) -> Vec<Option<String>> {
        let mut body = self.body.clone();
        let n = body.get_i16();
        (0..n)
            .map(|_| {
                let len = body.get_i32();
                if len < 0 {
                    return None;
                }
                let value = body.split_to(usize::try_from(len).unwrap());
                Some(String::from_utf8_lossy(&value).into_owned())
            })
            .collect()
    }

    pub fn command_tag(&self) -> String {
        let end = self.body.iter().position(|b| *b == 0).unwrap();
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

/// Errors (SQLSTATE, message) among `messages`.
pub fn errors(messages: &[Msg]) -> Vec<(String, String)> {
    messages
        .iter()
        .filter(|m| m.tag == b'E')
        .map(|m| (m.field(b'C').unwrap(), m.field(b'M').unwrap()))
        .collect()
}

/// DataRows among `messages`, first column only.
pub fn first_column(messages: &[Msg]) -> Vec<Option<String>> {
    messages
        .iter()
        .filter(|m| m.tag == b'D')
        .map(|m| m.columns().into_iter().next().unwrap())
        .collect()
}

/// CommandComplete tags among `messages`.
pub fn command_tags(messages: &[Msg]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m.tag == b'C')
        .map(Msg::command_tag)
        .collect()
}

pub fn tags(messages: &[Msg]) -> String {
    messages.iter().map(|m| char::from(m.tag)).collect()
}

/// Frontend messages to send together.
#[derive(Default)]
pub struct Batch(pub BytesMut);

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn parse(mut self, statement: &str, sql: &str) -> Batch {
        frontend::parse(statement, sql, None::<u32>, &mut self.0).unwrap();
        self
    }

    pub fn bind(mut self, portal: &str, statement: &str) -> Batch {
        frontend::bind(
            portal,
            statement,
            None::<i16>,
            None::<i32>,
            |_, _| Ok(postgres_protocol::IsNull::No),
            None::<i16>,
            &mut self.0,
        )
        .map_err(|_| "bind")
        .unwrap();
        self
    }

    /// Bind with text parameters.
    pub fn bind_params(mut self, portal: &str, statement: &str, values: &[&str]) -> Batch {
        frontend::bind(
            portal,
            statement,
            None::<i16>,
            values.iter(),
            |value, out| {
                out.extend_from_slice(value.as_bytes());
                Ok(postgres_protocol::IsNull::No)
            },
            None::<i16>,
            &mut self.0,
        )
        .map_err(|_| "bind")
        .unwrap();
        self
    }

    pub fn execute(mut self, portal: &str, max_rows: i32) -> Batch {
        frontend::execute(portal, max_rows, &mut self.0).unwrap();
        self
    }

    pub fn describe_statement(mut self, statement: &str) -> Batch {
        frontend::describe(b'S', statement, &mut self.0).unwrap();
        self
    }

    pub fn close_statement(mut self, statement: &str) -> Batch {
        frontend::close(b'S', statement, &mut self.0).unwrap();
        self
    }

    pub fn query(mut self, sql: &str) -> Batch {
        frontend::query(sql, &mut self.0).unwrap();
        self
    }

    /// A fast-path FunctionCall of `oid` with text arguments and a text result.
    pub fn function_call(mut self, oid: u32, args: &[&str]) -> Batch {
        let mut body = BytesMut::new();
        body.put_u32(oid);
        body.put_i16(1);
        body.put_i16(0); // all arguments in text format
        body.put_i16(i16::try_from(args.len()).unwrap());
        for arg in args {
            body.put_i32(i32::try_from(arg.len()).unwrap());
            body.put_slice(arg.as_bytes());
        }
        body.put_i16(0); // text result
        self.0.put_u8(b'F');
        self.0.put_i32(i32::try_from(body.len() + 4).unwrap());
        self.0.put_slice(&body);
        self
    }

    pub fn flush(mut self) -> Batch {
        frontend::flush(&mut self.0);
        self
    }

    pub fn sync(mut self) -> Batch {
        frontend::sync(&mut self.0);
        self
    }
}

/// A client speaking the wire protocol itself, over plain TCP.
pub struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    /// The BackendKeyData the gateway sent: (process id, secret).
    pub key: Option<(i32, i32)>,
}

impl Raw {
    pub async fn connect(gateway: &Gateway, user: &str, token: &str) -> Raw {
        Raw::connect_with(gateway, user, token, &[]).await
    }

    /// Connect with extra startup parameters (`client_encoding`, `options`, ...).
    pub async fn connect_with(
        gateway: &Gateway,
        user: &str,
        token: &str,
        parameters: &[(&str, &str)],
    ) -> Raw {
        let (raw, greeting) = Raw::try_connect(gateway, user, token, parameters).await;
        assert!(errors(&greeting).is_empty(), "{:?}", errors(&greeting));
        raw
    }

    /// Connect and return what the gateway answered the password with (up to ReadyForQuery
    /// or an error).
    pub async fn try_connect(
        gateway: &Gateway,
        user: &str,
        token: &str,
        parameters: &[(&str, &str)],
    ) -> (Raw, Vec<Msg>) {
        let stream = TcpStream::connect(gateway.pg_addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
            key: None,
        };
        let mut out = BytesMut::new();
        let mut all = vec![("user", user), ("database", "demo")];
        all.extend_from_slice(parameters);
        frontend::startup_message(all, &mut out).unwrap();
        raw.write(&out).await;
        let asked = raw.recv().await;
        assert_eq!(asked.tag, b'R', "expected a password request: {asked:?}");
        assert_eq!(asked.body[..4], 3i32.to_be_bytes(), "cleartext password");
        let mut out = BytesMut::new();
        frontend::password_message(token.as_bytes(), &mut out).unwrap();
        raw.write(&out).await;
        let mut greeting = Vec::new();
        loop {
            let message = raw.recv().await;
            let done = matches!(message.tag, b'Z' | b'E');
            if message.tag == b'K' {
                let mut body = message.body.clone();
                raw.key = Some((body.get_i32(), body.get_i32()));
            }
            greeting.push(message);
            if done {
                return (raw, greeting);
            }
        }
    }

    /// Every message until the gateway closes the connection.
    pub async fn until_closed(&mut self) -> Vec<Msg> {
        let mut messages = Vec::new();
        loop {
            if self.buf.len() >= 5 {
                messages.push(self.recv().await);
                continue;
            }
            let read =
                tokio::time::timeout(Duration::from_secs(20), self.stream.read_buf(&mut self.buf))
                    .await
                    .expect("the gateway neither answered nor closed within 20 s")
                    .unwrap_or(0);
            if read == 0 {
                return messages;
            }
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    pub async fn send(&mut self, batch: Batch) {
        self.write(&batch.0).await;
    }

    pub async fn recv(&mut self) -> Msg {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if self.buf.len() >= 5 {
                    let len =
                        usize::try_from(i32::from_be_bytes(self.buf[1..5].try_into().unwrap()))
                            .unwrap();
                    if self.buf.len() > len {
                        let mut frame = self.buf.split_to(1 + len);
                        let tag = frame.get_u8();
                        frame.advance(4);
                        return Msg {
                            tag,
                            body: frame.freeze(),
                        };
                    }
                }
                let read = self.stream.read_buf(&mut self.buf).await.unwrap();
                assert!(
                    read > 0,
                    "the gateway closed the connection; buffered: {:?}",
                    self.buf
                );
            }
        })
        .await
        .expect("no message from the gateway within 20 s")
    }

    /// Everything up to and including the next ReadyForQuery.
    pub async fn until_ready(&mut self) -> Vec<Msg> {
        self.until(b'Z').await
    }

    /// Everything up to and including the next message tagged `tag`.
    pub async fn until(&mut self, tag: u8) -> Vec<Msg> {
        let mut messages = Vec::new();
        loop {
            let message = self.recv().await;
            let done = message.tag == tag;
            messages.push(message);
            if done {
                return messages;
            }
        }
    }

    /// Send `batch` and collect the answer up to ReadyForQuery.
    pub async fn round_trip(&mut self, batch: Batch) -> Vec<Msg> {
        self.send(batch).await;
        self.until_ready().await
    }
}
