//! `[audit] fsync_changes = "at-commit"`: the row changes of an open transaction wait for one
//! fsync, before the request that follows them (the `COMMIT`), instead of one each; anything
//! that could take effect before that request still waits for its own. Counted through the
//! gateway's `gatehouse_audit_fsync_waits_total`, against the real PostgreSQL through
//! tokio-postgres, and tested the hard way: a gateway killed inside such a transaction leaves
//! nothing of it committed, and its statements' events survive.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::{Duration, Instant};
use support::raw::{Batch, Raw, command_tags, errors};
use support::{Gateway, Options, TestDb};

fn at_commit() -> Options {
    Options {
        extra: "[audit]\nfsync_changes = \"at-commit\"\n".into(),
        ..Options::default()
    }
}

/// The `items` table behind a gateway started with `options`: the database guard, the
/// gateway, a direct client and a session of `bo` (group `writers`) through the gateway.
async fn writer_through(
    options: Options,
) -> (
    TestDb,
    Gateway,
    tokio_postgres::Client,
    tokio_postgres::Client,
) {
    let (db, gateway, direct) = support::items_behind_gateway(options).await;
    let token = gateway.key("bo", &["writers"]);
    let client = gateway.connect("bo", &token).await.unwrap();
    (db, gateway, direct, client)
}

/// Requests that have waited for their audit events' fsync so far.
async fn fsync_waits(gateway: &Gateway) -> u64 {
    let answer = support::http(&gateway.admin_addr.to_string(), "GET", "/metrics", "", "").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer
        .body
        .lines()
        .find_map(|line| line.strip_prefix("gatehouse_audit_fsync_waits_total "))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Run `statements` one request each and say how many of them waited for an fsync.
async fn waits_for(gateway: &Gateway, client: &tokio_postgres::Client, statements: &[&str]) -> u64 {
    let before = fsync_waits(gateway).await;
    for sql in statements {
        client.simple_query(sql).await.unwrap();
    }
    fsync_waits(gateway).await - before
}

#[tokio::test]
async fn a_transactions_row_changes_wait_for_one_fsync_before_its_commit() {
    let (_db, gateway, direct, client) = writer_through(at_commit()).await;

    assert_eq!(
        waits_for(
            &gateway,
            &client,
            &["INSERT INTO items VALUES (3, 'three')"]
        )
        .await,
        1,
        "a change in autocommit waits for its own fsync"
    );
    assert_eq!(
        waits_for(
            &gateway,
            &client,
            &[
                "BEGIN",
                "INSERT INTO items VALUES (4, 'four')",
                "UPDATE items SET name = 'FOUR' WHERE id = 4",
                "SELECT name FROM items WHERE id = 4",
                "UPDATE items SET name = 'uno' WHERE id = 1",
                "COMMIT",
            ]
        )
        .await,
        1,
        "three changes and a read inside the transaction, one fsync: the COMMIT's"
    );
    assert_eq!(support::count(&direct, "items").await, 4);

    assert_eq!(
        waits_for(
            &gateway,
            &client,
            &[
                "BEGIN",
                "INSERT INTO items VALUES (5, 'five')",
                "UPDATE items SET name = upper(name) WHERE id = 5",
                "INSERT INTO items VALUES (6, 'six')",
                "COMMIT",
            ]
        )
        .await,
        2,
        "a statement that calls a function waits for its own fsync (which covers the change \
         before it), and the COMMIT for the change after it"
    );
    assert_eq!(
        waits_for(
            &gateway,
            &client,
            &["BEGIN", "SELECT count(*) FROM items", "COMMIT"]
        )
        .await,
        0,
        "a transaction that only reads waits for nothing"
    );

    // The extended protocol: tokio-postgres' own transaction, parameters bound.
    let mut client = client;
    let before = fsync_waits(&gateway).await;
    let transaction = client.transaction().await.unwrap();
    for (id, name) in [(7, "seven"), (8, "eight")] {
        transaction
            .execute("INSERT INTO items VALUES ($1, $2)", &[&id, &name])
            .await
            .unwrap();
    }
    transaction.commit().await.unwrap();
    assert_eq!(fsync_waits(&gateway).await - before, 1);
    assert_eq!(support::count(&direct, "items").await, 8);
}

#[tokio::test]
async fn savepoints_and_rollbacks_commit_nothing_and_pay_no_fsync() {
    let (_db, gateway, direct, client) = writer_through(at_commit()).await;
    assert_eq!(
        waits_for(
            &gateway,
            &client,
            &[
                "BEGIN",
                "INSERT INTO items VALUES (3, 'three')",
                "SAVEPOINT before_four",
                "INSERT INTO items VALUES (4, 'four')",
                "ROLLBACK TO SAVEPOINT before_four",
                "RELEASE SAVEPOINT before_four",
                "INSERT INTO items VALUES (5, 'five')",
                "COMMIT",
            ]
        )
        .await,
        1,
        "only the COMMIT makes the changes take effect, and only it waits"
    );
    assert_eq!(support::count(&direct, "items").await, 4);
    assert_eq!(
        waits_for(
            &gateway,
            &client,
            &["BEGIN", "INSERT INTO items VALUES (6, 'six')", "ROLLBACK"]
        )
        .await,
        0,
        "a rolled-back transaction's change never takes effect"
    );
    assert_eq!(support::count(&direct, "items").await, 4);
}

#[tokio::test]
async fn a_change_sent_behind_an_unanswered_commit_waits_for_its_own_fsync() {
    let (_db, gateway, direct, client) = writer_through(at_commit()).await;
    client.simple_query("BEGIN").await.unwrap();
    client
        .simple_query("INSERT INTO items VALUES (3, 'three')")
        .await
        .unwrap();
    let before = fsync_waits(&gateway).await;
    // Pipelined: the INSERT reaches gatehouse while the COMMIT may still be on its way, and
    // runs in autocommit once the COMMIT is done. It must not be taken for part of the
    // transaction.
    let (committed, inserted) = tokio::join!(
        client.simple_query("COMMIT"),
        client.simple_query("INSERT INTO items VALUES (4, 'four')")
    );
    committed.unwrap();
    inserted.unwrap();
    assert_eq!(
        fsync_waits(&gateway).await - before,
        2,
        "the COMMIT pays for the transaction's INSERT, the pipelined INSERT for itself"
    );
    assert_eq!(support::count(&direct, "items").await, 4);
}

#[tokio::test]
async fn a_change_behind_a_commit_in_the_same_extended_batch_waits_for_its_own_fsync() {
    let (_db, gateway, direct) = support::items_behind_gateway(Options {
        postgres_extra: "allow_plaintext = true".into(),
        ..at_commit()
    })
    .await;
    let token = gateway.key("bo", &["writers"]);
    let mut raw = Raw::connect(&gateway, "bo", &token).await;
    for sql in ["BEGIN", "INSERT INTO items VALUES (3, 'three')"] {
        let answers = raw.round_trip(Batch::new().query(sql)).await;
        assert!(errors(&answers).is_empty(), "{sql}: {:?}", errors(&answers));
    }
    let before = fsync_waits(&gateway).await;
    // One batch: the COMMIT ends the transaction, and the INSERT after it runs in the
    // implicit transaction the Sync commits, which passes through gatehouse undecided.
    let answers = raw
        .round_trip(
            Batch::new()
                .parse("", "COMMIT")
                .bind("", "")
                .execute("", 0)
                .parse("", "INSERT INTO items VALUES (4, 'four')")
                .bind("", "")
                .execute("", 0)
                .sync(),
        )
        .await;
    assert!(errors(&answers).is_empty(), "{:?}", errors(&answers));
    assert_eq!(command_tags(&answers), ["COMMIT", "INSERT 0 1"]);
    assert_eq!(
        fsync_waits(&gateway).await - before,
        2,
        "the COMMIT pays for the transaction's INSERT, the INSERT behind it for itself"
    );
    assert_eq!(support::count(&direct, "items").await, 4);
}

#[tokio::test]
async fn each_statement_is_the_default_and_ignores_the_transaction() {
    let (_db, gateway, _direct, client) = writer_through(Options::default()).await;
    assert_eq!(
        waits_for(
            &gateway,
            &client,
            &[
                "BEGIN",
                "INSERT INTO items VALUES (3, 'three')",
                "UPDATE items SET name = 'THREE' WHERE id = 3",
                "COMMIT",
            ]
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_gateway_killed_inside_the_transaction_leaves_none_of_it_committed() {
    let (db, mut gateway, direct, client) = writer_through(at_commit()).await;
    client.simple_query("BEGIN").await.unwrap();
    let before = fsync_waits(&gateway).await;
    client
        .simple_query("INSERT INTO items VALUES (3, 'three')")
        .await
        .unwrap();
    assert_eq!(
        fsync_waits(&gateway).await,
        before,
        "the INSERT went through without waiting for an fsync"
    );

    gateway.kill9();

    // PostgreSQL rolls back the transaction of a connection that went away: the change whose
    // event was not yet fsynced never became a change.
    let started = Instant::now();
    loop {
        let open = direct
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db.name],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if open == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the killed gateway's server session is still there after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(support::count(&direct, "items").await, 2);

    // The event was written before the INSERT was forwarded, and survives the kill.
    let events = gateway.audit_events();
    assert!(
        events
            .iter()
            .any(|e| e["statement"] == "INSERT INTO items VALUES (3, 'three')"),
        "{events:?}"
    );
    gateway.assert_audit_verifies();
}
