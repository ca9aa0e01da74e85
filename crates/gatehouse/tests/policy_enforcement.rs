//! Every statement through the gateway is decided by the quickstart policy: readers read,
//! writers write, admins change the schema, nobody runs what gatehouse cannot classify — and
//! every refusal leaves the session usable and the database unchanged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::{Gateway, TestDb, count, message, sqlstate};

async fn setup() -> (TestDb, Gateway, tokio_postgres::Client) {
    support::items_behind_gateway(support::Options::default()).await
}

#[tokio::test]
async fn readers_select_and_are_refused_every_write_with_the_session_left_usable() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();

    let rows = client
        .query("SELECT name FROM items ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, String>(0), "one");

    for (sql, action) in [
        ("INSERT INTO items VALUES (3, 'three')", "sql:insert"),
        ("UPDATE items SET name = 'x'", "sql:update"),
        ("DELETE FROM items", "sql:delete"),
        ("DROP TABLE items", "sql:ddl"),
        ("CREATE TABLE other (x int)", "sql:ddl"),
        ("GRANT SELECT ON items TO PUBLIC", "sql:dcl"),
        (
            "WITH gone AS (DELETE FROM items RETURNING *) SELECT * FROM gone",
            "sql:delete",
        ),
        ("SELECT * FROM items FOR UPDATE", "sql:update"),
    ] {
        let error = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{sql}: {error}");
        let text = message(&error);
        assert!(
            text.contains(action),
            "{sql}: message should name {action}: {text}"
        );
        assert!(
            text.contains("default-deny"),
            "{sql}: message should name the deciding policy: {text}"
        );
        // The session is still usable after every refusal.
        let still = client
            .query_one("SELECT count(*) FROM items", &[])
            .await
            .unwrap();
        assert_eq!(still.get::<_, i64>(0), 2);
    }
    assert_eq!(count(&direct, "items").await, 2);
    let names: Vec<String> = direct
        .query("SELECT name FROM items ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        names,
        ["one", "two"],
        "nothing a reader sent changed the data"
    );
}

#[tokio::test]
async fn writers_write_but_cannot_change_the_schema() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("wes", &["writers"]);
    let client = gateway.connect("wes", &token).await.unwrap();
    client
        .batch_execute("INSERT INTO items VALUES (3, 'three')")
        .await
        .unwrap();
    client
        .batch_execute("UPDATE items SET name = 'uno' WHERE id = 1")
        .await
        .unwrap();
    // A writer's DELETE waits for an admin's approval (tests/approvals.rs); an admin's runs.
    let admin = gateway.key("ada", &["admins"]);
    let admin_client = gateway.connect("ada", &admin).await.unwrap();
    admin_client
        .batch_execute("DELETE FROM items WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(count(&direct, "items").await, 2);

    let error = client
        .batch_execute("ALTER TABLE items ADD COLUMN extra int")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"));
    assert!(message(&error).contains("sql:ddl"));
    let columns: i64 = direct
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(columns, 2, "the refused ALTER did not reach the database");
}

#[tokio::test]
async fn admins_change_the_schema_but_nobody_runs_unclassifiable_sql() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("ada", &["admins"]);
    let client = gateway.connect("ada", &token).await.unwrap();
    client
        .batch_execute("CREATE TABLE audit_me (x int)")
        .await
        .unwrap();
    client.batch_execute("DROP TABLE audit_me").await.unwrap();

    let error = client
        .batch_execute("DO $$ BEGIN DELETE FROM items; END $$")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"));
    let text = message(&error);
    assert!(text.contains("sql:unknown"), "{text}");
    assert!(
        text.contains("nobody-runs-unknown-sql"),
        "a forbid names its policy: {text}"
    );
    assert_eq!(count(&direct, "items").await, 2);
}

#[tokio::test]
async fn one_refused_statement_refuses_the_whole_message_before_any_of_it_runs() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("wes", &["writers"]);
    let client = gateway.connect("wes", &token).await.unwrap();
    let error = client
        .simple_query("INSERT INTO items VALUES (10, 'ten'); DROP TABLE items; INSERT INTO items VALUES (11, 'eleven')")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"));
    assert_eq!(
        count(&direct, "items").await,
        2,
        "no statement of the refused message ran"
    );
}

#[tokio::test]
async fn refusal_inside_a_transaction_behaves_like_a_postgres_error() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    client.query("SELECT * FROM items", &[]).await.unwrap();
    let error = client.batch_execute("DELETE FROM items").await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"));
    // Like any error inside a transaction block, the transaction must be rolled back.
    let aborted = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&aborted).as_deref(), Some("25P02"));
    client.batch_execute("ROLLBACK").await.unwrap();
    client.query("SELECT * FROM items", &[]).await.unwrap();
    assert_eq!(count(&direct, "items").await, 2);
}

#[tokio::test]
async fn psql_shows_the_refusal_and_keeps_going() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let (_, out, err) = gateway.psql(
        "ana",
        &token,
        "SELECT count(*) FROM items; DELETE FROM items; SELECT 'still here';",
    );
    // psql sends -c text as one message: the whole message is refused.
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("sql:delete"), "{err}");
    assert!(!out.contains("still here"), "{out}");
    let (ok, out, err) = gateway.psql("ana", &token, "SELECT name FROM items WHERE id = 1");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one");
    assert_eq!(count(&direct, "items").await, 2);
}
