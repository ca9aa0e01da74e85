//! Statements through the gateway with the real `mariadb` CLI: each one decided and audited
//! before it is forwarded, a refused statement never reaching the server, multi-statement
//! messages decided whole, outcomes recorded.
//!
//! The tests with a reader (whose policy permits `sql:select` only) need the MariaDB
//! classifier (`gatehouse-mysql-sql`) to tell a SELECT from a DELETE; the writer's tests pass
//! with any classifier.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_pipeline::AuditEventKind;
use support::{CONNECTION, Fixture, available, root, statements};

fn rows_of(database: &str, sql: &str) -> String {
    let out = root(&["-N", "--batch", database, "-e", sql]).unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_reads_and_its_delete_is_refused_and_never_runs() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("reader_delete", false).await;
    let token = f.key("rita", &["readers"]).await;
    let (out, err, ok) = f
        .mariadb(
            "rita",
            &token,
            &[CONNECTION, "-e", "SELECT id, name FROM items ORDER BY id"],
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "id\tname\n1\tapple\n2\tpear\n");
    let (_, err, ok) = f
        .mariadb(
            "rita",
            &token,
            &[CONNECTION, "-e", "DELETE FROM items WHERE id = 1"],
        )
        .await;
    assert!(!ok);
    assert!(err.contains("gatehouse: permission denied"), "{err}");
    assert!(err.contains("1142"), "{err}");
    assert_eq!(rows_of(&f.database, "SELECT count(*) FROM items"), "2\n");
    let events = f
        .events_until(|events| {
            statements(events)
                .iter()
                .any(|(action, _, _)| action == "sql:delete")
        })
        .await;
    let decided = statements(&events);
    assert!(
        decided
            .iter()
            .any(|(action, text, decision)| action == "sql:select"
                && text.contains("SELECT id, name")
                && decision == "Allow"),
        "{decided:?}"
    );
    assert!(
        decided
            .iter()
            .any(|(action, text, decision)| action == "sql:delete"
                && text.contains("DELETE FROM items")
                && decision == "Deny"),
        "{decided:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refused_statement_refuses_the_whole_multi_statement_message() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("multi_refused", false).await;
    let token = f.key("rita", &["readers"]).await;
    let (out, err, ok) = f
        .mariadb(
            "rita",
            &token,
            &[
                CONNECTION,
                "-e",
                "SELECT 1 AS one; SELECT name FROM items WHERE id = 2",
            ],
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "one\n1\nname\npear\n");
    // The CLI sends its statements one by one; a message holding two goes as one COM_QUERY
    // through PyMySQL with multi-statements on (see `prepared.rs` for drivers).
    let script = r#"
import os, ssl, pymysql
from pymysql.constants import CLIENT
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
db = pymysql.connect(host="127.0.0.1", port=int(os.environ["GH_PORT"]), user="rita", password=os.environ["GH_TOKEN"],
                     database="demo-mysql", ssl=context, client_flag=CLIENT.MULTI_STATEMENTS)
with db.cursor() as cursor:
    try:
        cursor.execute("SELECT 1; DELETE FROM items")
        print("ran")
    except pymysql.err.MySQLError as error:
        print("refused", error.args[0], error.args[1])
"#;
    let (out, err, ok) = f.python(&token, script).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("refused 1142 gatehouse: permission denied"),
        "{out}"
    );
    assert_eq!(rows_of(&f.database, "SELECT count(*) FROM items"), "2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_multi_statement_message_runs_and_every_statement_gets_an_outcome() {
    if !available(&["pymysql"]) {
        return;
    }
    let f = Fixture::start("multi_writer", false).await;
    let token = f.key("wes", &["writers"]).await;
    let script = r#"
import os, ssl, pymysql
from pymysql.constants import CLIENT
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
db = pymysql.connect(host="127.0.0.1", port=int(os.environ["GH_PORT"]), user="wes", password=os.environ["GH_TOKEN"],
                     database="demo-mysql", ssl=context, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
with db.cursor() as cursor:
    cursor.execute("UPDATE items SET score = 11 WHERE id = 1; SELECT name FROM items ORDER BY id; SELECT 'x' AS y")
    print(cursor.rowcount)
    while cursor.nextset():
        print(cursor.fetchall())
"#;
    let (out, err, ok) = f.python(&token, script).await;
    assert!(ok, "{err}");
    assert_eq!(out, "1\n(('apple',), ('pear',))\n(('x',),)\n");
    assert_eq!(
        rows_of(&f.database, "SELECT score FROM items WHERE id = 1"),
        "11\n"
    );
    let events = f
        .events_until(|events| {
            events
                .iter()
                .filter(|e| e.kind == AuditEventKind::Outcome)
                .count()
                >= 4
        })
        .await;
    // PyMySQL's own `SET AUTOCOMMIT = 1` first, then one outcome per statement of the message.
    let outcomes: Vec<_> = events
        .iter()
        .filter(|e| e.kind == AuditEventKind::Outcome)
        .filter_map(|e| e.outcome.clone())
        .collect();
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert_eq!(outcomes[1].rows, Some(1));
    assert_eq!(outcomes[2].rows, Some(2));
    assert_eq!(outcomes[3].rows, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_reaches_the_client_and_the_audit_log() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("server_error", false).await;
    let token = f.key("wes", &["writers"]).await;
    let (_, err, ok) = f
        .mariadb(
            "wes",
            &token,
            &[CONNECTION, "-e", "SELECT * FROM no_such_table"],
        )
        .await;
    assert!(!ok);
    assert!(
        err.contains("1146") && err.contains("no_such_table"),
        "{err}"
    );
    let events = f
        .events_until(|events| events.iter().any(|e| e.kind == AuditEventKind::Outcome))
        .await;
    let outcome = events
        .iter()
        .find_map(|e| e.outcome.clone())
        .expect("an outcome event");
    assert!(outcome.error.unwrap_or_default().contains("1146"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_the_server_says_switched_to_oracle_mode_is_ended() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("oracle_mode", false).await;
    let token = f.key("wes", &["writers"]).await;
    // The mode is computed, so no reading of the text can tell; the server's session
    // tracking does.
    let sql = "SET sql_mode = CONCAT('ORA', 'CLE'); SELECT 1";
    let (out, err, ok) = f.mariadb("wes", &token, &[CONNECTION, "-e", sql]).await;
    assert!(!ok, "{out}");
    assert!(
        err.contains("sql_mode ORACLE") && err.contains("gatehouse"),
        "{err}"
    );
    let events = f
        .events_until(|events| events.iter().any(|e| e.kind == AuditEventKind::Disconnect))
        .await;
    let reason = events
        .iter()
        .find(|e| e.kind == AuditEventKind::Disconnect)
        .and_then(|e| e.detail.clone())
        .unwrap_or_default();
    assert!(reason.contains("ORACLE"), "{reason}");
}
