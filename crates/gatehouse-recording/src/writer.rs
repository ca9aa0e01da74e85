//! Turns a session's events into recording bytes as they happen: events are buffered as NDJSON
//! and handed out as compressed, checksummed chunks once a chunk fills, so memory stays bounded
//! by one chunk however long the session runs.

use crate::error::RecordingError;
use crate::event::{EventKind, MAX_ROWS_PER_EVENT, RecordingEvent, RequestRef};
use crate::format::{
    ChunkInfo, MAX_CHUNK_BYTES, MAX_EVENT_BYTES, RecordingHeader, encode_chunk_header,
    encode_preamble,
};
use crate::summary::{RecordingSummary, Tally};

/// When the writer closes a chunk, and how hard it compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Close a chunk once it holds this many events.
    pub max_events: u32,
    /// Close a chunk once its uncompressed NDJSON reaches this many bytes (a chunk may exceed it
    /// by its last event).
    pub max_bytes: usize,
    /// zstd level; low levels keep the data path cheap.
    pub level: i32,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_events: 256,
            max_bytes: 64 << 10,
            level: 1,
        }
    }
}

impl WriterConfig {
    fn validate(&self) -> Result<(), RecordingError> {
        if self.max_events == 0 {
            return Err(RecordingError::InvalidConfig(
                "a chunk must hold at least one event".into(),
            ));
        }
        let byte_limit = MAX_CHUNK_BYTES / 2;
        if self.max_bytes == 0 || self.max_bytes > byte_limit {
            return Err(RecordingError::InvalidConfig(format!(
                "chunk size must be between 1 and {byte_limit} bytes"
            )));
        }
        if !zstd::compression_level_range().contains(&self.level) {
            return Err(RecordingError::InvalidConfig(format!(
                "zstd level {} is out of range",
                self.level
            )));
        }
        Ok(())
    }
}

/// A finished chunk, ready to append to storage. Chunk 0's bytes begin with the recording's
/// preamble, so a recording is exactly its chunks' bytes in index order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub info: ChunkInfo,
    pub bytes: Vec<u8>,
}

/// What [`RecordingWriter::finish`] leaves: the last chunk, if any, and the summary to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub chunk: Option<Chunk>,
    pub summary: RecordingSummary,
}

/// Writes one session's recording. Push every event; store each chunk it returns, in order;
/// call [`finish`](Self::finish) when the session ends.
///
/// Events still buffered are lost if the process dies, so flush after `session_start` (to make
/// the recording visible at once) and on an idle timer.
#[derive(Debug)]
pub struct RecordingWriter {
    header: RecordingHeader,
    config: WriterConfig,
    /// The preamble, until chunk 0 carries it out.
    preamble: Option<Vec<u8>>,
    /// NDJSON of the events not yet in a chunk.
    pending: Vec<u8>,
    pending_events: u32,
    pending_first_at_us: u64,
    next_chunk: u32,
    next_event: u64,
    /// Bytes handed out so far.
    written: u64,
    last_at_us: Option<u64>,
    tally: Tally,
}

impl RecordingWriter {
    /// A writer with the default [`WriterConfig`].
    pub fn new(header: RecordingHeader) -> Result<Self, RecordingError> {
        Self::with_config(header, WriterConfig::default())
    }

    pub fn with_config(
        header: RecordingHeader,
        config: WriterConfig,
    ) -> Result<Self, RecordingError> {
        config.validate()?;
        let preamble = encode_preamble(&header)?;
        Ok(RecordingWriter {
            header,
            config,
            preamble: Some(preamble),
            pending: Vec::new(),
            pending_events: 0,
            pending_first_at_us: 0,
            next_chunk: 0,
            next_event: 0,
            written: 0,
            last_at_us: None,
            tally: Tally::default(),
        })
    }

    /// Appends an event; returns a chunk when this event fills one. A refused event (out of
    /// order, too large) leaves the writer as it was.
    pub fn push(&mut self, event: &RecordingEvent) -> Result<Option<Chunk>, RecordingError> {
        if matches!(event.kind, EventKind::Unrecognised) {
            return Err(RecordingError::UnrecognisedEvent);
        }
        if let EventKind::Rows(batch) = &event.kind
            && batch.rows.len() > MAX_ROWS_PER_EVENT
        {
            return Err(RecordingError::TooManyRows {
                rows: batch.rows.len(),
                limit: MAX_ROWS_PER_EVENT,
            });
        }
        self.append(
            event.at_us,
            |out| crate::event_json::write_event(out, event),
            |tally| tally.observe_kind(event.at_us, &event.kind),
        )
    }

    /// Appends a request event, as [`push`](Self::push) would append
    /// `EventKind::Request` of the same fields, without the owned copy of its text, action
    /// and policies that building one takes: the data path records one per statement.
    pub fn push_request(
        &mut self,
        at_us: u64,
        request: &RequestRef<'_>,
    ) -> Result<Option<Chunk>, RecordingError> {
        self.append(
            at_us,
            |out| {
                crate::event_json::write_request(out, at_us, request);
                Ok(())
            },
            |tally| tally.observe_request(at_us),
        )
    }

    /// Appends the event that `encode` writes, stamped `at_us`, and counts it with `count`;
    /// returns a chunk when the event fills one. A refused event leaves the writer as it was.
    fn append(
        &mut self,
        at_us: u64,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), serde_json::Error>,
        count: impl FnOnce(&mut Tally),
    ) -> Result<Option<Chunk>, RecordingError> {
        if let Some(previous_us) = self.last_at_us
            && at_us < previous_us
        {
            return Err(RecordingError::EventOutOfOrder { at_us, previous_us });
        }
        let start = self.pending.len();
        if let Err(error) = encode(&mut self.pending) {
            self.pending.truncate(start);
            return Err(RecordingError::Encode(error));
        }
        let bytes = self.pending.len() - start;
        if bytes > MAX_EVENT_BYTES {
            self.pending.truncate(start);
            return Err(RecordingError::EventTooLarge {
                bytes,
                limit: MAX_EVENT_BYTES,
            });
        }
        self.pending.push(b'\n');
        if self.pending_events == 0 {
            self.pending_first_at_us = at_us;
        }
        self.pending_events += 1;
        self.last_at_us = Some(at_us);
        count(&mut self.tally);
        if self.pending_events >= self.config.max_events
            || self.pending.len() >= self.config.max_bytes
        {
            return self.seal().map(Some);
        }
        Ok(None)
    }

    /// Closes the current chunk early, if it holds any events.
    pub fn flush(&mut self) -> Result<Option<Chunk>, RecordingError> {
        if self.pending_events == 0 {
            return Ok(None);
        }
        self.seal().map(Some)
    }

    /// Closes the last chunk and summarizes the recording, ended at its last event. A recording
    /// with no events still gets a chunk 0, so its preamble is stored.
    pub fn finish(mut self) -> Result<Finished, RecordingError> {
        let chunk = if self.pending_events > 0 || self.preamble.is_some() {
            Some(self.seal()?)
        } else {
            None
        };
        let ended_at_us = self.last_at_us.unwrap_or(0);
        let summary = self
            .tally
            .summary(&self.header, self.written, Some(ended_at_us));
        Ok(Finished { chunk, summary })
    }

    /// Compresses the pending events into the next chunk.
    fn seal(&mut self) -> Result<Chunk, RecordingError> {
        let body = compress(&self.pending, self.config.level).map_err(RecordingError::Compress)?;
        let too_large = |_| RecordingError::Compress(std::io::Error::other("chunk exceeds 4 GiB"));
        let preamble_len = self.preamble.as_ref().map_or(0, Vec::len);
        let info = ChunkInfo {
            index: self.next_chunk,
            offset: self.written + preamble_len as u64,
            first_event: self.next_event,
            event_count: self.pending_events,
            first_at_us: self.pending_first_at_us,
            last_at_us: self.last_at_us.unwrap_or(0),
            compressed_len: u32::try_from(body.len()).map_err(too_large)?,
            uncompressed_len: u32::try_from(self.pending.len()).map_err(too_large)?,
        };
        let mut bytes = self.preamble.take().unwrap_or_default();
        bytes.reserve(body.len() + 64);
        bytes.extend_from_slice(&encode_chunk_header(&info, &body));
        bytes.extend_from_slice(&body);

        self.next_chunk += 1;
        self.next_event += u64::from(self.pending_events);
        self.written += bytes.len() as u64;
        self.pending_events = 0;
        self.pending.clear();
        if self.pending.capacity() > 4 * self.config.max_bytes {
            self.pending = Vec::new();
        }
        Ok(Chunk { info, bytes })
    }
}

thread_local! {
    /// This thread's zstd context, kept from one chunk to the next: `zstd::bulk::compress`
    /// made (allocated and initialised) a fresh one for every chunk. Per thread rather than per
    /// writer, so that an idle session holds none.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `data` as one zstd frame at `level`, through this thread's context (the same bytes as
/// `zstd::bulk::compress`).
fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|slot| {
        let Ok(mut slot) = slot.try_borrow_mut() else {
            return zstd::bulk::compress(data, level);
        };
        match &mut *slot {
            Some((at, compressor)) if *at == level => compressor.compress(data),
            other => {
                let mut compressor = zstd::bulk::Compressor::new(level)?;
                let body = compressor.compress(data);
                *other = Some((level, compressor));
                body
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::compress;

    /// The reused context writes exactly the frames a fresh one does, chunk after chunk and
    /// when the level changes.
    #[test]
    fn the_thread_s_context_compresses_as_a_fresh_one_does() {
        let chunks: Vec<Vec<u8>> = (0..6u8)
            .map(|n| {
                format!("{{\"n\":{n},\"sql\":\"SELECT {n}\"}}\n")
                    .repeat(200 * usize::from(n + 1))
                    .into_bytes()
            })
            .collect();
        for level in [1, 1, 3, 1] {
            for chunk in &chunks {
                let reused = compress(chunk, level).unwrap();
                assert_eq!(reused, zstd::bulk::compress(chunk, level).unwrap());
                assert_eq!(
                    zstd::bulk::decompress(&reused, chunk.len()).unwrap(),
                    *chunk
                );
            }
        }
    }
}
