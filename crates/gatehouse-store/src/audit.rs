//! The minimal append-only audit table and its writer.
//!
//! Every request's events must be stored before the request is forwarded, so the writer sits
//! on the hot path of every statement. It writes synchronously, on the calling thread,
//! through one SQLite connection of its own (rusqlite, linked against the same SQLite as
//! sqlx): a commit in WAL mode without fsync is a few microseconds of work, while handing each
//! event to sqlx's worker thread and back cost more than everything else gatehouse does per
//! statement (see BENCHMARKS.md). The connection's page cache stays warm because no other
//! connection writes this table. Reads go through the sqlx pool.

use crate::StoreError;
use gatehouse_pipeline::{AuditEvent, AuditSink, BoxFuture};
use serde::Serialize;
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const INSERT: &str =
    "INSERT INTO audit_events (time_unix_ms, kind, session, subject, identity_kind,
    groups_json, acting_for_json, connection, source_address, action, decision,
    policies_json, statement, fingerprint, detail)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Handle to the audit log. Cloning shares one writer connection.
#[derive(Clone)]
pub struct AuditLog {
    pool: SqlitePool,
    writer: Arc<Mutex<rusqlite::Connection>>,
}

/// One stored event, as read back.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
}

impl AuditLog {
    pub(crate) fn open(path: &Path, pool: SqlitePool) -> Result<Self, StoreError> {
        let open_error =
            |e: rusqlite::Error| StoreError::Open(path.display().to_string(), e.to_string());
        let connection = rusqlite::Connection::open(path).map_err(open_error)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(open_error)?;
        // Same durability as the rest of the store: WAL, a commit survives the process being
        // killed (it is in the OS page cache), only an OS crash can lose the last ones.
        // Checkpoints fsync (milliseconds here) and would run inside whichever commit crosses
        // the WAL size threshold, stalling that statement; they run in the background instead.
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
            )
            .map_err(open_error)?;
        tokio::spawn(checkpoint_periodically(pool.clone()));
        connection.set_prepared_statement_cache_capacity(4);
        Ok(AuditLog {
            pool,
            writer: Arc::new(Mutex::new(connection)),
        })
    }

    /// Events with `seq` greater than `after`, oldest first, at most `limit`.
    pub async fn read_after(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_event).collect()
    }

    /// Store events, all or nothing, before returning.
    fn write(&self, events: &[AuditEvent]) -> Result<(), String> {
        if events.is_empty() {
            return Ok(());
        }
        let mut connection = self
            .writer
            .lock()
            .map_err(|_| "the audit writer failed earlier and is unusable".to_owned())?;
        let result = insert_all(&mut connection, events);
        if let Err(reason) = &result {
            tracing::error!(%reason, "audit events could not be stored; refusing the requests they describe");
        }
        result.map_err(|e| e.to_string())
    }
}

impl AuditSink for AuditLog {
    fn record(&self, events: Vec<AuditEvent>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(self.write(&events)))
    }
}

/// How often the WAL is folded back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Fold the WAL into the database file every second, off the request path (on sqlx's worker
/// thread), until the store is closed.
async fn checkpoint_periodically(pool: SqlitePool) {
    let mut ticker = tokio::time::interval(CHECKPOINT_EVERY);
    loop {
        ticker.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(%error, "WAL checkpoint failed; will retry");
        }
    }
}

fn insert_all(
    connection: &mut rusqlite::Connection,
    events: &[AuditEvent],
) -> rusqlite::Result<()> {
    if let [event] = events {
        // A single statement is its own transaction.
        return insert(connection, event);
    }
    let transaction = connection.transaction()?;
    for event in events {
        insert(&transaction, event)?;
    }
    transaction.commit()
}

fn insert(connection: &rusqlite::Connection, event: &AuditEvent) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(INSERT)?;
    statement.execute(rusqlite::params![
        event.time_unix_ms,
        event.kind.as_str(),
        event.session,
        event.subject,
        event.identity_kind,
        json_list(&event.groups),
        json_list(&event.acting_for),
        event.connection,
        event.source_address,
        event.action,
        event.decision,
        json_list(&event.policies),
        event.statement,
        event.fingerprint,
        event.detail,
    ])?;
    Ok(())
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn row_to_event(row: &sqlx::sqlite::SqliteRow) -> Result<AuditRow, StoreError> {
    let list = |column: &'static str| -> Result<Vec<String>, StoreError> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(column, e.to_string()))
    };
    let kind: String = row.try_get("kind")?;
    let kind = match kind.as_str() {
        "connect" => gatehouse_pipeline::AuditEventKind::Connect,
        "disconnect" => gatehouse_pipeline::AuditEventKind::Disconnect,
        "statement" => gatehouse_pipeline::AuditEventKind::Statement,
        other => return Err(StoreError::Corrupt("audit_events.kind", other.to_owned())),
    };
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        event: AuditEvent {
            time_unix_ms: row.try_get("time_unix_ms")?,
            kind,
            session: row.try_get("session")?,
            subject: row.try_get("subject")?,
            identity_kind: row.try_get("identity_kind")?,
            groups: list("groups_json")?,
            acting_for: list("acting_for_json")?,
            connection: row.try_get("connection")?,
            source_address: row.try_get("source_address")?,
            action: row.try_get("action")?,
            decision: row.try_get("decision")?,
            policies: list("policies_json")?,
            statement: row.try_get("statement")?,
            fingerprint: row.try_get("fingerprint")?,
            detail: row.try_get("detail")?,
        },
    })
}
