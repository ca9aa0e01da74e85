//! The store on a real SQLite file: tokens verify only while valid, secrets are kept only as
//! hashes, and the audit table accepts appends but refuses edits and deletions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_core::{IdentityKind, SecretString};
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditSink, AuthError, Authenticator};
use gatehouse_store::{NewKey, Store};
use std::time::Duration;

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("g.db")).await.unwrap();
    (dir, store)
}

fn new_key(ttl: Duration) -> NewKey {
    NewKey {
        subject: "ana".into(),
        kind: IdentityKind::Machine,
        groups: vec!["readers".into()],
        ttl,
    }
}

#[tokio::test]
async fn a_fresh_token_authenticates_as_its_identity() {
    let (_dir, store) = store().await;
    let (record, token) = store
        .create_key(&new_key(Duration::from_secs(60)))
        .await
        .unwrap();
    let identity = store.authenticate(&token).await.unwrap();
    assert_eq!(identity.subject, "ana");
    assert_eq!(identity.kind, IdentityKind::Machine);
    assert_eq!(identity.groups, ["readers"]);
    assert_eq!(record.subject, "ana");
}

#[tokio::test]
async fn wrong_expired_revoked_and_malformed_tokens_are_refused() {
    let (_dir, store) = store().await;
    let (record, token) = store
        .create_key(&new_key(Duration::from_secs(60)))
        .await
        .unwrap();
    let mut forged = token.expose().to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        store.authenticate(&SecretString::new(forged)).await,
        Err(AuthError::Unknown)
    ));
    assert!(matches!(
        store.authenticate(&SecretString::new("hunter2")).await,
        Err(AuthError::Malformed)
    ));

    store.revoke_key(&record.id).await.unwrap();
    assert!(matches!(
        store.authenticate(&token).await,
        Err(AuthError::Revoked)
    ));

    let (_, short) = store
        .create_key(&new_key(Duration::from_secs(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(matches!(
        store.authenticate(&short).await,
        Err(AuthError::Expired)
    ));
}

#[tokio::test]
async fn the_database_file_never_contains_the_secret() {
    let (dir, store) = store().await;
    let (_, token) = store
        .create_key(&new_key(Duration::from_secs(60)))
        .await
        .unwrap();
    store.close().await;
    let secret = token.expose().rsplit('_').next().unwrap().to_owned();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

fn event(statement: &str) -> AuditEvent {
    AuditEvent {
        time_unix_ms: 1,
        kind: AuditEventKind::Statement,
        session: "s-1".into(),
        subject: "ana".into(),
        identity_kind: "human".into(),
        groups: vec!["readers".into()],
        acting_for: vec![],
        connection: "demo".into(),
        source_address: Some("127.0.0.1".into()),
        action: "sql:select".into(),
        decision: "allow".into(),
        policies: vec!["readers-read".into()],
        statement: Some(statement.into()),
        fingerprint: Some("abc".into()),
        detail: None,
    }
}

#[tokio::test]
async fn audit_events_are_appended_in_order_and_cannot_be_edited() {
    let (dir, store) = store().await;
    let log = store.audit_log().unwrap();
    let writers: Vec<_> = (0..20)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move { log.record(vec![event(&format!("SELECT {i}"))]).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    let rows = log.read_after(0, 100).await.unwrap();
    assert_eq!(rows.len(), 20);
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(rows[0].event.policies, ["readers-read"]);

    let db = dir.path().join("g.db");
    for statement in [
        "UPDATE audit_events SET decision = 'deny'",
        "DELETE FROM audit_events",
    ] {
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import sqlite3\nc=sqlite3.connect('{}')\ntry:\n  c.execute(\"{statement}\"); c.commit(); print('changed')\nexcept Exception as e:\n  print('refused', e)",
                db.display()
            ))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("refused") && stdout.contains("append-only"),
            "{statement}: {stdout}"
        );
    }
}

#[tokio::test]
async fn a_request_with_thousands_of_statements_is_stored_whole() {
    let (_dir, store) = store().await;
    let log = store.audit_log().unwrap();
    let events: Vec<AuditEvent> = (0..2500).map(|i| event(&format!("SELECT {i}"))).collect();
    log.record(events).await.unwrap();
    let rows = log.read_after(0, 5000).await.unwrap();
    assert_eq!(rows.len(), 2500);
    assert_eq!(rows[2499].event.statement.as_deref(), Some("SELECT 2499"));
}
