//! The hash-chained, append-only audit log: appending (with the durability each request
//! needs), reading, checkpointing.
//!
//! Every request's events must be stored before the request is forwarded, so appending sits
//! on the hot path of every statement. Commits happen synchronously on a calling thread,
//! through one SQLite connection of the log's own (rusqlite, linked against the same SQLite
//! as sqlx), grouped across concurrent sessions ([`crate::writer`]): a commit in WAL mode
//! without fsync is a few microseconds of work, while handing each event to a dedicated
//! thread and back cost more than everything else gatehouse does per statement (see
//! BENCHMARKS.md). Making commits durable is [`crate::durability`]'s job.

use crate::StoreError;
use crate::chain::{AuditFormat, AuditKey, GENESIS_MAC};
use crate::checkpoint::Checkpoint;
use crate::durability::{DurabilitySettings, Syncer};
use crate::store_file::{FollowingConnection, StoreFile, WAL_PRAGMAS};
use crate::wal::WalKeeper;
use crate::writer::{Link, Writer, to_mac};
use gatehouse_pipeline::{AuditEvent, AuditSink, BoxFuture, Durability};
use rusqlite::OptionalExtension;
use serde::Serialize;
use sqlx::{Row, SqlitePool};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Deferred events queued beyond which they are committed at once.
const MAX_DEFERRED: usize = 1024;

/// How the audit log is keyed, checkpointed and made durable.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub key: AuditKey,
    /// Where checkpoints are written (outside the store); `None` writes none.
    pub checkpoint_file: Option<PathBuf>,
    pub durability: DurabilitySettings,
}

/// Handle to the audit log. Cloning shares one writer connection, one fsync thread and one
/// WAL checkpoint thread.
#[derive(Clone)]
pub struct AuditLog {
    pool: SqlitePool,
    writer: Arc<Writer>,
    syncer: Arc<Syncer>,
    key: AuditKey,
    checkpoint_file: Option<PathBuf>,
    /// Held for its `Drop`: the WAL checkpoint thread stops with the last handle.
    _wal_keeper: Arc<WalKeeper>,
}

/// One stored event as read back: its place in the chain and what it says.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The chain MAC, hex.
    pub mac: String,
}

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only events with a greater `seq`.
    pub after_seq: i64,
    /// Only events at or after this time.
    pub since_unix_ms: Option<i64>,
    /// Only events whose identity's subject is this.
    pub subject: Option<String>,
    pub limit: i64,
    /// Read the newest events first (for "the last N events").
    pub newest_first: bool,
}

/// One event's raw stored form, as the verifier needs it.
pub(crate) struct RawEvent {
    pub seq: i64,
    pub time_unix_ms: i64,
    pub kind: String,
    pub subject: String,
    pub session: Option<String>,
    pub body: String,
    pub mac: Vec<u8>,
    /// `audit_log.format`: how `body` is encoded and which MAC domain covers it.
    pub format: i64,
}

impl AuditLog {
    pub(crate) fn open(
        store: &Arc<StoreFile>,
        pool: SqlitePool,
        options: AuditOptions,
        max_wal_bytes: u64,
    ) -> Result<Self, StoreError> {
        let path = store.path();
        // The writer is the one that finds out when a failed volume works again.
        let mut following = FollowingConnection::open(store, prepare_writer, true)
            .map_err(|e| StoreError::Open(path.display().to_string(), e))?;
        let current = following
            .current()
            .map_err(|e| StoreError::Open(path.display().to_string(), e))?;
        check_key_matches(current.connection, &options.key)?;
        let link = Link::new(following, options.checkpoint_file.clone());
        let syncer = Arc::new(
            Syncer::start(path, options.durability)
                .map_err(|e| StoreError::Open(path.display().to_string(), e.to_string()))?,
        );
        let writer = Arc::new(Writer::new(link));
        let wal_keeper = WalKeeper::start(
            store,
            Arc::downgrade(&writer),
            Arc::downgrade(&syncer),
            options.key.clone(),
            max_wal_bytes,
        )
        .map_err(|e| StoreError::Open(path.display().to_string(), e))?;
        let log = AuditLog {
            pool,
            writer,
            syncer,
            key: options.key,
            checkpoint_file: options.checkpoint_file,
            _wal_keeper: Arc::new(wal_keeper),
        };
        if log.checkpoint_file.is_some() {
            tokio::spawn(write_checkpoints_periodically(log.clone()));
        }
        tokio::spawn(flush_deferred(
            log.writer.clone(),
            Arc::downgrade(&log.syncer),
            log.key.clone(),
            options.durability.window,
        ));
        Ok(log)
    }

    /// Append events, all or nothing, and wait as `durability` asks. Returns the last `seq`.
    pub async fn append(
        &self,
        events: &[AuditEvent],
        durability: Durability,
    ) -> Result<i64, String> {
        self.append_owned(events.to_vec(), durability).await
    }

    async fn append_owned(
        &self,
        events: Vec<AuditEvent>,
        durability: Durability,
    ) -> Result<i64, String> {
        let (reply, committed) = tokio::sync::oneshot::channel();
        self.writer.submit(events, Some(reply));
        self.drive();
        let last_seq = committed
            .await
            .map_err(|_| "the audit writer stopped before storing the events".to_owned())??;
        if durability == Durability::Synced {
            self.syncer.committed(last_seq, true);
            self.syncer.wait_synced(last_seq).await?;
        }
        Ok(last_seq)
    }

    /// Store `events` soon without waiting: with the next `append` (in its transaction) or
    /// within the durability window, whichever comes first. Too many queued are stored now.
    pub fn append_deferred(&self, events: Vec<AuditEvent>) -> Result<(), String> {
        if self.writer.submit(events, None) >= MAX_DEFERRED {
            self.drive();
        }
        Ok(())
    }

    /// Commit what is queued (unless another caller already is) and tell the fsync thread.
    fn drive(&self) {
        if let Some(seq) = self.writer.drive(&self.key) {
            self.syncer.committed(seq, false);
        }
    }

    /// Make everything written so far durable and write a checkpoint: for shutdown and for
    /// short-lived commands.
    pub async fn flush(&self) -> Result<(), StoreError> {
        if let Some(seq) = self.writer.drive_to_empty(&self.key) {
            self.syncer.committed(seq, false);
        }
        let newest = self.newest().await?;
        if let Some((seq, _)) = newest {
            self.syncer.committed(seq, true);
            self.syncer
                .wait_synced(seq)
                .await
                .map_err(StoreError::Audit)?;
        }
        self.write_checkpoint().await
    }

    /// Refuse to extend a log whose newest events were deleted: its end must reach the
    /// checkpoint, with the checkpointed MAC at that seq. (New events would otherwise reuse
    /// the deleted seqs.) For the gateway at start.
    pub async fn ensure_reaches_checkpoint(&self) -> Result<(), StoreError> {
        let Some(path) = &self.checkpoint_file else {
            return Ok(());
        };
        let Some(checkpoint) = Checkpoint::read(path)? else {
            return Ok(());
        };
        let mac: Option<Vec<u8>> = sqlx::query_scalar("SELECT mac FROM audit_log WHERE seq = ?")
            .bind(checkpoint.seq)
            .fetch_optional(&self.pool)
            .await?;
        if checkpoint.is_reached_by(mac.as_deref()) {
            Ok(())
        } else {
            Err(StoreError::Audit(not_reaching_checkpoint(
                checkpoint.seq,
                path,
            )))
        }
    }

    /// Events matching `filter`, oldest first (newest first if the filter says so).
    pub async fn read(&self, filter: &AuditFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = if filter.newest_first {
            "SELECT seq, body, mac FROM audit_log
             WHERE seq > ?1 AND (?2 IS NULL OR time_unix_ms >= ?2) AND (?3 IS NULL OR subject = ?3)
             ORDER BY seq DESC LIMIT ?4"
        } else {
            "SELECT seq, body, mac FROM audit_log
             WHERE seq > ?1 AND (?2 IS NULL OR time_unix_ms >= ?2) AND (?3 IS NULL OR subject = ?3)
             ORDER BY seq LIMIT ?4"
        };
        let rows = sqlx::query(sql)
            .bind(filter.after_seq)
            .bind(filter.since_unix_ms)
            .bind(filter.subject.as_deref())
            .bind(filter.limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get("seq")?;
                let body: String = row.try_get("body")?;
                let mac: Vec<u8> = row.try_get("mac")?;
                let event = serde_json::from_str(&body).map_err(|e| {
                    StoreError::Corrupt("audit_log.body", format!("seq {seq}: {e}"))
                })?;
                Ok(StoredEvent {
                    seq,
                    event,
                    mac: hex::encode(mac),
                })
            })
            .collect()
    }

    /// Raw events with `seq > after`, oldest first, for verification.
    pub(crate) async fn read_raw(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RawEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, time_unix_ms, kind, subject, session, body, mac, format FROM audit_log
             WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RawEvent {
                    seq: row.try_get("seq")?,
                    time_unix_ms: row.try_get("time_unix_ms")?,
                    kind: row.try_get("kind")?,
                    subject: row.try_get("subject")?,
                    session: row.try_get("session")?,
                    body: row.try_get("body")?,
                    mac: row.try_get("mac")?,
                    format: row.try_get("format")?,
                })
            })
            .collect()
    }

    pub(crate) fn key(&self) -> &AuditKey {
        &self.key
    }

    /// The checkpoint file this log writes, if any.
    pub fn checkpoint_file(&self) -> Option<&Path> {
        self.checkpoint_file.as_deref()
    }

    async fn newest(&self) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| Ok((row.try_get("seq")?, row.try_get("mac")?)))
            .transpose()
    }

    /// Write a checkpoint for the newest fsynced event, unless the file already names a
    /// newer one (another process sharing the store may have written it).
    async fn write_checkpoint(&self) -> Result<(), StoreError> {
        let Some(path) = self.checkpoint_file.clone() else {
            return Ok(());
        };
        let synced = self.syncer.synced();
        if synced == 0 {
            return Ok(());
        }
        let mac: Option<Vec<u8>> = sqlx::query_scalar("SELECT mac FROM audit_log WHERE seq = ?")
            .bind(synced)
            .fetch_optional(&self.pool)
            .await?;
        let Some(mac) = mac else {
            return Ok(());
        };
        let checkpoint = Checkpoint {
            seq: synced,
            mac: hex::encode(mac),
            time_unix_ms: gatehouse_pipeline::now_unix_ms(),
        };
        tokio::task::spawn_blocking(move || {
            let newer_exists = Checkpoint::read(&path)
                .ok()
                .flatten()
                .is_some_and(|existing| existing.seq >= checkpoint.seq);
            if newer_exists {
                Ok(())
            } else {
                checkpoint.write(&path)
            }
        })
        .await
        .map_err(|e| StoreError::Audit(e.to_string()))?
    }
}

impl AuditSink for AuditLog {
    fn record(
        &self,
        events: Vec<AuditEvent>,
        durability: Durability,
    ) -> BoxFuture<'_, Result<i64, String>> {
        Box::pin(async move { self.append_owned(events, durability).await })
    }

    fn record_deferred(&self, events: Vec<AuditEvent>) -> Result<(), String> {
        self.append_deferred(events)
    }
}

/// Refuse to extend a chain written with another key: the newest event's MAC must verify.
fn check_key_matches(connection: &rusqlite::Connection, key: &AuditKey) -> Result<(), StoreError> {
    let mut newest_two = connection
        .prepare("SELECT seq, body, mac, format FROM audit_log ORDER BY seq DESC LIMIT 2")
        .map_err(|e| StoreError::Audit(e.to_string()))?;
    let rows: Vec<(i64, String, Vec<u8>, i64)> = newest_two
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| StoreError::Audit(e.to_string()))?;
    let Some((seq, body, mac, format)) = rows.first() else {
        return Ok(());
    };
    let previous = match rows.get(1) {
        Some((_, _, previous, _)) => to_mac(previous),
        None => GENESIS_MAC,
    };
    let verifies = AuditFormat::from_stored(*format).is_some_and(|format| {
        crate::chain::macs_equal(&key.mac(format, &previous, *seq, body.as_bytes()), mac)
    });
    if verifies {
        Ok(())
    } else {
        Err(StoreError::Audit(format!(
            "the audit key does not match the log: event {seq} does not verify with it; use the key the log was written with (`[audit] key_file`), or run `gatehouse audit verify` to see whether the log was altered"
        )))
    }
}

fn prepare_writer(connection: &rusqlite::Connection) -> rusqlite::Result<()> {
    connection.execute_batch(WAL_PRAGMAS)?;
    connection.set_prepared_statement_cache_capacity(4);
    Ok(())
}

fn not_reaching_checkpoint(seq: i64, checkpoint_file: &Path) -> String {
    format!(
        "the audit log does not reach its checkpoint (seq {seq} in `{}`): its newest events were deleted or rewritten. \
         Run `gatehouse audit verify` to see where; to accept the log as it is, move the checkpoint file aside and start again",
        checkpoint_file.display()
    )
}

/// What the writer checks of a store it opened again while running: the same audit key as
/// the one it was started with, and a log that reaches the checkpoint (as
/// [`AuditLog::ensure_reaches_checkpoint`] does at start).
pub(crate) fn check_reopened(
    connection: &rusqlite::Connection,
    key: &AuditKey,
    checkpoint_file: Option<&Path>,
) -> Result<(), String> {
    check_key_matches(connection, key).map_err(|e| e.to_string())?;
    let Some(path) = checkpoint_file else {
        return Ok(());
    };
    let Some(checkpoint) = Checkpoint::read(path).map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let mac: Option<Vec<u8>> = connection
        .query_row(
            "SELECT mac FROM audit_log WHERE seq = ?1",
            [checkpoint.seq],
            |row| row.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    if checkpoint.is_reached_by(mac.as_deref()) {
        Ok(())
    } else {
        Err(not_reaching_checkpoint(checkpoint.seq, path))
    }
}

/// Commit deferred events that no `append` carried within `window`. Ends once the log is
/// gone (or with the runtime).
async fn flush_deferred(
    writer: Arc<Writer>,
    syncer: std::sync::Weak<Syncer>,
    key: AuditKey,
    window: Duration,
) {
    loop {
        writer.deferred_waiting.notified().await;
        tokio::time::sleep(window).await;
        let Some(syncer) = syncer.upgrade() else {
            return;
        };
        if writer.has_queued()
            && let Some(seq) = writer.drive(&key)
        {
            syncer.committed(seq, false);
        }
    }
}

/// How often the audit checkpoint file is brought up to date.
const AUDIT_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

async fn write_checkpoints_periodically(log: AuditLog) {
    let mut ticker = tokio::time::interval(AUDIT_CHECKPOINT_EVERY);
    let mut written = 0;
    loop {
        ticker.tick().await;
        if log.pool.is_closed() {
            return;
        }
        let synced = log.syncer.synced();
        if synced == written {
            continue;
        }
        match log.write_checkpoint().await {
            Ok(()) => written = synced,
            Err(error) if !log.pool.is_closed() => {
                tracing::warn!(%error, "audit checkpoint could not be written; will retry");
            }
            Err(_) => return,
        }
    }
}
