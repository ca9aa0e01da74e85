//! The extended query protocol through the gateway: statements are classified at `Parse` but
//! decided at `Execute` (so preparing anything succeeds and running it is what policy
//! decides), a refusal inside a pipelined Sync unit rolls back everything before it, and the
//! server never runs a statement or portal other than the one gatehouse decided — not after a
//! named statement is replaced in a Sync unit the server skipped, not for the unnamed
//! statement after a server error (even one the client waited for before re-parsing), not
//! for a statement planted with SQL `PREPARE` under a name the gateway generates (server
//! errors reveal those names), not for a portal the client never bound, and not through the
//! fast-path function call interface. Legitimate uses (a prepared statement run many
//! times, the unnamed statement described and then executed in the next Sync, suspended
//! portals) keep working.
//!
//! The raw-protocol tests speak the wire protocol themselves over plain TCP on loopback (the
//! gateway is started with `allow_plaintext = true`), so they can send exactly the message
//! sequences a driver would never send.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::time::Duration;
use support::raw::{Batch, Raw, command_tags, errors, first_column, tags};
use support::{Gateway, Options, TestDb, message, sqlstate};

async fn setup_with(options: Options) -> (TestDb, Gateway, tokio_postgres::Client) {
    support::items_behind_gateway(options).await
}

async fn setup() -> (TestDb, Gateway, tokio_postgres::Client) {
    setup_with(Options::default()).await
}

/// A gateway that also accepts plaintext clients on loopback, for the raw-protocol client.
async fn setup_plaintext() -> (TestDb, Gateway, tokio_postgres::Client) {
    setup_with(Options {
        postgres_extra: "allow_plaintext = true".into(),
        ..Default::default()
    })
    .await
}

/// The ids in `items`, read directly from the database.
async fn ids(direct: &tokio_postgres::Client) -> Vec<i32> {
    direct
        .query("SELECT id FROM items ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Through a real driver (tokio-postgres over TLS).
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn preparing_a_refused_statement_succeeds_but_executing_it_is_refused() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();

    // Parse only classifies: a reader may prepare a DELETE (drivers prepare eagerly).
    let delete = client
        .prepare("DELETE FROM items WHERE id = $1")
        .await
        .expect("preparing is not running");
    assert_eq!(delete.params().len(), 1);

    for _ in 0..2 {
        let error = client.execute(&delete, &[&1i32]).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
        let text = message(&error);
        assert!(text.contains("sql:delete"), "{text}");
        // The session stays usable after the refusal.
        let rows = client
            .query("SELECT name FROM items ORDER BY id", &[])
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
    }
    assert_eq!(ids(&direct).await, [1, 2], "the refused DELETE did not run");
}

#[tokio::test]
async fn prepared_statements_run_many_times_and_writers_prepared_insert_executes() {
    let (_db, gateway, direct) = setup().await;
    let reader = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &reader).await.unwrap();
    let select = client
        .prepare("SELECT name FROM items WHERE id = $1")
        .await
        .unwrap();
    for i in 0..50 {
        let id = 1 + (i % 2);
        let row = client.query_one(&select, &[&id]).await.unwrap();
        let expected = if id == 1 { "one" } else { "two" };
        assert_eq!(row.get::<_, String>(0), expected, "run {i}");
    }

    let writer = gateway.key("wes", &["writers"]);
    let client = gateway.connect("wes", &writer).await.unwrap();
    let insert = client
        .prepare("INSERT INTO items VALUES ($1, $2)")
        .await
        .unwrap();
    for id in 3..6i32 {
        let inserted = client
            .execute(&insert, &[&id, &format!("n{id}")])
            .await
            .unwrap();
        assert_eq!(inserted, 1);
    }
    assert_eq!(ids(&direct).await, [1, 2, 3, 4, 5]);
}

// ---------------------------------------------------------------------------------------------
// Through the raw protocol client.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refusal_in_a_pipelined_sync_unit_rolls_back_the_statements_before_it() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let token = gateway.key("wes", &["writers"]);
    let mut raw = Raw::connect(&gateway, "wes", &token).await;

    let answer = raw
        .round_trip(
            Batch::new()
                .parse("", "INSERT INTO items VALUES (10, 'x')")
                .bind("", "")
                .execute("", 0)
                .parse("", "DROP TABLE items")
                .bind("", "")
                .execute("", 0)
                .sync(),
        )
        .await;
    let errors = errors(&answer);
    assert_eq!(errors.len(), 1, "{answer:?}");
    assert_eq!(errors[0].0, "42501", "{errors:?}");
    assert!(errors[0].1.contains("sql:ddl"), "{errors:?}");
    // The INSERT ran (CommandComplete) before the refusal, then the refusal ends the unit.
    assert_eq!(command_tags(&answer), ["INSERT 0 1"], "{answer:?}");
    assert_eq!(answer.last().unwrap().tag, b'Z');
    assert_eq!(answer.last().unwrap().body[..], *b"I");

    // PostgreSQL rolled the implicit transaction back: the INSERT did not persist and the
    // table is still there.
    assert_eq!(ids(&direct).await, [1, 2]);

    // The session goes on.
    let answer = raw
        .round_trip(
            Batch::new()
                .parse("", "SELECT count(*) FROM items")
                .bind("", "")
                .execute("", 0)
                .sync(),
        )
        .await;
    assert_eq!(first_column(&answer), [Some("2".to_owned())], "{answer:?}");
}

#[tokio::test]
async fn a_named_statement_replaced_in_a_skipped_sync_unit_never_runs_as_the_old_one() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);

    // The attack: `s1` holds a DELETE on the server; a Sync unit that fails early makes the
    // server skip `Close s1` and the new `Parse s1 SELECT 1`. Were names passed through
    // unchanged, the server would still hold the DELETE under `s1` while the gateway believed
    // it to be `SELECT 1`, and Execute would delete every row.
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    let answer = raw
        .round_trip(Batch::new().parse("s1", "DELETE FROM items").sync())
        .await;
    assert!(errors(&answer).is_empty(), "parse is allowed: {answer:?}");
    let answer = raw
        .round_trip(
            Batch::new()
                .parse("bad", "SELEC nonsense")
                .close_statement("s1")
                .parse("s1", "SELECT 1")
                .sync(),
        )
        .await;
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    assert_eq!(errors(&answer)[0].0, "42601", "a syntax error");
    let answer = raw
        .round_trip(Batch::new().bind("", "s1").execute("", 0).sync())
        .await;
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    assert!(
        !command_tags(&answer)
            .iter()
            .any(|t| t.starts_with("DELETE")),
        "{answer:?}"
    );
    assert_eq!(ids(&direct).await, [1, 2], "nothing was deleted");

    // The other way round: `s1` is a SELECT and the skipped unit tries to make it a DELETE.
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    raw.round_trip(Batch::new().parse("s1", "SELECT 1").sync())
        .await;
    raw.round_trip(
        Batch::new()
            .parse("bad", "SELEC nonsense")
            .close_statement("s1")
            .parse("s1", "DELETE FROM items")
            .sync(),
    )
    .await;
    let answer = raw
        .round_trip(Batch::new().bind("", "s1").execute("", 0).sync())
        .await;
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    assert!(
        !command_tags(&answer)
            .iter()
            .any(|t| t.starts_with("DELETE")),
        "{answer:?}"
    );
    assert_eq!(ids(&direct).await, [1, 2], "nothing was deleted");

    // Replacing a named statement when nothing fails works as in PostgreSQL.
    let answer = raw
        .round_trip(
            Batch::new()
                .parse("s2", "SELECT 1")
                .sync()
                .close_statement("s2")
                .parse("s2", "SELECT 2")
                .sync(),
        )
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    raw.until_ready().await;
    let answer = raw
        .round_trip(Batch::new().bind("", "s2").execute("", 0).sync())
        .await;
    assert_eq!(first_column(&answer), [Some("2".to_owned())], "{answer:?}");
}

#[tokio::test]
async fn the_unnamed_statement_is_not_trusted_across_sync_units_after_a_server_error() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);

    // The server holds `SELECT 1` as the unnamed statement; the gateway saw a DELETE parsed in
    // a unit that failed. Using it from a later unit is refused, not guessed.
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    raw.round_trip(Batch::new().parse("", "SELECT 1").sync())
        .await;
    let answer = raw
        .round_trip(
            Batch::new()
                .parse("x", "SELEC nonsense")
                .parse("", "DELETE FROM items")
                .sync(),
        )
        .await;
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    let answer = raw
        .round_trip(Batch::new().bind("", "").execute("", 0).sync())
        .await;
    let errors_seen = errors(&answer);
    assert_eq!(errors_seen.len(), 1, "{answer:?}");
    assert_eq!(errors_seen[0].0, "42501", "{errors_seen:?}");
    assert_eq!(ids(&direct).await, [1, 2]);

    // The dangerous way round, pipelined: the server holds a DELETE as the unnamed statement
    // and skips the `Parse "" SELECT 1` that follows an error in the same unit.
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    raw.round_trip(Batch::new().parse("", "DELETE FROM items").sync())
        .await;
    raw.round_trip(
        Batch::new()
            .parse("x", "SELEC nonsense")
            .parse("", "SELECT 1")
            .sync(),
    )
    .await;
    let answer = raw
        .round_trip(Batch::new().bind("", "").execute("", 0).sync())
        .await;
    assert!(
        !command_tags(&answer)
            .iter()
            .any(|t| t.starts_with("DELETE")),
        "{answer:?}"
    );
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    assert_eq!(ids(&direct).await, [1, 2], "nothing was deleted");
}

/// The penetration test's desync: while the server skips to Sync after an extended-protocol
/// error, it skips a simple Query too, so a `Parse` sent after that Query in the same Sync
/// never happens. The gateway once counted the Query as a boundary, trusted that Parse, and
/// judged the later Execute of a DELETE as `SELECT 1`.
#[tokio::test]
async fn a_query_sent_while_the_server_skips_to_sync_does_not_end_the_skipping() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    raw.round_trip(
        Batch::new()
            .parse("", "DELETE FROM items WHERE id = 2")
            .sync(),
    )
    .await;
    raw.send(Batch::new().bind("", "nosuch").flush()).await;
    let failed = raw.until(b'E').await;
    assert_eq!(errors(&failed).len(), 1, "{failed:?}");
    raw.send(Batch::new().query("SELECT 1").parse("", "SELECT 1").sync())
        .await;
    let skipped = raw.until_ready().await;
    // The server skipped the Query: no rows, no completion, only ReadyForQuery.
    assert_eq!(tags(&skipped), "Z", "{skipped:?}");
    raw.round_trip(Batch::new().sync()).await;
    let answer = raw
        .round_trip(Batch::new().bind("", "").execute("", 0).sync())
        .await;
    assert!(
        !command_tags(&answer)
            .iter()
            .any(|t| t.starts_with("DELETE")),
        "{answer:?}"
    );
    let refused = errors(&answer);
    assert_eq!(refused.len(), 1, "{answer:?}");
    assert_eq!(refused[0].0, "42501", "{refused:?}");
    assert!(refused[0].1.contains("sql:unknown"), "{refused:?}");
    assert_eq!(ids(&direct).await, [1, 2], "nothing was deleted");

    // The audit log says what the server did: the skipped Query never ran.
    let events = gateway.audit_events();
    let outcome_of_select = events
        .iter()
        .filter(|e| e["kind"] == "outcome")
        .find(|e| {
            let seq = e["refers_to"].as_i64();
            events.iter().any(|s| {
                s["seq"].as_i64() == seq && s["statement"] == "SELECT 1" && s["kind"] == "statement"
            })
        })
        .expect("an outcome event for the skipped SELECT 1");
    assert!(
        outcome_of_select["outcome"]["error"]
            .as_str()
            .unwrap()
            .contains("not run"),
        "{outcome_of_select}"
    );
}

#[tokio::test]
async fn waiting_for_the_server_error_before_replacing_the_unnamed_statement_does_not_help() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;

    // The server holds a DELETE as the unnamed statement.
    let answer = raw
        .round_trip(Batch::new().parse("", "DELETE FROM items").sync())
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");

    // A unit that fails first; the client waits until the error has come back (PostgreSQL
    // sends errors at once) and only then sends `Parse "" SELECT 1`, which the server skips
    // because it is discarding messages until Sync.
    raw.send(Batch::new().parse("x", "SELEC nonsense").flush())
        .await;
    let failed = raw.until(b'E').await;
    assert_eq!(errors(&failed)[0].0, "42601", "{failed:?}");
    let answer = raw
        .round_trip(Batch::new().parse("", "SELECT 1").sync())
        .await;
    assert_eq!(
        tags(&answer),
        "Z",
        "the server skipped the Parse: {answer:?}"
    );

    // Executing the unnamed statement must not run the DELETE the server still holds.
    let answer = raw
        .round_trip(Batch::new().bind("", "").execute("", 0).sync())
        .await;
    assert!(
        !command_tags(&answer)
            .iter()
            .any(|t| t.starts_with("DELETE")),
        "the server ran the DELETE the gateway did not decide: {answer:?}"
    );
    let errors_seen = errors(&answer);
    assert_eq!(errors_seen.len(), 1, "{answer:?}");
    assert_eq!(errors_seen[0].0, "42501", "{errors_seen:?}");
    assert_eq!(ids(&direct).await, [1, 2], "nothing was deleted");

    // The session goes on, and the unnamed statement is usable again once parsed cleanly.
    let answer = raw
        .round_trip(
            Batch::new()
                .parse("", "SELECT count(*) FROM items")
                .bind("", "")
                .execute("", 0)
                .sync(),
        )
        .await;
    assert_eq!(first_column(&answer), [Some("2".to_owned())], "{answer:?}");
}

#[tokio::test]
async fn the_unnamed_statement_described_then_executed_in_the_next_sync_unit_works() {
    let (_db, gateway, _direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;

    for round in 0..2 {
        let answer = raw
            .round_trip(
                Batch::new()
                    .parse("", "SELECT 42")
                    .describe_statement("")
                    .sync(),
            )
            .await;
        assert_eq!(tags(&answer), "1tTZ", "{answer:?}");
        let answer = raw
            .round_trip(Batch::new().bind("", "").execute("", 0).sync())
            .await;
        assert!(errors(&answer).is_empty(), "round {round}: {answer:?}");
        assert_eq!(first_column(&answer), [Some("42".to_owned())], "{answer:?}");

        // A server error in an earlier, finished unit does not make later ones untrusted.
        let answer = raw
            .round_trip(Batch::new().parse("x", "SELEC nonsense").sync())
            .await;
        assert_eq!(errors(&answer)[0].0, "42601");
    }
}

#[tokio::test]
async fn executing_a_portal_the_client_never_bound_or_declared_runs_nothing() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;

    // A SQL-level cursor is a portal on the server, named by the client, and usable through
    // the protocol by that name (psycopg's server-side cursors), decided as its query.
    let answer = raw
        .round_trip(
            Batch::new().query("DECLARE c CURSOR WITH HOLD FOR SELECT id FROM items ORDER BY id"),
        )
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    let answer = raw.round_trip(Batch::new().execute("c", 1).sync()).await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    assert_eq!(first_column(&answer), [Some("1".to_owned())], "{answer:?}");

    // A portal the gateway never saw bound or declared reaches the server under a name no
    // portal has, so nothing runs.
    let answer = raw
        .round_trip(Batch::new().execute("nosuch", 0).sync())
        .await;
    let errors_seen = errors(&answer);
    assert_eq!(errors_seen.len(), 1, "{answer:?}");
    assert_eq!(
        errors_seen[0].0, "34000",
        "portal does not exist: {errors_seen:?}"
    );
    assert!(first_column(&answer).is_empty(), "{answer:?}");

    // The cursor goes on where the protocol left it: FETCH (decided as SQL) gives row 2.
    let answer = raw.round_trip(Batch::new().query("FETCH 1 FROM c")).await;
    assert_eq!(first_column(&answer), [Some("2".to_owned())], "{answer:?}");
    assert_eq!(ids(&direct).await, [1, 2]);
}

#[tokio::test]
async fn fast_path_function_calls_are_refused_and_the_session_continues() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let oid: u32 = direct
        .query_one("SELECT 'lo_create(oid)'::regprocedure::oid", &[])
        .await
        .unwrap()
        .get(0);
    // Admins included: a fast-path call cannot be inspected, so it is `sql:unknown`.
    let token = gateway.key("ada", &["admins"]);
    let mut raw = Raw::connect(&gateway, "ada", &token).await;

    let answer = raw
        .round_trip(Batch::new().function_call(oid, &["0"]))
        .await;
    let errors_seen = errors(&answer);
    assert_eq!(errors_seen.len(), 1, "{answer:?}");
    assert_eq!(errors_seen[0].0, "42501", "{errors_seen:?}");
    assert!(errors_seen[0].1.contains("sql:unknown"), "{errors_seen:?}");
    assert!(
        !answer.iter().any(|m| m.tag == b'V'),
        "no FunctionCallResponse: {answer:?}"
    );
    let large_objects: i64 = direct
        .query_one("SELECT count(*) FROM pg_largeobject_metadata", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(large_objects, 0, "lo_create did not run");

    let answer = raw
        .round_trip(Batch::new().query("SELECT 'still here'"))
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    assert_eq!(
        first_column(&answer),
        [Some("still here".to_owned())],
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_suspended_portal_continues_where_it_stopped_inside_a_transaction() {
    let (_db, gateway, _direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;

    let answer = raw.round_trip(Batch::new().query("BEGIN")).await;
    assert_eq!(answer.last().unwrap().body[..], *b"T");

    // Two rows, then the portal is suspended ('s').
    raw.send(
        Batch::new()
            .parse("g", "SELECT g FROM generate_series(1, 5) g")
            .bind("p", "g")
            .execute("p", 2)
            .flush(),
    )
    .await;
    let answer = raw.until(b's').await;
    assert_eq!(tags(&answer), "12DDs", "{answer:?}");
    assert_eq!(
        first_column(&answer),
        [Some("1".to_owned()), Some("2".to_owned())]
    );

    // Execute again in the same unit continues the same portal.
    raw.send(Batch::new().execute("p", 2).sync()).await;
    let answer = raw.until_ready().await;
    assert_eq!(tags(&answer), "DDsZ", "{answer:?}");
    assert_eq!(
        first_column(&answer),
        [Some("3".to_owned()), Some("4".to_owned())]
    );
    assert_eq!(
        answer.last().unwrap().body[..],
        *b"T",
        "still in the transaction"
    );

    // And from the next Sync unit: the named portal lives as long as the transaction.
    let answer = raw.round_trip(Batch::new().execute("p", 0).sync()).await;
    assert_eq!(tags(&answer), "DCZ", "{answer:?}");
    assert_eq!(first_column(&answer), [Some("5".to_owned())]);
    assert_eq!(command_tags(&answer), ["SELECT 1"]);

    let answer = raw.round_trip(Batch::new().query("COMMIT")).await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    assert_eq!(answer.last().unwrap().body[..], *b"I");
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[tokio::test]
async fn sql_prepare_cannot_plant_statements_under_the_names_the_gateway_uses() {
    // Writers may write only until a deadline a few seconds away; reading stays allowed.
    let deadline = unix_now() + 5;
    let policy = format!(
        r#"
@id("writers-read")
permit (
  principal in Gatehouse::Group::"writers",
  action in [Gatehouse::Action::"connect", Gatehouse::Action::"sql:session", Gatehouse::Action::"sql:read"],
  resource
);
@id("writers-write-until-deadline")
permit (
  principal in Gatehouse::Group::"writers",
  action in [Gatehouse::Action::"sql:write"],
  resource
) when {{ context.now < {deadline} }};
"#
    );
    let (_db, gateway, direct) = setup_with(Options {
        policy: Some(policy),
        postgres_extra: "allow_plaintext = true".into(),
        ..Default::default()
    })
    .await;
    let token = gateway.key("wes", &["writers"]);
    let mut raw = Raw::connect(&gateway, "wes", &token).await;

    // The server names gatehouse's objects in its errors, so a client can learn how the
    // gateway names things: here from a Bind of a statement that was never parsed.
    let answer = raw
        .round_trip(Batch::new().bind("", "never-parsed").sync())
        .await;
    let missing = errors(&answer)[0].1.clone();
    let name = missing
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("a quoted name in {missing:?}"));
    let base = name
        .strip_suffix('1')
        .unwrap_or_else(|| panic!("the first generated name ends in 1: {name}"));
    assert!(base.starts_with("gh_"), "{name}");
    // The names the gateway will give its next protocol-level statement (2) and its next
    // reference to a statement the client never parsed (3).
    let next_statement = base.replace("missing", "s") + "2";
    let next_missing = format!("{base}3");

    // Within the window: SQL-level PREPARE of deletes, one under an ordinary name, and two
    // planted under those names.
    let answer = raw
        .round_trip(Batch::new().query("PREPARE d AS DELETE FROM items WHERE id = 1"))
        .await;
    assert!(errors(&answer).is_empty(), "within the window: {answer:?}");
    let mut planted = Vec::new();
    for sql in [
        format!("PREPARE {next_statement} AS DELETE FROM items"),
        format!("PREPARE {next_missing} AS DELETE FROM items"),
    ] {
        let answer = raw.round_trip(Batch::new().query(&sql)).await;
        planted.push((sql, answer));
    }

    while unix_now() <= deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The window is closed: executing the prepared DELETE by name is refused.
    let answer = raw.round_trip(Batch::new().query("EXECUTE d")).await;
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    assert_eq!(errors(&answer)[0].0, "42501", "{answer:?}");
    assert!(errors(&answer)[0].1.contains("sql:delete"), "{answer:?}");

    // A protocol-level SELECT must run as the SELECT the gateway decided ...
    raw.round_trip(Batch::new().parse("a", "SELECT 1").sync())
        .await;
    let answer = raw
        .round_trip(Batch::new().bind("", "a").execute("", 0).sync())
        .await;
    assert!(
        !command_tags(&answer)
            .iter()
            .any(|t| t.starts_with("DELETE")),
        "a planted DELETE ran as the client's SELECT: {answer:?}"
    );
    assert_eq!(first_column(&answer), [Some("1".to_owned())], "{answer:?}");
    // ... and a reference to a statement that does not exist must run nothing.
    let answer = raw
        .round_trip(
            Batch::new()
                .bind("", "never-parsed-2")
                .execute("", 0)
                .sync(),
        )
        .await;
    assert!(
        !command_tags(&answer)
            .iter()
            .any(|t| t.starts_with("DELETE")),
        "a planted DELETE ran without any decision: {answer:?}"
    );
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    assert_eq!(
        errors(&answer)[0].0,
        "26000",
        "no such statement: {answer:?}"
    );
    assert_eq!(ids(&direct).await, [1, 2], "nothing was deleted");

    // The gateway keeps its names to itself: SQL naming them is refused outright.
    for (sql, answer) in planted {
        let errors_seen = errors(&answer);
        assert_eq!(errors_seen.len(), 1, "{sql}: {answer:?}");
        assert_eq!(errors_seen[0].0, "42501", "{sql}: {errors_seen:?}");
        assert!(
            errors_seen[0].1.contains("sql:unknown"),
            "{sql}: {errors_seen:?}"
        );
    }
}

/// Cursors are portals on the server: a client must not be able to declare one under a name
/// gatehouse generates for its own portals (server errors can reveal those names).
#[tokio::test]
async fn cursors_cannot_take_the_names_the_gateway_uses() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("DECLARE c CURSOR FOR SELECT id FROM items")
        .await
        .unwrap();
    let rows = client.simple_query("FETCH 1 FROM c").await.unwrap();
    assert!(
        rows.iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
    );
    client.batch_execute("COMMIT").await.unwrap();

    client.batch_execute("BEGIN").await.unwrap();
    let error = client
        .batch_execute("DECLARE gh_0123456789ab_p1 CURSOR FOR SELECT id FROM items")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    assert!(
        message(&error).contains("reserves these names"),
        "{}",
        message(&error)
    );
    client.batch_execute("ROLLBACK").await.unwrap();
}

/// SQL `FETCH` resolves its name among all portals, including those a `Bind` created, so a
/// client that learned the gateway's naming (server errors show it) could run a bound but
/// never-executed `DELETE ... RETURNING` portal with a `FETCH` — which policy sees as session
/// housekeeping — unless those names are out of reach.
#[tokio::test]
async fn fetch_cannot_run_a_bound_portal_behind_policys_back() {
    let (_db, gateway, direct) = setup_plaintext().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;

    // Learn the session's naming from the server's error about a statement never parsed.
    let answer = raw
        .round_trip(Batch::new().describe_statement("never-parsed").sync())
        .await;
    let missing = errors(&answer)[0].1.clone();
    let name = missing
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("a quoted name in {missing:?}"));
    let base = name
        .strip_suffix("missing1")
        .unwrap_or_else(|| panic!("the first generated name is missing1: {name}"));

    // Inside a transaction the bound portal outlives its Sync unit.
    let answer = raw.round_trip(Batch::new().query("BEGIN")).await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    let answer = raw
        .round_trip(
            Batch::new()
                .parse("s", "DELETE FROM items RETURNING id")
                .bind("p", "s")
                .sync(),
        )
        .await;
    assert!(
        errors(&answer).is_empty(),
        "binding runs nothing: {answer:?}"
    );
    let portal = format!("{base}p3");
    let answer = raw
        .round_trip(Batch::new().query(&format!("FETCH ALL FROM {portal}")))
        .await;
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    assert_eq!(errors(&answer)[0].0, "42501", "{answer:?}");
    assert!(first_column(&answer).is_empty(), "{answer:?}");
    let _ = raw.round_trip(Batch::new().query("ROLLBACK")).await;
    assert_eq!(ids(&direct).await, [1, 2], "nothing was deleted");
}
