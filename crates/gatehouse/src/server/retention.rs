//! The recording retention sweep: hourly, delete recordings of sessions that ended more than
//! `[recording] retain_days` ago, and record each deletion in the audit log.

use crate::server::operator::operator_event;
use gatehouse_pipeline::{AuditEventKind, Durability};
use gatehouse_recording::{RecordingStorage, expired};
use gatehouse_store::AuditLog;
use std::sync::Arc;
use std::time::Duration;

const SWEEP_EVERY: Duration = Duration::from_secs(3600);

pub async fn sweep_periodically(
    storage: Arc<dyn RecordingStorage>,
    audit: AuditLog,
    retain_days: u32,
) {
    let process_started = time::OffsetDateTime::now_utc();
    let mut ticker = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticker.tick().await;
        if let Err(error) = sweep(storage.as_ref(), &audit, retain_days, process_started).await {
            tracing::warn!(%error, "recording retention sweep failed; will retry in an hour");
        }
    }
}

/// Delete what is past retention now. Each deletion is recorded before it happens, so a
/// deletion the log does not show did not happen through gatehouse. A recording without an
/// end started by this process (`process_started` or later) may belong to a live session and
/// is kept; one started before is a recording cut short by an earlier run.
pub async fn sweep(
    storage: &dyn RecordingStorage,
    audit: &AuditLog,
    retain_days: u32,
    process_started: time::OffsetDateTime,
) -> Result<usize, String> {
    let summaries: Vec<_> = storage
        .list()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|s| s.ended_at.is_some() || s.started_at < process_started)
        .collect();
    let due = expired(&summaries, time::OffsetDateTime::now_utc(), retain_days);
    for id in &due {
        let mut event = operator_event(
            AuditEventKind::RecordingChange,
            "recordings:delete",
            Some(format!(
                "recording of session {id} deleted: older than the {retain_days}-day retention"
            )),
        );
        let identity = Arc::make_mut(&mut event.identity);
        identity.subject = "gatehouse".to_owned();
        identity.kind = "system".to_owned();
        audit.append(&[event], Durability::Synced).await?;
        storage.delete(id).map_err(|e| e.to_string())?;
    }
    if !due.is_empty() {
        tracing::info!(
            deleted = due.len(),
            retain_days,
            "deleted recordings past retention"
        );
    }
    Ok(due.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use gatehouse_recording::{
        DecisionKind, EventKind, LocalDirStorage, RecordingEvent, RecordingHeader, RecordingWriter,
        Request, SessionEnd,
    };
    use gatehouse_store::{AuditFilter, AuditKey, AuditOptions, DurabilitySettings, Store};

    fn write_recording(storage: &LocalDirStorage, id: &str, days_ago: i64, ended: bool) {
        let header = RecordingHeader {
            session: id.to_owned(),
            subject: "ana".to_owned(),
            connection: "demo".to_owned(),
            started_at: time::OffsetDateTime::now_utc() - time::Duration::days(days_ago),
            gatehouse_version: "test".to_owned(),
        };
        let mut writer = RecordingWriter::new(header).unwrap();
        let kind = if ended {
            EventKind::SessionEnd(SessionEnd {
                reason: "done".to_owned(),
            })
        } else {
            EventKind::Request(Request {
                request: 0,
                action: "sql:select".to_owned(),
                decision: DecisionKind::Allow,
                policies: Vec::new(),
                text: Some("SELECT 1".to_owned()),
                fingerprint: None,
                audit_seq: None,
            })
        };
        assert!(
            writer
                .push(&RecordingEvent { at_us: 1, kind })
                .unwrap()
                .is_none()
        );
        let chunk = writer.flush().unwrap().unwrap();
        storage.append_chunk(id, 0, &chunk.bytes).unwrap();
        if ended {
            let finished = writer.finish().unwrap();
            storage.finish(id, &finished.summary).unwrap();
        }
    }

    /// A store with an audit log and a recordings directory, in a temporary directory.
    async fn fixture() -> (tempfile::TempDir, Store, AuditLog, LocalDirStorage) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("g.db")).await.unwrap();
        let audit = store
            .audit_log(AuditOptions {
                key: AuditKey::load_or_create(&dir.path().join("audit.key")).unwrap(),
                checkpoint_file: None,
                durability: DurabilitySettings::default(),
            })
            .unwrap();
        let storage = LocalDirStorage::new(dir.path().join("recordings"), false).unwrap();
        (dir, store, audit, storage)
    }

    #[tokio::test]
    async fn old_recordings_are_deleted_and_each_deletion_is_audited() {
        let (_dir, _store, audit, storage) = fixture().await;
        write_recording(&storage, "s-old", 40, true);
        write_recording(&storage, "s-new", 1, true);
        write_recording(&storage, "s-cut-short", 40, false);

        let now = time::OffsetDateTime::now_utc();
        let deleted = sweep(&storage, &audit, 30, now).await.unwrap();
        assert_eq!(deleted, 2);
        let left: Vec<String> = storage
            .list()
            .unwrap()
            .into_iter()
            .map(|s| s.session)
            .collect();
        assert_eq!(left, ["s-new"]);
        let events = audit
            .read(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| e.event.action.as_deref() == Some("recordings:delete"))
        );
    }

    #[tokio::test]
    async fn an_unfinished_recording_of_this_process_is_kept() {
        let (_dir, _store, audit, storage) = fixture().await;
        write_recording(&storage, "s-live", 40, false);
        let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(41);
        assert_eq!(sweep(&storage, &audit, 30, long_ago).await.unwrap(), 0);
    }
}
