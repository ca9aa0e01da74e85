//! The audit log on a real SQLite file, attacked the way someone with write access to the
//! store would: triggers dropped, rows edited, deleted, inserted, reordered, the tail cut off.
//! Verification must name the first bad `seq` each time, and pass on an untouched log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, AuditSink, Durability};
use gatehouse_store::{
    AuditFilter, AuditFormat, AuditKey, AuditLog, AuditOptions, Checkpoint, DurabilitySettings,
    Store,
};
use std::path::{Path, PathBuf};

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    log: AuditLog,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = open(dir.path()).await;
        Fixture { dir, store, log }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("g.db")
    }

    fn checkpoint_file(&self) -> PathBuf {
        self.dir.path().join("audit.checkpoint")
    }

    async fn append(&self, count: usize) {
        for i in 0..count {
            self.log
                .record(vec![event(&format!("SELECT {i}"))], Durability::Windowed)
                .await
                .unwrap();
        }
    }

    /// Run SQL as an attacker with write access: triggers dropped first.
    fn tamper(&self, sql: &str) {
        let connection = rusqlite::Connection::open(self.db()).unwrap();
        connection
            .execute_batch(&format!(
                "DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete; {sql}"
            ))
            .unwrap();
    }

    async fn verify(&self) -> gatehouse_store::VerifyReport {
        let checkpoint = Checkpoint::read(&self.checkpoint_file()).unwrap();
        self.log.verify(checkpoint.as_ref()).await.unwrap()
    }
}

async fn open(dir: &Path) -> (Store, AuditLog) {
    let store = Store::open(&dir.join("g.db")).await.unwrap();
    let log = store
        .audit_log(AuditOptions {
            key: AuditKey::load_or_create(&dir.join("audit.key")).unwrap(),
            checkpoint_file: Some(dir.join("audit.checkpoint")),
            durability: DurabilitySettings::default(),
        })
        .unwrap();
    (store, log)
}

fn event(statement: &str) -> AuditEvent {
    AuditEvent {
        time_unix_ms: 1_700_000_000_000,
        kind: AuditEventKind::Request,
        identity: AuditIdentity {
            subject: "ana".into(),
            kind: "human".into(),
            groups: vec!["readers".into()],
        }
        .into(),
        acting_for: vec![],
        session: Some("s-1".into()),
        connection: Some("demo".into()),
        source_address: Some("127.0.0.1".into()),
        action: Some("sql:select".into()),
        decision: Some(gatehouse_core::DecisionKind::Allow),
        policies: vec!["readers-read".into()],
        request: Some(statement.into()),
        fingerprint: Some("abc".into()),
        outcome: None,
        refers_to: None,
        detail: None,
        context: None,
    }
}

fn problem_seq(report: &gatehouse_store::VerifyReport) -> i64 {
    report
        .problem
        .as_ref()
        .unwrap_or_else(|| panic!("tampering went unnoticed: {report:?}"))
        .seq
}

#[tokio::test]
async fn concurrent_appends_form_one_intact_chain() {
    let f = Fixture::new().await;
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let log = f.log.clone();
            tokio::spawn(async move {
                log.record(vec![event(&format!("SELECT {i}"))], Durability::Synced)
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for writer in writers {
        seqs.push(writer.await.unwrap().unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    let report = f.verify().await;
    assert!(report.problem.is_none(), "{report:?}");
    assert_eq!(report.checked, 20);
    let rows = f
        .log
        .read(&AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[0].event.policies, ["readers-read"]);
}

#[tokio::test]
async fn a_request_with_thousands_of_statements_is_stored_whole() {
    let f = Fixture::new().await;
    let events: Vec<AuditEvent> = (0..2500).map(|i| event(&format!("SELECT {i}"))).collect();
    assert_eq!(
        f.log.record(events, Durability::Synced).await.unwrap(),
        2500
    );
    let rows = f
        .log
        .read(&AuditFilter {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2500);
    assert_eq!(rows[2499].event.request.as_deref(), Some("SELECT 2499"));
    assert_eq!(f.verify().await.checked, 2500);
}

#[tokio::test]
async fn the_triggers_refuse_edits_and_deletions() {
    let f = Fixture::new().await;
    f.append(2).await;
    let connection = rusqlite::Connection::open(f.db()).unwrap();
    for statement in ["UPDATE audit_log SET body = '{}'", "DELETE FROM audit_log"] {
        let error = connection.execute(statement, []).unwrap_err().to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
}

#[tokio::test]
async fn an_edited_event_is_named() {
    let f = Fixture::new().await;
    f.append(5).await;
    f.tamper("UPDATE audit_log SET body = replace(body, 'allow', 'deny') WHERE seq = 3");
    assert_eq!(problem_seq(&f.verify().await), 3);
}

#[tokio::test]
async fn an_event_whose_format_column_is_edited_is_named() {
    // The format picks the MAC domain, so passing a format 2 body off as format 1 (whose
    // bodies older readers trust to carry every field) breaks its MAC.
    let f = Fixture::new().await;
    f.append(5).await;
    f.tamper("UPDATE audit_log SET format = 1 WHERE seq = 5");
    let report = f.verify().await;
    assert_eq!(problem_seq(&report), 5);
    f.tamper("UPDATE audit_log SET format = 7 WHERE seq = 5");
    let report = f.verify().await;
    assert!(report.problem.unwrap().reason.contains("format 7"));
}

#[tokio::test]
async fn an_edited_search_column_is_named() {
    let f = Fixture::new().await;
    f.append(5).await;
    f.tamper("UPDATE audit_log SET subject = 'mallory' WHERE seq = 4");
    let report = f.verify().await;
    assert_eq!(problem_seq(&report), 4);
    assert!(report.problem.unwrap().reason.contains("subject"));
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let f = Fixture::new().await;
    f.append(5).await;
    f.tamper("DELETE FROM audit_log WHERE seq = 2");
    assert_eq!(problem_seq(&f.verify().await), 2);
}

#[tokio::test]
async fn deleting_and_renumbering_is_caught() {
    let f = Fixture::new().await;
    f.append(5).await;
    f.tamper(
        "DELETE FROM audit_log WHERE seq = 2; UPDATE audit_log SET seq = seq - 1 WHERE seq > 2",
    );
    assert_eq!(problem_seq(&f.verify().await), 2);
}

#[tokio::test]
async fn an_inserted_event_is_named() {
    let f = Fixture::new().await;
    f.append(5).await;
    // Make room after event 2 and copy a real event (with its real MAC) into the gap.
    f.tamper(
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq > 2;
         UPDATE audit_log SET seq = seq - 999 WHERE seq > 1000;
         INSERT INTO audit_log SELECT 3, time_unix_ms, kind, subject, session, body, mac, format FROM audit_log WHERE seq = 2",
    );
    assert_eq!(problem_seq(&f.verify().await), 3);
}

#[tokio::test]
async fn reordered_events_are_named() {
    let f = Fixture::new().await;
    f.append(5).await;
    f.tamper(
        "UPDATE audit_log SET seq = 100 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = 100;",
    );
    assert_eq!(problem_seq(&f.verify().await), 2);
}

#[tokio::test]
async fn a_truncated_tail_behind_the_checkpoint_is_named() {
    let f = Fixture::new().await;
    f.append(6).await;
    f.log.flush().await.unwrap();
    assert_eq!(
        Checkpoint::read(&f.checkpoint_file()).unwrap().unwrap().seq,
        6
    );
    f.tamper("DELETE FROM audit_log WHERE seq > 4");
    let report = f.verify().await;
    assert_eq!(problem_seq(&report), 5);
    assert!(report.problem.unwrap().reason.contains("checkpoint"));
}

#[tokio::test]
async fn a_log_rewritten_with_a_stolen_chain_end_differs_from_the_checkpoint() {
    let f = Fixture::new().await;
    f.append(3).await;
    f.log.flush().await.unwrap();
    // Replace event 3 with a copy of event 2's body and MAC: the chain from 2 breaks anyway,
    // but even a perfect forgery would differ from the checkpointed MAC.
    f.tamper("UPDATE audit_log SET mac = (SELECT mac FROM audit_log WHERE seq = 2) WHERE seq = 3");
    assert_eq!(problem_seq(&f.verify().await), 3);
}

#[tokio::test]
async fn a_different_key_cannot_extend_the_log() {
    let f = Fixture::new().await;
    f.append(2).await;
    std::fs::write(f.dir.path().join("other.key"), "11".repeat(32)).unwrap();
    let error = f
        .store
        .audit_log(AuditOptions {
            key: AuditKey::load_or_create(&f.dir.path().join("other.key")).unwrap(),
            checkpoint_file: None,
            durability: DurabilitySettings::default(),
        })
        .err()
        .expect("a foreign key must be refused");
    assert!(error.to_string().contains("does not match"), "{error}");
}

#[tokio::test]
async fn a_second_process_extends_the_same_chain() {
    let f = Fixture::new().await;
    f.append(2).await;
    let (_other_store, other_log) = open(f.dir.path()).await;
    other_log
        .record(vec![event("from the CLI")], Durability::Synced)
        .await
        .unwrap();
    f.append(2).await;
    let report = f.verify().await;
    assert!(report.problem.is_none(), "{report:?}");
    assert_eq!(report.checked, 5);
}

/// Two processes appending at once keep taking each other's next `seq`: every commit that
/// lost the race chains its events again after the new end, and none is lost or stored
/// twice. Batches of one, of several rows and of more than one statement's worth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_appending_at_once_keep_one_intact_chain() {
    let f = Fixture::new().await;
    let (_other_store, other_log) = open(f.dir.path()).await;
    let run = |log: AuditLog, who: &'static str| {
        tokio::spawn(async move {
            for round in 0..60 {
                let batch = 1 + round % 11;
                let events = (0..batch)
                    .map(|i| event(&format!("{who} {round} {i}")))
                    .collect();
                log.record(events, Durability::Windowed).await.unwrap();
            }
        })
    };
    let (first, second) = (run(f.log.clone(), "gateway"), run(other_log, "cli"));
    first.await.unwrap();
    second.await.unwrap();
    f.log.flush().await.unwrap();
    let report = f.verify().await;
    assert!(report.problem.is_none(), "{report:?}");
    let per_process: u64 = (0..60).map(|round| 1 + round % 11).sum();
    assert_eq!(report.checked, 2 * per_process);
}

#[tokio::test]
async fn the_key_file_is_private_and_never_printed() {
    let f = Fixture::new().await;
    let path = f.dir.path().join("audit.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
    }
    let key = AuditKey::load_or_create(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!format!("{key:?}").contains(text.trim()));
    assert!(
        AuditKey::from_hex("abc")
            .unwrap_err()
            .to_string()
            .contains("64 hex digits")
    );
}

#[tokio::test]
async fn synced_appends_wait_for_fsync_and_windowed_ones_get_there_soon() {
    let f = Fixture::new().await;
    let seq = f
        .log
        .record(vec![event("SELECT 1")], Durability::Windowed)
        .await
        .unwrap();
    // The window is 10 ms; a flush proves the fsync thread reaches it.
    tokio::time::timeout(std::time::Duration::from_secs(5), f.log.flush())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        Checkpoint::read(&f.checkpoint_file()).unwrap().unwrap().seq,
        seq
    );
}

#[tokio::test]
async fn deferred_events_ride_with_the_next_append_or_arrive_within_the_window() {
    let f = Fixture::new().await;
    f.log.append_deferred(vec![event("outcome 1")]).unwrap();
    let seq = f
        .log
        .record(vec![event("SELECT 2")], Durability::Windowed)
        .await
        .unwrap();
    assert_eq!(seq, 2, "the deferred event took seq 1, in the same commit");
    f.log.append_deferred(vec![event("outcome 2")]).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let rows = f
        .log
        .read(&AuditFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let statements: Vec<_> = rows
        .iter()
        .map(|r| r.event.request.clone().unwrap())
        .collect();
    assert_eq!(statements, ["outcome 1", "SELECT 2", "outcome 2"]);
    assert!(f.verify().await.problem.is_none());
}

#[tokio::test]
async fn a_log_that_cannot_keep_up_refuses_state_changing_requests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("g.db")).await.unwrap();
    let log = store
        .audit_log(AuditOptions {
            key: AuditKey::load_or_create(&dir.path().join("audit.key")).unwrap(),
            checkpoint_file: None,
            durability: DurabilitySettings {
                max_waiting: 0,
                ..DurabilitySettings::default()
            },
        })
        .unwrap();
    let refused = log
        .record(vec![event("INSERT INTO t VALUES (1)")], Durability::Synced)
        .await
        .unwrap_err();
    assert!(refused.contains("cannot keep up"), "{refused}");
    // Reads do not wait for the disk, so they are not refused.
    log.record(vec![event("SELECT 1")], Durability::Windowed)
        .await
        .unwrap();
}

/// A format 1 body as gatehouse wrote it before format 2: every field, SQL names.
fn v1_body(seq: i64) -> String {
    format!(
        r#"{{"time_unix_ms":1700000000000,"kind":"statement","identity":{{"subject":"ana","kind":"human","groups":["readers"]}},"acting_for":[],"session":"s-1","connection":"demo","source_address":"127.0.0.1","action":"sql:select","decision":"allow","policies":["readers-read"],"statement":"SELECT {seq}","fingerprint":"abc","outcome":null,"refers_to":null,"detail":null}}"#
    )
}

/// A format 2 body (compact, protocol-neutral JSON), as gatehouse wrote it before format 3.
fn v2_body(seq: i64) -> String {
    format!(
        r#"{{"time_unix_ms":1700000000000,"kind":"request","identity":{{"subject":"ana","kind":"human","groups":["readers"]}},"session":"s-1","connection":"demo","action":"sql:select","decision":"allow","policies":["readers-read"],"request":"SELECT {seq}","fingerprint":"abc"}}"#
    )
}

impl Fixture {
    /// Append a format 1 event the way an older gatehouse did, chained to the newest row.
    fn append_v1(&self) -> i64 {
        self.append_old(AuditFormat::V1)
    }

    /// Append an event in an older `format` the way the gatehouse of that format did,
    /// chained to the newest row.
    fn append_old(&self, format: AuditFormat) -> i64 {
        let key = AuditKey::load_or_create(&self.dir.path().join("audit.key")).unwrap();
        let connection = rusqlite::Connection::open(self.db()).unwrap();
        let newest: Option<(i64, Vec<u8>)> = connection
            .query_row(
                "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .ok();
        let (seq, previous) = match newest {
            Some((seq, mac)) => (seq + 1, <[u8; 32]>::try_from(mac.as_slice()).unwrap()),
            None => (1, [0u8; 32]),
        };
        let (body, kind) = match format {
            AuditFormat::V1 => (v1_body(seq), "statement"),
            _ => (v2_body(seq), "request"),
        };
        let mac = key.mac(format, &previous, seq, body.as_bytes());
        connection
            .execute(
                "INSERT INTO audit_log (seq, time_unix_ms, kind, subject, session, body, mac, format)
                 VALUES (?1, 1700000000000, ?4, 'ana', 's-1', ?2, ?3, ?5)",
                rusqlite::params![seq, body, mac.as_slice(), kind, format.stored()],
            )
            .unwrap();
        seq
    }
}

#[tokio::test]
async fn a_chain_of_format_1_events_continues_in_the_current_format_and_verifies_whole() {
    let f = Fixture::new().await;
    f.append_v1();
    f.append_v1();
    f.append(2).await;
    let report = f.verify().await;
    assert!(report.problem.is_none(), "{report:?}");
    assert_eq!(report.checked, 4);
    let formats: Vec<i64> = {
        let connection = rusqlite::Connection::open(f.db()).unwrap();
        let mut query = connection
            .prepare("SELECT format FROM audit_log ORDER BY seq")
            .unwrap();
        query
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(formats, [1, 1, 3, 3]);
    // Both formats read into the same protocol-neutral event.
    let rows = f
        .log
        .read(&AuditFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let requests: Vec<_> = rows
        .iter()
        .map(|r| r.event.request.clone().unwrap())
        .collect();
    assert_eq!(requests, ["SELECT 1", "SELECT 2", "SELECT 0", "SELECT 1"]);
    assert_eq!(
        rows[0].event.decision,
        Some(gatehouse_core::DecisionKind::Allow)
    );
}

#[tokio::test]
async fn a_chain_of_format_2_events_continues_in_format_3_and_verifies_whole() {
    let f = Fixture::new().await;
    f.append_old(AuditFormat::V2);
    f.append_old(AuditFormat::V2);
    f.append(2).await;
    let report = f.verify().await;
    assert!(report.problem.is_none(), "{report:?}");
    assert_eq!(report.checked, 4);
    // An edited format 3 body is caught like any other.
    f.tamper("UPDATE audit_log SET body = replace(body, 'allow', 'deny') WHERE seq = 4");
    let report = f.verify().await;
    assert_eq!(report.problem.expect("an edited body").seq, 4);
}

#[tokio::test]
async fn a_format_2_event_after_format_3_ones_is_refused_as_a_downgrade() {
    let f = Fixture::new().await;
    f.append(2).await;
    let seq = f.append_old(AuditFormat::V2);
    assert_eq!(seq, 3);
    let report = f.verify().await;
    let problem = report.problem.expect("a downgrade is a problem");
    assert_eq!(problem.seq, 3);
    assert!(problem.reason.contains("downgrade"), "{}", problem.reason);
}

#[tokio::test]
async fn a_format_1_event_after_format_2_ones_is_refused_as_a_downgrade() {
    let f = Fixture::new().await;
    f.append(3).await;
    let seq = f.append_v1();
    assert_eq!(seq, 4);
    let report = f.verify().await;
    let problem = report.problem.expect("a downgrade is a problem");
    assert_eq!(problem.seq, 4);
    assert!(problem.reason.contains("downgrade"), "{}", problem.reason);
    assert_eq!(report.checked, 3);
}

#[tokio::test]
async fn format_2_bodies_leave_out_empty_fields() {
    let f = Fixture::new().await;
    f.append(1).await;
    let connection = rusqlite::Connection::open(f.db()).unwrap();
    let body: String = connection
        .query_row("SELECT body FROM audit_log WHERE seq = 1", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert!(body.contains(r#""request":"SELECT 0""#), "{body}");
    assert!(!body.contains("null"), "{body}");
    assert!(!body.contains("statement"), "{body}");
    assert!(body.len() < v1_body(1).len(), "{body}");
}
