//! A policy can cap the rows a write may change (`@max_rows("N")`), and the cap holds
//! whatever the statement's text says: no reading of `WHERE id = id` tells that it matches
//! every row, so gatehouse counts the rows where they are counted — the server's command tag
//! — and rolls the statement back when there are more than the cap, through psql (simple
//! protocol), tokio-postgres (extended protocol) and inside explicit transactions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::{Gateway, Options, TestDb, message, sqlstate};

const POLICY: &str = r#"
@id("capped-basics")
permit (
  principal in Gatehouse::Group::"capped",
  action in [Gatehouse::Action::"connect", Gatehouse::Action::"sql:session", Gatehouse::Action::"sql:read"],
  resource
);

@id("capped-writes")
@max_rows("3")
permit (
  principal in Gatehouse::Group::"capped",
  action in [Gatehouse::Action::"sql:update", Gatehouse::Action::"sql:delete"],
  resource
);
"#;

async fn setup() -> (
    TestDb,
    Gateway,
    tokio_postgres::Client,
    tokio_postgres::Client,
) {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct
        .batch_execute(
            "CREATE TABLE canary (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
             INSERT INTO canary (id) SELECT generate_series(1, 10);",
        )
        .await
        .unwrap();
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            policy: Some(POLICY.to_owned()),
            ..Default::default()
        },
    );
    let token = gateway.key("cap", &["capped"]);
    let client = gateway.connect("cap", &token).await.unwrap();
    (db, gateway, client, direct)
}

async fn total(direct: &tokio_postgres::Client) -> (i64, i64) {
    let row = direct
        .query_one("SELECT count(*), sum(v) FROM canary", &[])
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn a_write_within_the_cap_runs_and_one_over_it_is_rolled_back() {
    let (_db, gateway, client, direct) = setup().await;

    // Simple protocol, within the cap.
    let changed = client
        .simple_query("UPDATE canary SET v = v + 1 WHERE id <= 2")
        .await
        .unwrap();
    assert!(matches!(
        changed.last(),
        Some(tokio_postgres::SimpleQueryMessage::CommandComplete(2))
    ));
    assert_eq!(total(&direct).await, (10, 2));

    // Every row behind a condition no reading can tell apart: rolled back, clearly.
    let error = client
        .simple_query("UPDATE canary SET v = v + 1 WHERE id = id")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    let text = message(&error);
    assert!(text.contains("changed 10 rows, more than the 3"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(total(&direct).await, (10, 2), "nothing changed");

    // Extended protocol with parameters: the same, and the session goes on.
    let error = client
        .execute("DELETE FROM canary WHERE id > $1", &[&0i32])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    assert_eq!(total(&direct).await, (10, 2));
    let deleted = client
        .execute("DELETE FROM canary WHERE id > $1", &[&8i32])
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    assert_eq!(total(&direct).await.0, 8);

    // RETURNING rows come through a capped statement sent as a simple query.
    let rows = client
        .simple_query("DELETE FROM canary WHERE id <= 1 RETURNING id")
        .await
        .unwrap();
    let returned: Vec<&str> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        })
        .collect();
    assert_eq!(returned, ["1"]);

    // The audit log says what happened to the refused statement.
    let events = gateway.audit_events();
    let refused = events
        .iter()
        .find(|e| {
            e["kind"] == "statement"
                && e["statement"] == "UPDATE canary SET v = v + 1 WHERE id = id"
        })
        .unwrap();
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("at most 3 row")
    );
    let outcome = events
        .iter()
        .find(|e| e["kind"] == "outcome" && e["refers_to"] == refused["seq"])
        .unwrap();
    assert!(
        outcome["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("rolled back"),
        "{outcome}"
    );
}

#[tokio::test]
async fn over_the_cap_inside_a_transaction_fails_the_transaction() {
    let (_db, _gateway, mut client, direct) = setup().await;
    let transaction = client.transaction().await.unwrap();
    transaction
        .execute("UPDATE canary SET v = 5 WHERE id = 1", &[])
        .await
        .unwrap();
    let error = transaction
        .execute("UPDATE canary SET v = 7", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    // The transaction is failed, as after any error: PostgreSQL answers its COMMIT with a
    // rollback.
    transaction.commit().await.unwrap();
    assert_eq!(
        total(&direct).await,
        (10, 0),
        "nothing of the transaction stayed"
    );
}

#[tokio::test]
async fn a_capped_statement_among_others_in_one_message_is_refused() {
    let (_db, _gateway, client, direct) = setup().await;
    let error = client
        .batch_execute("UPDATE canary SET v = 1 WHERE id = 1; UPDATE canary SET v = 1 WHERE id = 2")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    assert!(message(&error).contains("on its own"), "{error}");
    assert_eq!(total(&direct).await, (10, 0));
}
