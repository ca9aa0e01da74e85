//! Time-boxed access grants through the data path: a reader asks for `writers` rights on
//! `demo` for a few seconds; once an admin approves, the reader's already open session may
//! write; when the grant expires the same session is downgraded (its next write is refused,
//! reads go on) and new sessions get no more than the reader's own rights.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};
use support::{Options, count, items_behind_gateway, message, sqlstate};

#[tokio::test]
async fn a_grant_adds_rights_to_live_sessions_until_it_expires() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let reader = gateway.key("rae", &["readers"]);
    let admin = gateway.key("ada", &["admins"]);
    let session = gateway.connect("rae", &reader).await.unwrap();
    let insert = "INSERT INTO items VALUES (10, 'ten')";
    let error = session.batch_execute(insert).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"));

    let requested = gateway.cli_as(
        &reader,
        &[
            "access",
            "request",
            "demo",
            "--group",
            "writers",
            "--for",
            "4s",
            "--reason",
            "fix order 1234",
            "--output",
            "json",
        ],
    );
    assert!(
        requested.status.success(),
        "{}",
        String::from_utf8_lossy(&requested.stderr)
    );
    let requested: serde_json::Value = serde_json::from_slice(&requested.stdout).unwrap();
    let id = requested["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(requested["status"], "pending");
    // Nobody grants themselves rights.
    assert!(
        !gateway
            .cli_as(&reader, &["approvals", "approve", &id])
            .status
            .success()
    );
    assert!(
        session.batch_execute(insert).await.is_err(),
        "not before approval"
    );

    let approved = gateway.cli_as(&admin, &["approvals", "approve", &id]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let granted_at = Instant::now();
    // The open session gains the rights (lookups are cached for at most a second).
    loop {
        match session.batch_execute(insert).await {
            Ok(()) => break,
            Err(error) => {
                assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error:?}");
                assert!(
                    granted_at.elapsed() < Duration::from_secs(3),
                    "the grant never took effect"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_eq!(count(&direct, "items").await, 3);
    // A fresh session has them too, while the grant lasts.
    let other = gateway.connect("rae", &reader).await.unwrap();
    other
        .batch_execute("UPDATE items SET name = 'ten!' WHERE id = 10")
        .await
        .unwrap();

    // Expired: the same live session is downgraded — writes refused, reads go on.
    tokio::time::sleep(
        Duration::from_secs(4).saturating_sub(granted_at.elapsed()) + Duration::from_millis(300),
    )
    .await;
    let error = session
        .batch_execute("INSERT INTO items VALUES (11, 'eleven')")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"));
    assert!(message(&error).contains("sql:insert"), "{error:?}");
    session.batch_execute("SELECT 1").await.unwrap();
    assert!(other.batch_execute(insert).await.is_err());
    assert_eq!(count(&direct, "items").await, 3);

    let events = gateway.audit_events();
    let granted_insert = events
        .iter()
        .find(|e| e["statement"] == insert && e["decision"] == "allow")
        .expect("the granted insert is recorded");
    assert!(
        granted_insert["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("writers (approval {id})")),
        "{granted_insert}"
    );
    assert!(events.iter().any(|e| e["action"] == "access:request"));
}

#[tokio::test]
async fn requests_beyond_the_configured_maximum_are_refused() {
    let (_db, gateway, _direct) = items_behind_gateway(Options {
        extra: "[access]\nmax_duration = \"1h\"\n".to_owned(),
        ..Options::default()
    })
    .await;
    let reader = gateway.key("rae", &["readers"]);
    let output = gateway.cli_as(
        &reader,
        &[
            "access", "request", "demo", "--group", "writers", "--for", "2h", "--reason", "x",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("max_duration") && stderr.contains("1h"),
        "{stderr}"
    );
    let output = gateway.cli_as(
        &reader,
        &[
            "access", "request", "nowhere", "--group", "writers", "--for", "1m", "--reason", "x",
        ],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no connection `nowhere`"));
    let output = gateway.cli_as(
        "gh_forged_token",
        &[
            "access", "request", "demo", "--group", "admins", "--for", "1m", "--reason", "x",
        ],
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("token was refused"));
}
