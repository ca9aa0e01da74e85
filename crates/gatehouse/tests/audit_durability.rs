//! "Recorded before forwarded", tested the hard way: concurrent writers go through gatehouse
//! to a throwaway PostgreSQL that logs every statement it receives (`log_statement = all`);
//! gatehouse is killed with SIGKILL mid-run and started again. Every statement the server's
//! log shows must have its audit event, and `gatehouse audit verify` must pass.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::cluster::Cluster;
use support::{Gateway, Options};

const WRITERS: i32 = 4;

fn connection_to(cluster: &Cluster) -> String {
    format!(
        r#"
[[connections]]
name = "logged"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "postgres"
user = "postgres"
password_env = "LOGGED_PASSWORD"
"#,
        port = cluster.port
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_gateway_loses_no_event_of_any_statement_the_server_received() {
    let cluster = Cluster::start_with(false, &["log_statement=all"]).await;
    cluster
        .admin()
        .await
        .batch_execute("CREATE TABLE t (writer int, n int)")
        .await
        .unwrap();
    let mut gateway = Gateway::start_with(
        "postgres",
        Options {
            extra: connection_to(&cluster),
            env: vec![(
                "LOGGED_PASSWORD".to_owned(),
                cluster.superuser_password.clone(),
            )],
            ..Options::default()
        },
    );
    let token = gateway.key("bo", &["writers"]);

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (client, connection) = gateway
            .client_config("bo", &token, "logged")
            .connect(gateway.tls())
            .await
            .unwrap();
        tokio::spawn(connection);
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            // Runs until the gateway dies under it.
            while client
                .simple_query(&format!("INSERT INTO t VALUES ({writer}, {n})"))
                .await
                .is_ok()
            {
                n += 1;
            }
            n
        }));
    }

    let admin = cluster.admin().await;
    let started = Instant::now();
    loop {
        let rows: i64 = admin
            .query_one("SELECT count(*) FROM t", &[])
            .await
            .unwrap()
            .get(0);
        if rows >= 300 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.kill9();
    let mut acknowledged = 0;
    for writer in writers {
        acknowledged += writer.await.unwrap();
    }
    assert!(
        acknowledged >= 100,
        "only {acknowledged} inserts ran before the kill"
    );

    // Give the server a moment to log whatever was in flight when the gateway died.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received: HashSet<String> = cluster
        .log()
        .lines()
        .filter_map(|line| line.split_once("statement: ").map(|(_, s)| s.to_owned()))
        .filter(|statement| statement.starts_with("INSERT INTO t VALUES"))
        .collect();
    assert!(received.len() >= acknowledged as usize);

    gateway.restart();
    let events = gateway.audit_events();
    let recorded: HashSet<String> = events
        .iter()
        .filter(|e| e["kind"] == "statement" && e["decision"] == "allow")
        .filter_map(|e| e["statement"].as_str().map(str::to_owned))
        .collect();
    let mut unrecorded: Vec<&String> = received.difference(&recorded).collect();
    unrecorded.sort();
    assert!(
        unrecorded.is_empty(),
        "{} of {} statements reached PostgreSQL without an audit event, e.g. {:?}",
        unrecorded.len(),
        received.len(),
        unrecorded.iter().take(5).collect::<Vec<_>>()
    );

    gateway.assert_audit_verifies();
}
