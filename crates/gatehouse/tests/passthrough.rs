//! What the server says on its own initiative reaches the client unchanged: notifications
//! (LISTEN/NOTIFY), notices, and parameter status changes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use futures_util::StreamExt;
use std::time::Duration;
use support::{Gateway, TestDb};
use tokio_postgres::AsyncMessage;

/// Connect and hand back the client plus a channel of the connection's async messages.
async fn connect_with_messages(
    gateway: &Gateway,
    user: &str,
    token: &str,
) -> (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<AsyncMessage>,
) {
    let (client, mut connection) = gateway
        .client_config(user, token, "demo")
        .connect(gateway.tls())
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            let _ = tx.send(message);
        }
    });
    (client, rx)
}

#[tokio::test]
async fn notifications_and_notices_pass_through() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let reader = gateway.key("ana", &["readers"]);
    let (client, mut messages) = connect_with_messages(&gateway, "ana", &reader).await;
    client
        .batch_execute("LISTEN gatehouse_events")
        .await
        .unwrap();

    let direct = db.direct().await;
    direct
        .batch_execute("NOTIFY gatehouse_events, 'hello'")
        .await
        .unwrap();
    let notification = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            // The notification arrives with the next message the server sends us.
            client.simple_query("SELECT 1").await.unwrap();
            match tokio::time::timeout(Duration::from_millis(200), messages.recv()).await {
                Ok(Some(AsyncMessage::Notification(n))) => return n,
                _ => continue,
            }
        }
    })
    .await
    .expect("the notification reached the client");
    assert_eq!(notification.channel(), "gatehouse_events");
    assert_eq!(notification.payload(), "hello");

    let admin = gateway.key("ada", &["admins"]);
    let (admin_client, mut admin_messages) = connect_with_messages(&gateway, "ada", &admin).await;
    admin_client
        .batch_execute("DROP TABLE IF EXISTS no_such_table")
        .await
        .unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(5), admin_messages.recv())
        .await
        .unwrap()
        .unwrap();
    let AsyncMessage::Notice(notice) = notice else {
        panic!("expected a notice")
    };
    assert!(
        notice.message().contains("does not exist, skipping"),
        "{}",
        notice.message()
    );
}

#[test]
fn parameter_status_changes_reach_psql() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::create());
    let gateway = Gateway::start(&db.name);
    let token = gateway.key("ana", &["readers"]);
    // psql's \encoding prints what the last ParameterStatus for client_encoding said.
    let conninfo = gateway.psql_conninfo("ana", "demo");
    let output = std::process::Command::new("psql")
        .arg(conninfo)
        .args([
            "-X",
            "-c",
            "SET client_encoding = 'LATIN1'",
            "-c",
            "\\encoding",
        ])
        .env("PGPASSWORD", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("LATIN1"), "{stdout}");
}
