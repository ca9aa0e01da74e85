//! Entry points for the coverage-guided fuzz targets in `fuzz/` and the crate's property tests
//! (not API: hidden from the documentation, may change at any time). They feed a possibly
//! malicious server's bytes into the adapter's handling of answers without a network: the
//! relay of an answer to the client (OK packets and the session-state changes they report,
//! ERR packets, result sets with text or binary rows masked by a configured [`Masker`], a
//! `LOAD DATA LOCAL INFILE` request), and the reading of answers gatehouse does not relay
//! (a capped statement's results) with the count a row cap is held to.

use crate::MysqlError;
use crate::packets::PacketStream;
use crate::query::discard_answer;
use crate::session::outcomes::AnswerKind;
use crate::session::responses::Exchange;
use crate::session::row_caps::rows_counted;
use crate::session::state::SessionState;
use gatehouse_mask::Masker;
use gatehouse_mysql_wire::Capabilities;
use gatehouse_mysql_wire::response::OkPacket;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest message the fuzzed server may send.
const MAX_MESSAGE: usize = 1 << 20;

/// How the session answered is set up.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// The capabilities in force with the client (`DEPRECATE_EOF`, `PROTOCOL_41`, ...).
    pub capabilities: Capabilities,
    /// The server tracks session state for gatehouse (its OK packets report changes).
    pub session_track: bool,
    /// Rows are binary (an execute of a prepared statement), not text.
    pub binary: bool,
    /// Columns without an origin are masked whole (the statement read a masked table).
    pub expressions_masked: bool,
    /// Rows are captured for a recording.
    pub capture: bool,
    /// Bytes the server's socket hands out per read (at least 1).
    pub chunk: usize,
}

/// What became of one answer.
#[derive(Debug)]
pub struct Answered {
    /// Everything that reached the client, as packets (header and payload).
    pub to_client: Vec<u8>,
    /// Per result: `ok N`, `rows N` or `error ...`; or the error that ends the session.
    pub results: Result<Vec<String>, String>,
    /// The session's `sql_mode`, client character set and database afterwards.
    pub sql_mode: String,
    pub charset: String,
    pub database: Option<String>,
}

/// Relay the answer in `server` (the server's bytes after gatehouse forwarded a command) to a
/// client, masked by `masker` when given, as a session set up by `setup` does.
pub async fn relay_answer(server: &[u8], masker: Option<Arc<Masker>>, setup: Setup) -> Answered {
    let written = Arc::new(Mutex::new(Vec::new()));
    let mut server_side = PacketStream::new(
        Box::new(Scripted::new(server, setup.chunk, None)),
        MAX_MESSAGE,
        "server",
    );
    let mut client_side = PacketStream::new(
        Box::new(Scripted::new(&[], 1, Some(written.clone()))),
        MAX_MESSAGE,
        "client",
    );
    let mut server_capabilities = setup.capabilities;
    if setup.session_track {
        server_capabilities |= Capabilities::SESSION_TRACK;
    }
    let mut state = SessionState::new("utf8mb4", String::new(), 101_119, false);
    let mut exchange = Exchange {
        server: &mut server_side,
        client: &mut client_side,
        capabilities: setup.capabilities,
        server_capabilities,
        state: &mut state,
        masker,
        capture: setup.capture,
    };
    let relayed = exchange.relay(setup.expressions_masked, setup.binary).await;
    // What a session that ended half-way had queued still goes out (as `finish` sends it).
    let _ = client_side.flush().await;
    let results = relayed
        .map(|answers| {
            answers
                .iter()
                .map(|answer| match &answer.kind {
                    AnswerKind::Done { affected } => format!("ok {affected}"),
                    AnswerKind::Capped { affected, .. } => format!("ok {affected}"),
                    AnswerKind::Rows { rows } => format!("rows {rows}"),
                    AnswerKind::Failed { error } => format!("error {error}"),
                })
                .collect()
        })
        .map_err(|error: MysqlError| error.to_string());
    let to_client = written
        .lock()
        .map(|bytes| bytes.clone())
        .unwrap_or_default();
    Answered {
        to_client,
        results,
        sql_mode: state.sql_mode,
        charset: state.charset,
        database: state.database,
    }
}

/// Read an answer gatehouse does not relay (a capped statement's results) as the row-cap path
/// does: the status flags of its end, `None` when it ended in an ERR, or the error that ends
/// the session.
pub async fn discard(
    server: &[u8],
    capabilities: Capabilities,
    chunk: usize,
) -> Result<Option<u16>, String> {
    let mut stream = PacketStream::new(
        Box::new(Scripted::new(server, chunk, None)),
        MAX_MESSAGE,
        "server",
    );
    let first = stream
        .expect("an answer")
        .await
        .map_err(|e| e.to_string())?;
    discard_answer(&mut stream, capabilities, &first.payload)
        .await
        .map_err(|e| e.to_string())
}

/// The rows a capped statement's OK packet `payload` counts against the cap, or why it is no
/// OK packet.
pub fn counted_rows(payload: &[u8], capabilities: Capabilities) -> Result<u64, String> {
    OkPacket::parse(payload, capabilities)
        .map(|ok| rows_counted(&ok))
        .map_err(|e| e.to_string())
}

/// An in-memory socket: reads hand out `input` `chunk` bytes at a time, then end; writes are
/// kept in `written` (or dropped).
struct Scripted {
    input: Vec<u8>,
    at: usize,
    chunk: usize,
    written: Option<Arc<Mutex<Vec<u8>>>>,
}

impl Scripted {
    fn new(input: &[u8], chunk: usize, written: Option<Arc<Mutex<Vec<u8>>>>) -> Self {
        Scripted {
            input: input.to_vec(),
            at: 0,
            chunk: chunk.max(1),
            written,
        }
    }
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let rest = self.input.get(self.at..).unwrap_or_default();
        let n = rest.len().min(self.chunk).min(buf.remaining());
        buf.put_slice(rest.get(..n).unwrap_or_default());
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if let Some(written) = &self.written
            && let Ok(mut written) = written.lock()
        {
            written.extend_from_slice(buf);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
