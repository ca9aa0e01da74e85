//! The one error type of this crate, so callers match on what went wrong with a recording
//! (unreadable, damaged, misused, unstorable) rather than on strings.

use std::path::PathBuf;

/// Everything that can go wrong writing, reading, storing or rendering a recording.
///
/// Some variants also describe *damage*: [`crate::Recording::damage`] holds the one that ended
/// the readable prefix of a recording ([`Truncated`](Self::Truncated),
/// [`Checksum`](Self::Checksum), [`CorruptChunk`](Self::CorruptChunk)).
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error(
        "an event of an unrecognised kind cannot be written: it stands only for what a reader skipped"
    )]
    UnrecognisedEvent,

    #[error("not a gatehouse recording (the file does not start with `GHREC`)")]
    NotARecording,

    #[error(
        "recording format version {found} is not supported: this gatehouse reads versions \
         {oldest} to {supported}{hint}",
        oldest = crate::format::OLDEST_READABLE_VERSION,
        hint = if *found > *supported { "; upgrade gatehouse to read this recording" } else { "" }
    )]
    UnsupportedVersion { found: u16, supported: u16 },

    #[error("recording ends inside its header (the writer stopped before any event was stored)")]
    TruncatedHeader,

    #[error("recording header is unreadable: {reason}")]
    CorruptHeader { reason: String },

    #[error(
        "recording is truncated: chunk {chunk} at byte {offset} is incomplete (the writer \
         probably stopped mid-write); the chunks before it are intact"
    )]
    Truncated { chunk: u32, offset: u64 },

    #[error(
        "recording is damaged: chunk {chunk} at byte {offset} fails its checksum; the chunks \
         before it are intact"
    )]
    Checksum { chunk: u32, offset: u64 },

    #[error(
        "recording is damaged: chunk {chunk} at byte {offset} is malformed ({reason}); the \
         chunks before it are intact"
    )]
    CorruptChunk {
        chunk: u32,
        offset: u64,
        reason: String,
    },

    #[error("chunk {chunk} could not be decoded: {reason}")]
    Decode { chunk: u32, reason: String },

    #[error("event could not be encoded: {0}")]
    Encode(#[source] serde_json::Error),

    #[error("chunk could not be compressed: {0}")]
    Compress(#[source] std::io::Error),

    #[error("event at +{at_us}us comes before the previous event at +{previous_us}us")]
    EventOutOfOrder { at_us: u64, previous_us: u64 },

    #[error("event is {bytes} bytes encoded, more than the limit of {limit}")]
    EventTooLarge { bytes: usize, limit: usize },

    #[error("rows event carries {rows} rows, more than the limit of {limit} per event")]
    TooManyRows { rows: usize, limit: usize },

    #[error("invalid recording setting: {0}")]
    InvalidConfig(String),

    #[error(
        "invalid recording id `{0}`: use 1 to 128 ASCII letters, digits, `-`, `_` or `.`, \
         not starting with `.`"
    )]
    InvalidId(String),

    #[error("recording `{0}` not found")]
    NotFound(String),

    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("writing output: {0}")]
    Output(#[source] std::io::Error),

    #[error("recording storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}
