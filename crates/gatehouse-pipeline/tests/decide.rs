//! The pipeline's guarantees, checked with the quickstart policy and an in-memory audit sink:
//! a refusal never yields a Permit, an allow is returned only after its events are stored, a
//! failing audit log refuses the request, and a multi-action request is all or nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_core::DecisionKind;
use gatehouse_core::{
    Action, ConnectionInfo, ConnectionKind, Identity, IdentityKind, SqlKind, SqlStatement,
};
use gatehouse_pipeline::{
    AuditEvent, AuditSink, BoxFuture, ChangeScope, ChangeSync, Decision, Durability, Pipeline,
    PipelineError, SessionContext,
};
use gatehouse_policy::{PolicyEngine, QUICKSTART_POLICY};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
    durabilities: Mutex<Vec<Durability>>,
    broken: bool,
}

impl AuditSink for MemorySink {
    fn record(
        &self,
        events: Vec<AuditEvent>,
        durability: Durability,
    ) -> BoxFuture<'_, Result<i64, String>> {
        Box::pin(async move {
            if self.broken {
                return Err("disk full".to_owned());
            }
            self.durabilities.lock().unwrap().push(durability);
            let mut stored = self.events.lock().unwrap();
            stored.extend(events);
            Ok(stored.len() as i64)
        })
    }

    fn record_deferred(&self, events: Vec<AuditEvent>) -> Result<(), String> {
        self.events.lock().unwrap().extend(events);
        Ok(())
    }
}

fn pipeline(sink: Arc<MemorySink>) -> Pipeline {
    let policy = PolicyEngine::from_sources(
        &[("quickstart.cedar".into(), QUICKSTART_POLICY.into())],
        &gatehouse_policy::PolicySchema::new(&[
            &gatehouse_core::SQL_PROTOCOL,
            &gatehouse_k8s::K8S_PROTOCOL,
            &gatehouse_httpapi::HTTP_PROTOCOL,
            &gatehouse_ssh::SSH_PROTOCOL,
        ])
        .unwrap(),
    )
    .unwrap();
    Pipeline::new(Arc::new(policy), sink)
}

fn session(groups: &[&str]) -> SessionContext {
    SessionContext::new(
        "s-test".into(),
        Identity::new(
            "ana",
            IdentityKind::Human,
            groups.iter().map(|g| g.to_string()).collect(),
        ),
        Arc::new(ConnectionInfo {
            name: "demo".into(),
            kind: ConnectionKind::POSTGRES,
            environment: "dev".into(),
            tags: vec![],
            description: String::new(),
        }),
        "read".into(),
        None,
    )
}

fn sql(kind: SqlKind, text: &str) -> Action {
    Action::of(SqlStatement {
        text: text.into(),
        kind,
        reads: vec![],
        writes: vec![],
        functions: vec![],
        fingerprint: "f".into(),
        reason: None,
        all_rows: false,
        context: None,
        lineage: None,
    })
}

#[tokio::test]
async fn an_allowed_request_is_recorded_before_the_permit_is_returned() {
    let sink = Arc::new(MemorySink::default());
    let decision = pipeline(sink.clone())
        .decide(&session(&["readers"]), &[sql(SqlKind::Select, "SELECT 1")])
        .await
        .unwrap();
    assert!(matches!(decision, Decision::Allow(_)));
    let events = sink.events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].decision, Some(DecisionKind::Allow));
    assert_eq!(events[0].request.as_deref(), Some("SELECT 1"));
    assert_eq!(events[0].policies, ["readers-read"]);
}

#[tokio::test]
async fn the_connect_event_names_the_server_login_level_and_statements_do_not() {
    let sink = Arc::new(MemorySink::default());
    let pipeline = pipeline(sink.clone());
    let session = session(&["readers"]);
    let connect = pipeline.decide(&session, &[Action::Connect]).await.unwrap();
    assert!(matches!(connect, Decision::Allow(_)));
    pipeline
        .decide(&session, &[sql(SqlKind::Select, "SELECT 1")])
        .await
        .unwrap();
    let events = sink.events.lock().unwrap();
    assert_eq!(
        events[0].detail.as_deref(),
        Some("server login level `read`")
    );
    assert_eq!(events[1].detail, None);
}

#[tokio::test]
async fn a_refusal_names_the_action_and_policy_and_is_recorded() {
    let sink = Arc::new(MemorySink::default());
    let decision = pipeline(sink.clone())
        .decide(
            &session(&["readers"]),
            &[sql(SqlKind::Delete, "DELETE FROM t")],
        )
        .await
        .unwrap();
    let Decision::Deny(denial) = decision else {
        panic!("a reader's DELETE must be refused")
    };
    assert_eq!(denial.action, "sql:delete");
    assert_eq!(denial.policy_label(), "default-deny");
    assert!(denial.message.contains("sql:delete") && denial.message.contains("default-deny"));
    assert_eq!(
        sink.events.lock().unwrap()[0].decision,
        Some(DecisionKind::Deny)
    );
}

#[tokio::test]
async fn one_refused_action_refuses_the_whole_request() {
    let sink = Arc::new(MemorySink::default());
    let decision = pipeline(sink.clone())
        .decide(
            &session(&["writers"]),
            &[
                sql(SqlKind::Insert, "INSERT ..."),
                sql(SqlKind::Ddl, "DROP TABLE t"),
                sql(SqlKind::Insert, "INSERT ..."),
            ],
        )
        .await
        .unwrap();
    assert!(matches!(decision, Decision::Deny(ref d) if d.action == "sql:ddl"));
    let events = sink.events.lock().unwrap();
    assert_eq!(events.len(), 2, "decisions stop at the first refusal");
}

#[tokio::test]
async fn an_unavailable_audit_log_refuses_what_policy_allows() {
    let sink = Arc::new(MemorySink {
        broken: true,
        ..Default::default()
    });
    let result = pipeline(sink)
        .decide(&session(&["readers"]), &[sql(SqlKind::Select, "SELECT 1")])
        .await;
    assert!(
        matches!(result, Err(PipelineError::AuditUnavailable(ref reason)) if reason == "disk full")
    );
}

#[tokio::test]
async fn a_refusal_stands_even_when_the_audit_log_is_down() {
    let sink = Arc::new(MemorySink {
        broken: true,
        ..Default::default()
    });
    let result = pipeline(sink)
        .decide(
            &session(&["readers"]),
            &[sql(SqlKind::Delete, "DELETE FROM t")],
        )
        .await;
    assert!(matches!(result, Ok(Decision::Deny(_))));
}

#[tokio::test]
async fn forbid_wins_and_is_named() {
    let sink = Arc::new(MemorySink::default());
    let decision = pipeline(sink)
        .decide(&session(&["admins"]), &[sql(SqlKind::Unknown, "DO $$ $$")])
        .await
        .unwrap();
    let Decision::Deny(denial) = decision else {
        panic!("nobody runs sql:unknown")
    };
    assert_eq!(denial.policy_label(), "nobody-runs-unknown-sql");
}

#[tokio::test]
async fn writes_wait_for_fsync_and_reads_and_refusals_do_not() {
    let sink = Arc::new(MemorySink::default());
    let pipeline = pipeline(sink.clone());
    let writer = session(&["writers"]);
    pipeline
        .decide(&writer, &[sql(SqlKind::Select, "SELECT 1")])
        .await
        .unwrap();
    pipeline
        .decide(&writer, &[sql(SqlKind::Session, "BEGIN")])
        .await
        .unwrap();
    pipeline
        .decide(&writer, &[sql(SqlKind::Insert, "INSERT INTO t VALUES (1)")])
        .await
        .unwrap();
    pipeline
        .decide(&writer, &[sql(SqlKind::Ddl, "DROP TABLE t")])
        .await
        .unwrap();
    assert_eq!(
        *sink.durabilities.lock().unwrap(),
        [
            Durability::Windowed,
            Durability::Windowed,
            Durability::Synced,
            Durability::Windowed
        ],
        "a refused DROP is not forwarded, so it need not wait for fsync"
    );
}

#[tokio::test]
async fn at_commit_an_open_transactions_changes_wait_for_the_next_other_request() {
    let sink = Arc::new(MemorySink::default());
    let pipeline = pipeline(sink.clone()).with_change_sync(ChangeSync::AtCommit);
    let writer = session(&["writers"]);
    let inside = ChangeScope::OpenTransaction;
    for (action, scope) in [
        (sql(SqlKind::Insert, "INSERT INTO t VALUES (1)"), inside),
        (sql(SqlKind::Select, "SELECT * FROM t"), inside),
        (sql(SqlKind::Ddl, "DROP TABLE t"), ChangeScope::Immediate),
        (
            sql(SqlKind::Update, "UPDATE t SET a = 2 WHERE a = 1"),
            inside,
        ),
        (sql(SqlKind::Session, "COMMIT"), ChangeScope::Immediate),
        (sql(SqlKind::Session, "BEGIN"), ChangeScope::Immediate),
        (
            sql(SqlKind::Insert, "INSERT INTO t VALUES (3)"),
            ChangeScope::Immediate,
        ),
    ] {
        pipeline.decide_in(&writer, &[action], scope).await.unwrap();
    }
    assert_eq!(
        *sink.durabilities.lock().unwrap(),
        [
            Durability::Windowed,
            Durability::Windowed,
            Durability::Windowed,
            Durability::Windowed,
            Durability::Synced,
            Durability::Windowed,
            Durability::Synced,
        ],
        "the refused DROP is not forwarded and pays nothing; the COMMIT pays for both \
         changes; once paid, BEGIN waits for nothing; a change in autocommit waits for its own"
    );
    let other = session(&["writers"]);
    pipeline
        .decide_in(
            &other,
            &[sql(SqlKind::Session, "COMMIT")],
            ChangeScope::Immediate,
        )
        .await
        .unwrap();
    assert_eq!(
        sink.durabilities.lock().unwrap().last(),
        Some(&Durability::Windowed),
        "a session owes only for its own changes"
    );
}

#[tokio::test]
async fn each_statement_is_the_default_whatever_the_scope() {
    let sink = Arc::new(MemorySink::default());
    let pipeline = pipeline(sink.clone());
    pipeline
        .decide_in(
            &session(&["writers"]),
            &[sql(SqlKind::Insert, "INSERT INTO t VALUES (1)")],
            ChangeScope::OpenTransaction,
        )
        .await
        .unwrap();
    assert_eq!(*sink.durabilities.lock().unwrap(), [Durability::Synced]);
}

#[tokio::test]
async fn the_permit_names_each_statement_events_seq() {
    let sink = Arc::new(MemorySink::default());
    let pipeline = pipeline(sink.clone());
    let reader = session(&["readers"]);
    pipeline
        .decide(&reader, &[sql(SqlKind::Select, "SELECT 1")])
        .await
        .unwrap();
    let Decision::Allow(permit) = pipeline
        .decide(
            &reader,
            &[
                sql(SqlKind::Select, "SELECT 2"),
                sql(SqlKind::Select, "SELECT 3"),
            ],
        )
        .await
        .unwrap()
    else {
        panic!("readers read")
    };
    assert_eq!(permit.audit_seqs(), 2..=3);
}
