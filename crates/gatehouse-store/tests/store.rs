//! The store on a real SQLite file: tokens verify only while valid and secrets are kept only
//! as hashes. The audit log has its own tests (`audit_chain.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use gatehouse_core::{IdentityKind, SecretString};
use gatehouse_pipeline::{AuthError, Authenticator};
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
    // `gh_<key id>_<secret>`: the secret is base64url and may itself contain `_`.
    let secret = token.expose().splitn(3, '_').nth(2).unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}
