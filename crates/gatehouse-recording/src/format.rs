//! The byte layout of a recording: the preamble (magic, version, JSON header) and the fixed
//! chunk header. Kept in one place so the writer and the reader cannot disagree; `FORMAT.md`
//! documents the same layout for other implementations.

use crate::crc::crc32;
use crate::error::RecordingError;
use crate::event::SessionStart;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The format version this crate writes. Version 2 made the event envelope protocol-neutral
/// (`request.text`, `result.status`, column `type`, terminal, HTTP and protocol events).
pub const FORMAT_VERSION: u16 = 2;
/// The oldest version this crate still reads: version 1 events read through serde aliases.
pub const OLDEST_READABLE_VERSION: u16 = 1;
/// The most bytes one chunk body may hold, compressed or not; readers refuse larger claims.
pub const MAX_CHUNK_BYTES: usize = 64 << 20;
/// The most bytes one event may take as JSON.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

pub(crate) const MAGIC: &[u8; 5] = b"GHREC";
pub(crate) const CHUNK_MAGIC: &[u8; 4] = b"GHCK";
pub(crate) const CHUNK_HEADER_LEN: usize = 52;
const MAX_HEADER_LEN: u32 = 1 << 20;

/// The JSON header at the start of a recording: enough to list it without reading events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingHeader {
    /// The session id, which is also the recording id.
    pub session: String,
    pub subject: String,
    pub connection: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub gatehouse_version: String,
}

impl RecordingHeader {
    /// The header for the session a `session_start` event describes.
    pub fn from_start(start: &SessionStart) -> Self {
        RecordingHeader {
            session: start.session.clone(),
            subject: start.subject.clone(),
            connection: start.connection.clone(),
            started_at: start.started_at,
            gatehouse_version: start.gatehouse_version.clone(),
        }
    }

    /// The wall-clock time of an event `at_us` into the session; `None` if out of range.
    pub fn time_at(&self, at_us: u64) -> Option<OffsetDateTime> {
        let micros = i64::try_from(at_us).ok()?;
        self.started_at
            .checked_add(time::Duration::microseconds(micros))
    }
}

/// Where one chunk sits and what it covers, as read from its fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Position of the chunk in the recording, from 0.
    pub index: u32,
    /// Byte offset of the chunk header within the recording.
    pub offset: u64,
    /// Index within the recording of the chunk's first event.
    pub first_event: u64,
    pub event_count: u32,
    pub first_at_us: u64,
    pub last_at_us: u64,
    pub compressed_len: u32,
    pub uncompressed_len: u32,
}

/// The preamble bytes for `header`.
pub(crate) fn encode_preamble(header: &RecordingHeader) -> Result<Vec<u8>, RecordingError> {
    let json = serde_json::to_vec(header).map_err(RecordingError::Encode)?;
    let len = u32::try_from(json.len())
        .ok()
        .filter(|len| *len <= MAX_HEADER_LEN)
        .ok_or_else(|| RecordingError::InvalidConfig("recording header is too large".into()))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 10 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&crc32(&json).to_le_bytes());
    Ok(out)
}

/// Reads the preamble; any problem here is fatal, since nothing after it can be trusted.
pub(crate) fn decode_preamble(cursor: &mut Cursor<'_>) -> Result<RecordingHeader, RecordingError> {
    let truncated = || RecordingError::TruncatedHeader;
    let magic = cursor.take(MAGIC.len());
    if magic != Some(MAGIC.as_slice()) {
        return Err(if magic.is_none() && MAGIC.starts_with(cursor.rest) {
            truncated()
        } else {
            RecordingError::NotARecording
        });
    }
    let version = cursor.u16().ok_or_else(truncated)?;
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(RecordingError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = cursor.u32().ok_or_else(truncated)?;
    if len > MAX_HEADER_LEN {
        return Err(RecordingError::CorruptHeader {
            reason: format!("it claims {len} bytes, more than the limit of {MAX_HEADER_LEN}"),
        });
    }
    let json = cursor.take(len as usize).ok_or_else(truncated)?;
    let crc = cursor.u32().ok_or_else(truncated)?;
    if crc != crc32(json) {
        return Err(RecordingError::CorruptHeader {
            reason: "checksum mismatch".into(),
        });
    }
    serde_json::from_slice(json).map_err(|error| RecordingError::CorruptHeader {
        reason: error.to_string(),
    })
}

/// The fixed header of a chunk whose body is `body`.
pub(crate) fn encode_chunk_header(info: &ChunkInfo, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHUNK_HEADER_LEN);
    out.extend_from_slice(CHUNK_MAGIC);
    out.extend_from_slice(&info.index.to_le_bytes());
    out.extend_from_slice(&info.first_event.to_le_bytes());
    out.extend_from_slice(&info.event_count.to_le_bytes());
    out.extend_from_slice(&info.first_at_us.to_le_bytes());
    out.extend_from_slice(&info.last_at_us.to_le_bytes());
    out.extend_from_slice(&info.compressed_len.to_le_bytes());
    out.extend_from_slice(&info.uncompressed_len.to_le_bytes());
    out.extend_from_slice(&crc32(body).to_le_bytes());
    let header_crc = crc32(&out);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out
}

/// A chunk header as read, before it is checked against its neighbours.
pub(crate) struct RawChunkHeader {
    pub info: ChunkInfo,
    pub body_crc: u32,
}

/// Why a chunk header could not be read.
pub(crate) enum ChunkHeaderError {
    Truncated,
    BadMagic,
    Checksum,
}

/// Reads the fixed chunk header at `offset`.
pub(crate) fn decode_chunk_header(
    cursor: &mut Cursor<'_>,
    offset: u64,
) -> Result<RawChunkHeader, ChunkHeaderError> {
    let raw: [u8; CHUNK_HEADER_LEN] = cursor.array().ok_or(ChunkHeaderError::Truncated)?;
    let mut fields = Cursor::new(&raw);
    let magic: Option<[u8; 4]> = fields.array();
    if magic.as_ref() != Some(CHUNK_MAGIC) {
        return Err(ChunkHeaderError::BadMagic);
    }
    let parsed = (|| {
        let info = ChunkInfo {
            index: fields.u32()?,
            offset,
            first_event: fields.u64()?,
            event_count: fields.u32()?,
            first_at_us: fields.u64()?,
            last_at_us: fields.u64()?,
            compressed_len: fields.u32()?,
            uncompressed_len: fields.u32()?,
        };
        let body_crc = fields.u32()?;
        let covered = raw.get(..CHUNK_HEADER_LEN - 4)?;
        let header_crc = fields.u32()?;
        Some((
            RawChunkHeader { info, body_crc },
            crc32(covered) == header_crc,
        ))
    })();
    match parsed {
        Some((header, true)) => Ok(header),
        _ => Err(ChunkHeaderError::Checksum),
    }
}

/// Reads little-endian fields from a byte slice without indexing.
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { rest: bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.rest = rest;
        Some(*head)
    }

    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
}
