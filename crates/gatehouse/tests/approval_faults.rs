//! Approvals when their store fails: a request that needs an approval is refused while the
//! approval store cannot be written (fail closed, nothing forwarded) and works again without
//! a restart; an approval that disappears while a statement waits for it ends the wait with a
//! clear error, runs nothing, and leaves the session usable.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Gateway, Options, count, items_behind_gateway, message, sqlstate};

/// Run `script` in Python against the gateway's store; waits for its first output line.
fn python_on_store(gateway: &Gateway, script: &str) -> (Child, String) {
    let store = gateway.data_dir().join("gatehouse.db");
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,time\nc=sqlite3.connect({:?}, isolation_level=None)\n{script}",
            store.display().to_string()
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

#[tokio::test]
async fn an_unwritable_approval_store_refuses_held_requests_until_it_recovers() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let client = gateway.connect("wes", &writer).await.unwrap();
    // Another process holds the store's write lock for 7 s, past the 5 s busy timeout.
    let (mut locker, said) = python_on_store(
        &gateway,
        "c.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\ntime.sleep(7)\nc.execute('COMMIT')",
    );
    assert_eq!(said, "locked");
    let error = client
        .simple_query("DELETE FROM items WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error:?}");
    assert!(
        message(&error).contains("approvals could not be checked")
            && message(&error).contains("fails closed"),
        "{error:?}"
    );
    assert_eq!(count(&direct, "items").await, 2, "nothing forwarded");
    locker.wait().unwrap();
    // Recovered, same gateway and session: the statement is held as usual.
    let held = tokio::time::timeout(
        Duration::from_secs(2),
        client.simple_query("DELETE FROM items WHERE id = 1"),
    )
    .await;
    assert!(
        held.is_err(),
        "held again, waiting for an approval: {held:?}"
    );
    assert_eq!(count(&direct, "items").await, 2);
}

#[tokio::test]
async fn an_approval_lost_while_waiting_ends_the_wait_and_runs_nothing() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let client = gateway.connect("wes", &writer).await.unwrap();
    let waiting = tokio::spawn(async move {
        let outcome = client.simple_query("DELETE FROM items WHERE id = 2").await;
        (client, outcome)
    });
    // Wait for the pending approval, then delete it behind the gateway's back.
    let started = Instant::now();
    loop {
        let (mut deleter, said) = python_on_store(
            &gateway,
            "n=c.execute(\"DELETE FROM approvals WHERE state='pending'\").rowcount\nprint(n, flush=True)",
        );
        deleter.wait().unwrap();
        if said == "1" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no pending approval appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (client, outcome) = waiting.await.unwrap();
    let error = outcome.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("55000"), "{error:?}");
    assert!(message(&error).contains("no longer exists"), "{error:?}");
    assert_eq!(count(&direct, "items").await, 2, "nothing forwarded");
    client.simple_query("SELECT 1").await.unwrap();
}
