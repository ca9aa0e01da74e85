//! Session recordings kept as blobs in the store database, so a gateway with one data directory
//! needs nothing else to keep them (the default `[recording] storage = "store"`).
//!
//! [`gatehouse_recording::RecordingStorage`] is synchronous and is called from the session
//! tasks, so this goes through one rusqlite connection of its own behind a mutex, like the
//! audit writer, rather than through the async sqlx pool. A row in `recordings` describes each
//! recording (created by chunk 0 from the recording's header, completed by `finish`); its
//! chunks are rows of `recording_chunks`, and a recording's bytes are those chunks concatenated
//! in index order.

use crate::StoreError;
use crate::store_file::{FollowingConnection, StoreFile, WAL_PRAGMAS};
use gatehouse_recording::{Recording, RecordingError, RecordingStorage, RecordingSummary};
use rusqlite::OptionalExtension;
use std::sync::{Arc, Mutex, PoisonError};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;

/// RFC 3339 in UTC with a fixed number of fraction digits, so that the stored text sorts in
/// time order.
const TIME_FORMAT: &[BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
);

const STATE: &str = "SELECT finished,
        (SELECT COALESCE(MAX(chunk_index) + 1, 0) FROM recording_chunks WHERE id = ?1)
    FROM recordings WHERE id = ?1";
const INSERT_RECORDING: &str =
    "INSERT INTO recordings (id, session, subject, connection, started_at, finished)
    VALUES (?1, ?2, ?3, ?4, ?5, 0)";
const INSERT_CHUNK: &str =
    "INSERT INTO recording_chunks (id, chunk_index, bytes) VALUES (?1, ?2, ?3)";
const FINISH: &str = "UPDATE recordings
    SET subject = ?2, connection = ?3, started_at = ?4, ended_at = ?5, events = ?6,
        requests = ?7, bytes = ?8, finished = 1
    WHERE id = ?1";
const EXISTS: &str = "SELECT 1 FROM recordings WHERE id = ?1";
const CHUNKS: &str = "SELECT bytes FROM recording_chunks WHERE id = ?1 ORDER BY chunk_index";
const LIST: &str = "SELECT id, session, subject, connection, started_at, ended_at, events,
        requests, bytes, finished
    FROM recordings ORDER BY started_at, id";
const DELETE_CHUNKS: &str = "DELETE FROM recording_chunks WHERE id = ?1";
const DELETE_RECORDING: &str = "DELETE FROM recordings WHERE id = ?1";

/// Recordings in the store database. Cloning shares one connection, which follows the
/// store's path ([`crate::store_file`]).
#[derive(Clone)]
pub struct StoreRecordings {
    connection: Arc<Mutex<FollowingConnection>>,
}

impl StoreRecordings {
    /// Opens a connection of its own to the store at `path` (already migrated by
    /// [`crate::Store::open`]).
    pub(crate) fn open(store: &Arc<StoreFile>) -> Result<Self, StoreError> {
        let connection = FollowingConnection::open_shared(store, prepare)
            .map_err(|e| StoreError::Open(store.path().display().to_string(), e))?;
        Ok(StoreRecordings { connection })
    }

    fn with_connection<T>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<T, RecordingError>,
    ) -> Result<T, RecordingError> {
        // A panic while the lock was held rolled its transaction back as it unwound, so the
        // connection is still consistent and later sessions can keep recording.
        let mut following = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = following
            .current()
            .map_err(|reason| storage(StoreError::Unreachable(reason)))?;
        work(current.connection)
    }
}

fn prepare(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(WAL_PRAGMAS)?;
    connection.set_prepared_statement_cache_capacity(16);
    Ok(())
}

impl RecordingStorage for StoreRecordings {
    /// Chunk 0 must be the start of a recording whose header names `id` as its session; every
    /// later chunk must be the next index of an unfinished recording, so a gap is never stored.
    fn append_chunk(&self, id: &str, chunk_index: u32, bytes: &[u8]) -> Result<(), RecordingError> {
        let start = if chunk_index == 0 {
            let header = Recording::parse(bytes.to_vec())?.header().clone();
            if header.session != id {
                return Err(storage(StoreError::RecordingIdMismatch {
                    id: id.to_owned(),
                    session: header.session,
                }));
            }
            Some(header)
        } else {
            None
        };
        self.with_connection(|connection| {
            let tx = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(query)?;
            let state: Option<(bool, i64)> = tx
                .prepare_cached(STATE)
                .and_then(|mut statement| {
                    statement
                        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(query)?;
            match (&start, state) {
                (Some(_), Some(_)) => {
                    return Err(storage(StoreError::RecordingExists(id.to_owned())));
                }
                (None, None) => return Err(RecordingError::NotFound(id.to_owned())),
                (None, Some((true, _))) => {
                    return Err(storage(StoreError::RecordingFinished(id.to_owned())));
                }
                (None, Some((false, next))) if next != i64::from(chunk_index) => {
                    return Err(storage(StoreError::ChunkOutOfOrder {
                        id: id.to_owned(),
                        chunk: chunk_index,
                        expected: next,
                    }));
                }
                (None, Some((false, _))) => {}
                (Some(header), None) => {
                    tx.prepare_cached(INSERT_RECORDING)
                        .and_then(|mut statement| {
                            statement.execute(rusqlite::params![
                                id,
                                header.session,
                                header.subject,
                                header.connection,
                                format_time(header.started_at)?,
                            ])
                        })
                        .map_err(query)?;
                }
            }
            tx.prepare_cached(INSERT_CHUNK)
                .and_then(|mut statement| {
                    statement.execute(rusqlite::params![id, i64::from(chunk_index), bytes])
                })
                .map_err(query)?;
            tx.commit().map_err(query)
        })
    }

    fn finish(&self, id: &str, summary: &RecordingSummary) -> Result<(), RecordingError> {
        self.with_connection(|connection| {
            let updated = connection
                .prepare_cached(FINISH)
                .and_then(|mut statement| {
                    statement.execute(rusqlite::params![
                        id,
                        summary.subject,
                        summary.connection,
                        format_time(summary.started_at)?,
                        summary.ended_at.map(format_time).transpose()?,
                        to_sql_count(summary.events),
                        to_sql_count(summary.requests),
                        to_sql_count(summary.bytes),
                    ])
                })
                .map_err(query)?;
            if updated == 0 {
                return Err(RecordingError::NotFound(id.to_owned()));
            }
            Ok(())
        })
    }

    fn read(&self, id: &str) -> Result<Vec<u8>, RecordingError> {
        self.with_connection(|connection| {
            // One read transaction: a concurrent delete cannot leave half a recording.
            let tx = connection.transaction().map_err(query)?;
            read_chunks(&tx, id)
        })
    }

    /// Finished recordings are listed from their rows; unfinished ones (live, or cut short by
    /// a crash) are parsed to derive their summary, as [`gatehouse_recording::LocalDirStorage`]
    /// does. Parsing happens outside the lock, so running sessions keep appending meanwhile.
    fn list(&self) -> Result<Vec<RecordingSummary>, RecordingError> {
        let rows = self.with_connection(|connection| {
            connection
                .prepare_cached(LIST)
                .and_then(|mut statement| {
                    statement
                        .query_map([], |row| {
                            Ok(ListedRow {
                                id: row.get(0)?,
                                session: row.get(1)?,
                                subject: row.get(2)?,
                                connection: row.get(3)?,
                                started_at: row.get(4)?,
                                ended_at: row.get(5)?,
                                events: row.get(6)?,
                                requests: row.get(7)?,
                                bytes: row.get(8)?,
                                finished: row.get(9)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(query)
        })?;
        let mut summaries = Vec::with_capacity(rows.len());
        for row in rows {
            if row.finished {
                summaries.push(row.summary().map_err(storage)?);
                continue;
            }
            match self.read(&row.id) {
                Ok(bytes) => summaries.push(Recording::parse(bytes)?.summary()?),
                // Deleted since the rows were read (retention, or by hand).
                Err(RecordingError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(summaries)
    }

    fn delete(&self, id: &str) -> Result<(), RecordingError> {
        self.with_connection(|connection| {
            let tx = connection.transaction().map_err(query)?;
            tx.execute(DELETE_CHUNKS, [id]).map_err(query)?;
            let deleted = tx.execute(DELETE_RECORDING, [id]).map_err(query)?;
            if deleted == 0 {
                return Err(RecordingError::NotFound(id.to_owned()));
            }
            tx.commit().map_err(query)
        })
    }
}

/// A row of `recordings`, as listed.
struct ListedRow {
    id: String,
    session: String,
    subject: String,
    connection: String,
    started_at: String,
    ended_at: Option<String>,
    events: Option<i64>,
    requests: Option<i64>,
    bytes: Option<i64>,
    finished: bool,
}

impl ListedRow {
    /// The summary `finish` stored.
    fn summary(self) -> Result<RecordingSummary, StoreError> {
        let count = |value: Option<i64>, column: &str| {
            value
                .and_then(|value| u64::try_from(value).ok())
                .ok_or_else(|| {
                    StoreError::Corrupt(
                        "recordings",
                        format!("recording `{}` has no valid {column} count", self.id),
                    )
                })
        };
        Ok(RecordingSummary {
            events: count(self.events, "events")?,
            requests: count(self.requests, "requests")?,
            bytes: count(self.bytes, "bytes")?,
            started_at: parse_time(&self.id, &self.started_at)?,
            ended_at: self
                .ended_at
                .as_deref()
                .map(|text| parse_time(&self.id, text))
                .transpose()?,
            session: self.session,
            subject: self.subject,
            connection: self.connection,
        })
    }
}

fn read_chunks(connection: &rusqlite::Connection, id: &str) -> Result<Vec<u8>, RecordingError> {
    let exists = connection
        .prepare_cached(EXISTS)
        .and_then(|mut statement| statement.exists([id]))
        .map_err(query)?;
    if !exists {
        return Err(RecordingError::NotFound(id.to_owned()));
    }
    let mut statement = connection.prepare_cached(CHUNKS).map_err(query)?;
    let mut rows = statement.query([id]).map_err(query)?;
    let mut bytes = Vec::new();
    while let Some(row) = rows.next().map_err(query)? {
        let chunk = row
            .get_ref(0)
            .and_then(|value| Ok(value.as_blob()?))
            .map_err(query)?;
        bytes.extend_from_slice(chunk);
    }
    Ok(bytes)
}

fn format_time(at: OffsetDateTime) -> rusqlite::Result<String> {
    at.to_offset(time::UtcOffset::UTC)
        .format(TIME_FORMAT)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn parse_time(id: &str, text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        StoreError::Corrupt(
            "recordings",
            format!("recording `{id}` has an unreadable time `{text}`: {e}"),
        )
    })
}

/// Counts are `u64` in a summary and `INTEGER` (signed) in SQLite; no real count comes near
/// the limit.
fn to_sql_count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn storage(error: StoreError) -> RecordingError {
    RecordingError::Storage(Box::new(error))
}

fn query(error: rusqlite::Error) -> RecordingError {
    storage(StoreError::RecordingQuery(error))
}
