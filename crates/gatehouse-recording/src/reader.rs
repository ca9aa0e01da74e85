//! Reads recording bytes back: checks the preamble, indexes every intact chunk from its fixed
//! header (no decompression), and decodes chunks only as events are asked for, so seeking to an
//! event or a time costs one chunk.

use crate::crc::crc32;
use crate::error::RecordingError;
use crate::event::RecordingEvent;
use crate::format::{
    CHUNK_HEADER_LEN, ChunkHeaderError, ChunkInfo, Cursor, MAX_CHUNK_BYTES, RecordingHeader,
    decode_chunk_header, decode_preamble,
};
use crate::summary::{RecordingSummary, Tally};

/// A parsed recording: its header, the index of its intact chunks, and what, if anything, cut
/// it short.
#[derive(Debug)]
pub struct Recording {
    bytes: Vec<u8>,
    header: RecordingHeader,
    chunks: Vec<ChunkInfo>,
    damage: Option<RecordingError>,
}

impl Recording {
    /// Parses a recording. Fails only when the preamble is unusable (not a recording, a newer
    /// format version, a damaged header); damage after it ends the readable prefix and is
    /// reported by [`damage`](Self::damage).
    pub fn parse(bytes: Vec<u8>) -> Result<Self, RecordingError> {
        let mut cursor = Cursor::new(&bytes);
        let header = decode_preamble(&mut cursor)?;
        let mut chunks: Vec<ChunkInfo> = Vec::new();
        let mut damage = None;
        while !cursor.is_empty() {
            let offset = (bytes.len() - cursor.remaining()) as u64;
            match next_chunk(&mut cursor, offset, chunks.last()) {
                Ok(info) => chunks.push(info),
                Err(error) => {
                    damage = Some(error);
                    break;
                }
            }
        }
        Ok(Recording {
            bytes,
            header,
            chunks,
            damage,
        })
    }

    pub fn header(&self) -> &RecordingHeader {
        &self.header
    }

    /// The intact chunks, in order.
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    /// Why the recording ends before its last byte, if it does: a chunk cut off mid-write or
    /// failing its checksum. Everything in [`chunks`](Self::chunks) is before that point.
    pub fn damage(&self) -> Option<&RecordingError> {
        self.damage.as_ref()
    }

    /// How many events the intact chunks hold.
    pub fn event_count(&self) -> u64 {
        self.chunks
            .last()
            .map_or(0, |last| last.first_event + u64::from(last.event_count))
    }

    /// Every event, in order.
    pub fn events(&self) -> Events<'_> {
        Events::new(self, 0, 0, 0)
    }

    /// The events from index `index` on; empty past the end.
    pub fn seek_event(&self, index: u64) -> Events<'_> {
        let chunk = self
            .chunks
            .partition_point(|chunk| chunk.first_event + u64::from(chunk.event_count) <= index);
        let skip = self
            .chunks
            .get(chunk)
            .map_or(0, |info| index.saturating_sub(info.first_event));
        Events::new(self, chunk, skip, 0)
    }

    /// The events at or after `at_us` microseconds into the session.
    pub fn seek_time(&self, at_us: u64) -> Events<'_> {
        let chunk = self
            .chunks
            .partition_point(|chunk| chunk.last_at_us < at_us);
        Events::new(self, chunk, 0, at_us)
    }

    /// Decodes the events of one chunk.
    pub fn read_chunk(&self, info: &ChunkInfo) -> Result<Vec<RecordingEvent>, RecordingError> {
        let decode = |reason: String| RecordingError::Decode {
            chunk: info.index,
            reason,
        };
        let start = usize::try_from(info.offset)
            .ok()
            .and_then(|offset| offset.checked_add(CHUNK_HEADER_LEN))
            .ok_or_else(|| decode("offset out of range".into()))?;
        let body = self
            .bytes
            .get(start..start + info.compressed_len as usize)
            .ok_or_else(|| decode("body out of range".into()))?;
        let json = zstd::bulk::decompress(body, info.uncompressed_len as usize)
            .map_err(|error| decode(error.to_string()))?;
        if json.len() != info.uncompressed_len as usize {
            return Err(decode(format!(
                "{} bytes decompressed, {} expected",
                json.len(),
                info.uncompressed_len
            )));
        }
        let events = json
            .split(|&byte| byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice(line).map_err(|error| decode(error.to_string())))
            .collect::<Result<Vec<RecordingEvent>, _>>()?;
        if events.len() != info.event_count as usize {
            return Err(decode(format!(
                "{} events decoded, {} expected",
                events.len(),
                info.event_count
            )));
        }
        Ok(events)
    }

    /// The listing summary, from the header and every intact event. `ended_at` is the time of
    /// the `session_end` event, if there is one.
    pub fn summary(&self) -> Result<RecordingSummary, RecordingError> {
        let mut tally = Tally::default();
        for event in self.events() {
            tally.observe(&event?);
        }
        Ok(tally.summary(&self.header, self.bytes.len() as u64, tally.session_end_us))
    }
}

/// Reads and checks the chunk header at `offset`, against the chunk before it.
fn next_chunk(
    cursor: &mut Cursor<'_>,
    offset: u64,
    previous: Option<&ChunkInfo>,
) -> Result<ChunkInfo, RecordingError> {
    let chunk = previous.map_or(0, |info| info.index.wrapping_add(1));
    let raw = decode_chunk_header(cursor, offset).map_err(|error| match error {
        ChunkHeaderError::Truncated => RecordingError::Truncated { chunk, offset },
        ChunkHeaderError::Checksum => RecordingError::Checksum { chunk, offset },
        ChunkHeaderError::BadMagic => RecordingError::CorruptChunk {
            chunk,
            offset,
            reason: "no chunk header here".into(),
        },
    })?;
    let info = raw.info;
    let corrupt = |reason: String| RecordingError::CorruptChunk {
        chunk,
        offset,
        reason,
    };
    let expected_event = previous.map_or(0, |info| info.first_event + u64::from(info.event_count));
    if info.index != chunk {
        return Err(corrupt(format!("it says it is chunk {}", info.index)));
    }
    if info.first_event != expected_event {
        return Err(corrupt(format!(
            "it starts at event {}, not {expected_event}",
            info.first_event
        )));
    }
    if info.first_at_us > info.last_at_us
        || previous.is_some_and(|p| p.last_at_us > info.first_at_us)
    {
        return Err(corrupt("its times go backwards".into()));
    }
    if info.compressed_len as usize > MAX_CHUNK_BYTES
        || info.uncompressed_len as usize > MAX_CHUNK_BYTES
    {
        return Err(corrupt(format!(
            "it claims more than {MAX_CHUNK_BYTES} bytes"
        )));
    }
    let body = cursor
        .take(info.compressed_len as usize)
        .ok_or(RecordingError::Truncated { chunk, offset })?;
    if crc32(body) != raw.body_crc {
        return Err(RecordingError::Checksum { chunk, offset });
    }
    Ok(info)
}

/// Events of a recording in order, decoding one chunk at a time. Yields an error and stops if a
/// chunk cannot be decoded.
#[derive(Debug)]
pub struct Events<'a> {
    recording: &'a Recording,
    next_chunk: usize,
    current: std::vec::IntoIter<RecordingEvent>,
    skip: u64,
    min_at_us: u64,
    failed: bool,
}

impl<'a> Events<'a> {
    fn new(recording: &'a Recording, chunk: usize, skip: u64, min_at_us: u64) -> Self {
        Events {
            recording,
            next_chunk: chunk,
            current: Vec::new().into_iter(),
            skip,
            min_at_us,
            failed: false,
        }
    }
}

impl Iterator for Events<'_> {
    type Item = Result<RecordingEvent, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self
                .current
                .by_ref()
                .find(|event| event.at_us >= self.min_at_us)
            {
                return Some(Ok(event));
            }
            if self.failed {
                return None;
            }
            let info = self.recording.chunks.get(self.next_chunk)?;
            self.next_chunk += 1;
            match self.recording.read_chunk(info) {
                Ok(events) => {
                    self.current = events.into_iter();
                    let skip = std::mem::take(&mut self.skip);
                    if let Some(last_skipped) = skip.checked_sub(1) {
                        let last_skipped = usize::try_from(last_skipped).unwrap_or(usize::MAX);
                        self.current.nth(last_skipped);
                    }
                }
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }
}
