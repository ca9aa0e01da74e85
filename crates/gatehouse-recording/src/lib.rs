//! Session recordings for gatehouse: for each client session, the ordered stream of what was
//! asked, what policy decided, what approvals happened and what came back (result metadata and,
//! where a connection records them, already-masked rows), kept in a versioned, seekable,
//! compressed file so `gatehouse sessions replay ID` can show it later.
//!
//! The crate is pure: no async runtime, network or database. The gateway pushes
//! [`RecordingEvent`]s into a [`RecordingWriter`], which hands back zstd-compressed,
//! checksummed [`Chunk`]s as they fill; the gateway stores them through a
//! [`RecordingStorage`] ([`LocalDirStorage`] by default; the store crate keeps them as blobs).
//! [`Recording::parse`] reads the bytes back, indexes chunks without decompressing them, and
//! seeks by event index or time; a recording cut short by a crash yields every complete chunk
//! and says where it was cut ([`Recording::damage`]).
//!
//! - Format: [`FORMAT_VERSION`], documented byte for byte in `FORMAT.md` beside this crate.
//! - Replay: [`timeline`] / [`render_timeline`] for people, [`render_json`] for programs,
//!   [`Paced`] for real-time replay at any speed.
//! - Retention: [`expired`] picks the recordings to delete.
//!
//! ```
//! # fn main() -> Result<(), gatehouse_recording::RecordingError> {
//! use gatehouse_recording::*;
//!
//! let header = RecordingHeader {
//!     session: "s-0123".into(),
//!     subject: "ana".into(),
//!     connection: "demo".into(),
//!     started_at: time::macros::datetime!(2026-05-01 09:00 UTC),
//!     gatehouse_version: "0.1.0".into(),
//! };
//! let mut writer = RecordingWriter::new(header)?;
//! let mut bytes = Vec::new();
//! let end = RecordingEvent {
//!     at_us: 1_500,
//!     kind: EventKind::SessionEnd(SessionEnd { reason: "client closed".into() }),
//! };
//! if let Some(chunk) = writer.push(&end)? {
//!     bytes.extend(chunk.bytes);
//! }
//! let finished = writer.finish()?;
//! bytes.extend(finished.chunk.map(|chunk| chunk.bytes).unwrap_or_default());
//!
//! let recording = Recording::parse(bytes)?;
//! assert_eq!(recording.events().collect::<Result<Vec<_>, _>>()?, [end]);
//! # Ok(()) }
//! ```

mod asciicast;
mod crc;
mod error;
mod event;
mod event_json;
mod format;
mod local;
mod pace;
mod reader;
mod storage;
mod summary;
mod timeline;
mod writer;

pub use asciicast::render_asciicast;
pub use error::RecordingError;
pub use event::{
    Approval, Column, EventKind, HttpExchange, MAX_ROWS_PER_EVENT, ProtocolEvent, RecordingEvent,
    Request, RequestRef, ResultError, ResultRows, ResultSummary, SessionEnd, SessionStart,
    TerminalData, TerminalResize, TerminalStream,
};
pub use format::{
    ChunkInfo, FORMAT_VERSION, MAX_CHUNK_BYTES, MAX_EVENT_BYTES, OLDEST_READABLE_VERSION,
    RecordingHeader,
};
pub use gatehouse_core::DecisionKind;
pub use local::LocalDirStorage;
pub use pace::{Paced, Timed};
pub use reader::{Events, Recording};
pub use storage::RecordingStorage;
pub use summary::{RecordingSummary, expired};
pub use timeline::{Timeline, TimelineLine, event_lines, render_json, render_timeline, timeline};
pub use writer::{Chunk, Finished, RecordingWriter, WriterConfig};
