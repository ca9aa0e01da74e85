//! Where recordings live, behind one small trait so the gateway does not care whether that is
//! a local directory, blobs in the store database, or an object store.
//!
//! The trait speaks only in recording ids, chunk indexes and bytes. An S3-compatible backend
//! maps it as one object per chunk, `<prefix>/<id>/chunk-<index, 10 digits>`, written with a
//! plain `PUT` (chunks are immutable, so no multipart upload or append is needed), and one
//! summary object `<prefix>/<id>/summary.json` written by `finish`. `read` lists the chunk
//! objects in key order and concatenates them; `list` reads the summary objects (and, for ids
//! with chunks but no summary, derives one from the chunks); `delete` removes the prefix.

use crate::error::RecordingError;
use crate::summary::RecordingSummary;

/// Durable storage for recordings. Implementations must be safe to share between sessions.
///
/// A recording's bytes are its chunks' bytes concatenated in index order (chunk 0 starts with
/// the preamble), so [`read`](Self::read) returns exactly what [`crate::Recording::parse`]
/// takes. Callers append chunks in index order, starting at 0, without gaps.
pub trait RecordingStorage: Send + Sync {
    /// Stores chunk `chunk_index` of recording `id`. Chunk 0 creates the recording.
    fn append_chunk(&self, id: &str, chunk_index: u32, bytes: &[u8]) -> Result<(), RecordingError>;

    /// Marks the recording complete and stores its summary.
    fn finish(&self, id: &str, summary: &RecordingSummary) -> Result<(), RecordingError>;

    /// The recording's bytes as stored so far.
    fn read(&self, id: &str) -> Result<Vec<u8>, RecordingError>;

    /// Summaries of every stored recording, finished or not, oldest first.
    fn list(&self) -> Result<Vec<RecordingSummary>, RecordingError>;

    /// Removes the recording and its summary.
    fn delete(&self, id: &str) -> Result<(), RecordingError>;
}
