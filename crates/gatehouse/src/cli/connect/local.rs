//! The local side of startup: what PostgreSQL itself does before authentication. Encryption
//! requests are declined (loopback traffic stays on this machine), the startup message must
//! be protocol 3.x and at most 10,000 bytes (PostgreSQL's own limit), and anything else gets a
//! FATAL 08P01 the client can print.

use gatehouse_pg::wire::{self, FrameReader, Severity};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// PostgreSQL's limit on a startup packet.
const MAX_STARTUP_BYTES: usize = 10_000;
/// SSLRequest and GSSENCRequest may each come once, in either order, before the startup message.
const MAX_NEGOTIATIONS: usize = 2;
/// After refusing a malformed startup, how long to swallow what the client still sends, so
/// that it reads the error rather than a connection reset.
const DRAIN: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 1 << 20;

/// A cancel request's key, as the client got it in `BackendKeyData` (the gateway's).
#[derive(Debug, Clone, Copy)]
pub(super) struct CancelKey {
    pub(super) process_id: i32,
    pub(super) secret: i32,
}

/// A local client that sent a valid startup message.
pub(super) struct LocalClient {
    pub(super) stream: TcpStream,
    /// Bytes the client sent after its startup message, to be forwarded first.
    pub(super) leftover: Vec<u8>,
    params: Vec<(String, String)>,
    minor: i32,
    /// `_pq_.` protocol options the client asked for; none is supported.
    pub(super) unknown_options: Vec<String>,
}

pub(super) enum LocalStartup {
    Client(LocalClient),
    Cancel(CancelKey),
}

/// Read the client's startup, answering encryption requests with `N`. Errors have been sent
/// to the client; the `Err` text says why, for the log.
pub(super) async fn read_startup(stream: TcpStream) -> Result<LocalStartup, String> {
    let mut reader = FrameReader::new(stream, MAX_STARTUP_BYTES, "client");
    let mut negotiations = 0;
    loop {
        let frame = match reader.next_startup().await {
            Ok(Some(frame)) => frame,
            Ok(None) => return Err("the client closed the connection during startup".into()),
            Err(error) => {
                let message = format!("invalid startup packet: {error}");
                return Err(refuse(reader, &message).await);
            }
        };
        match frame.code {
            wire::SSL_REQUEST_CODE | wire::GSSENC_REQUEST_CODE
                if negotiations < MAX_NEGOTIATIONS =>
            {
                negotiations += 1;
                reader
                    .get_mut()
                    .write_all(b"N")
                    .await
                    .map_err(|e| format!("cannot answer the client: {e}"))?;
            }
            wire::CANCEL_REQUEST_CODE => {
                let mut body = wire::BodyReader::new(&frame.body, "CancelRequest");
                let key = match (body.i32(), body.i32()) {
                    (Ok(process_id), Ok(secret)) => CancelKey { process_id, secret },
                    _ => return Err("malformed cancel request".into()),
                };
                return Ok(LocalStartup::Cancel(key));
            }
            code if code >> 16 == 3 => {
                let params = match wire::startup_parameters(&frame.body) {
                    Ok(params) => params,
                    Err(error) => {
                        let message = format!("invalid startup packet: {error}");
                        return Err(refuse(reader, &message).await);
                    }
                };
                let unknown_options = params
                    .iter()
                    .filter(|(name, _)| name.starts_with("_pq_."))
                    .map(|(name, _)| name.clone())
                    .collect();
                let (stream, leftover) = reader.into_parts();
                return Ok(LocalStartup::Client(LocalClient {
                    stream,
                    leftover: leftover.to_vec(),
                    params,
                    minor: code & 0xffff,
                    unknown_options,
                }));
            }
            code if code == wire::SSL_REQUEST_CODE || code == wire::GSSENC_REQUEST_CODE => {
                return Err(refuse(reader, "too many encryption requests").await);
            }
            other => {
                let message = format!(
                    "unsupported frontend protocol {}.{}: gatehouse connect speaks protocol 3.0",
                    other >> 16,
                    other & 0xffff
                );
                return Err(refuse(reader, &message).await);
            }
        }
    }
}

/// Send FATAL 08P01, then swallow what the client still sends for a moment.
async fn refuse(mut reader: FrameReader<TcpStream>, message: &str) -> String {
    let error = wire::error_response(Severity::Fatal, "08P01", message, None, None);
    let stream = reader.get_mut();
    let _ = stream.write_all(&error).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(DRAIN, reader.discard_incoming(DRAIN_BYTES)).await;
    message.to_owned()
}

impl LocalClient {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The database the client asked for, when it names another connection than ours. No
    /// database, an empty one, or one equal to the user name (libpq's default when none is
    /// given) means ours.
    pub(super) fn foreign_database(&self, connection: &str) -> Option<&str> {
        match self.param("database") {
            None | Some("") => None,
            Some(database) if database == connection || Some(database) == self.param("user") => {
                None
            }
            Some(database) => Some(database),
        }
    }

    /// Whether the client asked for a newer minor version or protocol options, which it must
    /// be told we do not have (`NegotiateProtocolVersion`).
    pub(super) fn needs_negotiation(&self) -> bool {
        self.minor > 0 || !self.unknown_options.is_empty()
    }

    /// Startup parameters for the gateway: everything but `user` and `database` (set by us)
    /// and protocol options. The gateway refuses those it does not allow, with its own error.
    pub(super) fn passthrough(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params
            .iter()
            .filter(|(name, _)| {
                !matches!(name.as_str(), "user" | "database") && !name.starts_with("_pq_.")
            })
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }
}
