//! The minimal append-only audit table and its group-commit writer.
//!
//! Every request's events must be stored before the request is forwarded, so the writer sits
//! on the hot path. One task owns writing: callers hand it their events and wait for the
//! acknowledgement; it drains everything queued meanwhile into one transaction, so many
//! concurrent sessions share a commit instead of queueing for one each.

use crate::StoreError;
use gatehouse_pipeline::{AuditEvent, AuditSink, BoxFuture};
use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

/// Most events committed in one transaction; bounds the latency of the first in a batch.
const MAX_BATCH: usize = 512;
/// Requests that may queue for the writer before callers wait to enqueue (back-pressure).
const QUEUE_DEPTH: usize = 4096;

type Ack = oneshot::Sender<Result<(), String>>;

/// Handle to the audit log. Cloning shares one writer.
#[derive(Clone)]
pub struct AuditLog {
    pool: SqlitePool,
    queue: mpsc::Sender<(Vec<AuditEvent>, Ack)>,
}

/// One stored event, as read back.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
}

impl AuditLog {
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_batches(pool.clone(), inbox));
        AuditLog { pool, queue }
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
}

impl AuditSink for AuditLog {
    fn record(&self, events: Vec<AuditEvent>) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let (ack, done) = oneshot::channel();
            self.queue
                .send((events, ack))
                .await
                .map_err(|_| "the audit writer has stopped".to_owned())?;
            done.await
                .map_err(|_| "the audit writer stopped before confirming".to_owned())?
        })
    }
}

async fn write_batches(pool: SqlitePool, mut inbox: mpsc::Receiver<(Vec<AuditEvent>, Ack)>) {
    let mut batch = Vec::new();
    // The writer keeps one connection of its own: SQLite invalidates a connection's page cache
    // whenever another connection wrote, so alternating pool connections would re-read pages
    // on every commit.
    let mut connection: Option<PoolConnection<Sqlite>> = None;
    while let Some(first) = inbox.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let events: Vec<&AuditEvent> = batch.iter().flat_map(|(events, _)| events.iter()).collect();
        let result = match connection.as_mut() {
            Some(conn) => insert_all(conn, &events).await,
            None => match pool.acquire().await {
                Ok(mut conn) => {
                    let stored = insert_all(&mut conn, &events).await;
                    connection = Some(conn);
                    stored
                }
                Err(error) => Err(error),
            },
        }
        .map_err(|e| e.to_string());
        if let Err(reason) = &result {
            // Start from a fresh connection next time, in case this one is the problem.
            connection = None;
            tracing::error!(%reason, "audit events could not be stored; refusing the requests they describe");
        }
        for (_, ack) in batch.drain(..) {
            // A caller that gave up waiting is not the writer's problem.
            let _ = ack.send(result.clone());
        }
    }
}

/// Events per INSERT statement: 15 bound values each stays well under SQLite's limit of
/// 32766 variables.
const EVENTS_PER_STATEMENT: usize = 1000;

/// Store a batch. One multi-row INSERT is its own transaction, so the usual batch costs one
/// round trip to SQLite's worker thread instead of three (BEGIN, INSERT, COMMIT); a batch too
/// big for one statement is split inside a transaction, so it is still all or nothing.
async fn insert_all(
    connection: &mut SqliteConnection,
    events: &[&AuditEvent],
) -> Result<(), sqlx::Error> {
    match events.len() {
        0 => Ok(()),
        n if n <= EVENTS_PER_STATEMENT => {
            let mut insert = insert_statement(events);
            insert.build().execute(&mut *connection).await.map(|_| ())
        }
        _ => {
            let mut tx = connection.begin().await?;
            for chunk in events.chunks(EVENTS_PER_STATEMENT) {
                let mut insert = insert_statement(chunk);
                insert.build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }
    }
}

fn insert_statement(events: &[&AuditEvent]) -> QueryBuilder<Sqlite> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO audit_events (time_unix_ms, kind, session, subject, identity_kind,
            groups_json, acting_for_json, connection, source_address, action, decision,
            policies_json, statement, fingerprint, detail) ",
    );
    insert.push_values(events.iter().copied(), |mut row, event| {
        row.push_bind(event.time_unix_ms)
            .push_bind(event.kind.as_str())
            .push_bind(event.session.clone())
            .push_bind(event.subject.clone())
            .push_bind(event.identity_kind.clone())
            .push_bind(json_list(&event.groups))
            .push_bind(json_list(&event.acting_for))
            .push_bind(event.connection.clone())
            .push_bind(event.source_address.clone())
            .push_bind(event.action.clone())
            .push_bind(event.decision.clone())
            .push_bind(json_list(&event.policies))
            .push_bind(event.statement.clone())
            .push_bind(event.fingerprint.clone())
            .push_bind(event.detail.clone());
    });
    insert
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
