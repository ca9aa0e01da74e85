//! Statements whose permit caps the rows they may change (`@max_rows`, one row for the
//! fixture's cappers), against the real server: within the cap they run and stay; over it they
//! are rolled back and refused, outside a transaction (gatehouse's own) and inside the
//! client's (a savepoint, after which the client's transaction goes on), with autocommit off
//! too; the client gets the statement's own OK with the transaction status after gatehouse's
//! COMMIT; an UPDATE counts the rows it matched, not only those it changed; a capped statement
//! among others is refused; a table that cannot roll back is refused, or, unseen behind a view,
//! ends the session when over the cap; and the audit log says what happened.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_mysql_wire::Capabilities;
use gatehouse_mysql_wire::response::{OkPacket, SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_IN_TRANS};
use gatehouse_pipeline::{AuditEventKind, AuditOutcome};
use support::raw::RawClient;
use support::{CONNECTION, Fixture, available, root};

fn scores(database: &str) -> String {
    let out = root(&[
        "-N",
        "--batch",
        database,
        "-e",
        "SELECT id, score FROM items ORDER BY id",
    ])
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The outcomes recorded so far, once at least `count` are there.
async fn outcomes(f: &Fixture, count: usize) -> Vec<AuditOutcome> {
    f.events_until(|events| {
        events
            .iter()
            .filter(|e| e.kind == AuditEventKind::Outcome)
            .count()
            >= count
    })
    .await
    .into_iter()
    .filter(|e| e.kind == AuditEventKind::Outcome)
    .filter_map(|e| e.outcome)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_a_transaction_within_the_cap_commits_and_over_it_changes_nothing() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("cap_autocommit", false).await;
    let token = f.key("cap", &["cappers"]).await;
    let (_, err, ok) = f
        .mariadb(
            "cap",
            &token,
            &[CONNECTION, "-e", "UPDATE items SET score = 5 WHERE id = 1"],
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(scores(&f.database), "1\t5\n2\t20\n");
    let (_, err, ok) = f
        .mariadb(
            "cap",
            &token,
            &[CONNECTION, "-e", "UPDATE items SET score = score + 1"],
        )
        .await;
    assert!(!ok);
    assert!(
        err.contains("1142")
            && err.contains("more than the 1 the policy allows it (`@max_rows`)")
            && err.contains("rolled back and nothing was changed"),
        "{err}"
    );
    assert_eq!(scores(&f.database), "1\t5\n2\t20\n");
    let outcomes = outcomes(&f, 2).await;
    let committed = outcomes[0].status.clone().unwrap_or_default();
    assert!(
        committed.contains("1 rows affected") && committed.contains("row cap of 1"),
        "{outcomes:?}"
    );
    let refused = outcomes[1].error.clone().unwrap_or_default();
    assert!(
        refused.contains("2 rows") && refused.contains("rolled back"),
        "{outcomes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_counts_the_rows_it_matched_not_only_those_it_changed() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("cap_matched", false).await;
    let token = f.key("cap", &["cappers"]).await;
    // Row 1 already has score 20: the server changes one row but matched two.
    root(&[
        &f.database,
        "-e",
        "UPDATE items SET score = 20 WHERE id = 1",
    ])
    .unwrap();
    let (_, err, ok) = f
        .mariadb(
            "cap",
            &token,
            &[CONNECTION, "-e", "UPDATE items SET score = 20, name = 'x'"],
        )
        .await;
    assert!(!ok);
    assert!(err.contains("matched 2 rows"), "{err}");
    let names = root(&[
        "-N",
        &f.database,
        "-e",
        "SELECT name FROM items ORDER BY id",
    ])
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&names.stdout), "apple\npear\n");
}

/// A PyMySQL session of the capper (`autocommit` as given) running `body`, where `run(sql)`
/// prints "ok N" (rows affected) or "refused CODE MESSAGE" and `rows()` prints the scores.
fn session_script(autocommit: bool, body: &str) -> String {
    let autocommit = if autocommit { "True" } else { "False" };
    format!(
        r#"
import os, ssl, pymysql
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
db = pymysql.connect(host="127.0.0.1", port=int(os.environ["GH_PORT"]), user="cap", password=os.environ["GH_TOKEN"],
                     database="demo-mysql", ssl=context, autocommit={autocommit})
cursor = db.cursor()
def run(sql):
    try:
        print("ok", cursor.execute(sql))
    except pymysql.err.MySQLError as error:
        print("refused", error.args[0], error.args[1])
def rows():
    cursor.execute("SELECT id, score FROM items ORDER BY id")
    print(cursor.fetchall())
{body}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_the_clients_transaction_a_savepoint_undoes_only_the_capped_statement() {
    if !available(&["pymysql"]) {
        return;
    }
    let f = Fixture::start("cap_savepoint", false).await;
    let token = f.key("cap", &["cappers"]).await;
    let body = r#"
run("START TRANSACTION")
run("UPDATE items SET score = 11 WHERE id = 1")
run("UPDATE items SET score = 0")
run("UPDATE items SET score = 22 WHERE id = 2")
rows()
run("COMMIT")
run("BEGIN")
run("UPDATE items SET score = 33 WHERE id = 1")
run("ROLLBACK")
rows()
"#;
    let (out, err, ok) = f.python(&token, &session_script(true, body)).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["ok 0", "ok 1"], "{out}");
    assert!(
        lines[2].starts_with("refused 1142") && lines[2].contains("nothing was changed"),
        "{out}"
    );
    // The client's transaction goes on: its first change is there, the refused one is not,
    // and what follows runs. The statement within its cap after BEGIN was the client's to
    // roll back, not committed by gatehouse.
    assert_eq!(
        lines[3..],
        [
            "ok 1",
            "((1, 11), (2, 22))",
            "ok 0",
            "ok 0",
            "ok 1",
            "ok 0",
            "((1, 11), (2, 22))"
        ],
        "{out}"
    );
    assert_eq!(scores(&f.database), "1\t11\n2\t22\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_autocommit_off_the_capped_statement_stays_in_the_clients_transaction() {
    if !available(&["pymysql"]) {
        return;
    }
    let f = Fixture::start("cap_no_autocommit", false).await;
    let token = f.key("cap", &["cappers"]).await;
    let body = r#"
run("UPDATE items SET score = 7 WHERE id = 1")
run("UPDATE items SET score = 0")
rows()
run("ROLLBACK")
rows()
run("UPDATE items SET score = 8 WHERE id = 2")
run("COMMIT")
"#;
    let (out, err, ok) = f.python(&token, &session_script(false, body)).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ok 1", "{out}");
    assert!(lines[1].starts_with("refused 1142"), "{out}");
    assert_eq!(
        lines[2..],
        [
            "((1, 7), (2, 20))",
            "ok 0",
            "((1, 10), (2, 20))",
            "ok 1",
            "ok 0"
        ],
        "{out}"
    );
    assert_eq!(scores(&f.database), "1\t10\n2\t8\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_statement_among_others_is_refused_whole() {
    if !available(&["pymysql"]) {
        return;
    }
    let f = Fixture::start("cap_multi", false).await;
    let token = f.key("cap", &["cappers"]).await;
    let script = r#"
import os, ssl, pymysql
from pymysql.constants import CLIENT
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
db = pymysql.connect(host="127.0.0.1", port=int(os.environ["GH_PORT"]), user="cap", password=os.environ["GH_TOKEN"],
                     database="demo-mysql", ssl=context, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
with db.cursor() as cursor:
    try:
        cursor.execute("SELECT 1; UPDATE items SET score = 1 WHERE id = 1")
        print("ran")
    except pymysql.err.MySQLError as error:
        print("refused", error.args[0], error.args[1])
"#;
    let (out, err, ok) = f.python(&token, script).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("refused 1142") && out.contains("sent on its own"),
        "{out}"
    );
    assert_eq!(scores(&f.database), "1\t10\n2\t20\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_cannot_roll_back_is_refused_or_ends_the_session_over_the_cap() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("cap_myisam", false).await;
    let setup = "CREATE TABLE plain (id INT) ENGINE=MyISAM; INSERT INTO plain VALUES (1), (2), (3); \
                 CREATE VIEW hidden AS SELECT id FROM plain";
    let made = root(&[&f.database, "-e", setup]).unwrap();
    assert!(made.status.success());
    let token = f.key("cap", &["cappers"]).await;
    // Named: refused before it runs.
    let (_, err, ok) = f
        .mariadb(
            "cap",
            &token,
            &[CONNECTION, "-e", "DELETE FROM PLAIN WHERE id = 3"],
        )
        .await;
    assert!(!ok);
    assert!(
        err.contains(&format!("writes {}.plain (MyISAM)", f.database)) && err.contains("not run"),
        "{err}"
    );
    // Behind a view, the table is not seen: within the cap nothing needs undoing.
    let (_, err, ok) = f
        .mariadb(
            "cap",
            &token,
            &[CONNECTION, "-e", "DELETE FROM hidden WHERE id = 3"],
        )
        .await;
    assert!(ok, "{err}");
    let (_, err, ok) = f
        .mariadb(
            "cap",
            &token,
            &[CONNECTION, "-e", "DELETE FROM hidden; SELECT 1"],
        )
        .await;
    assert!(!ok);
    assert!(
        err.contains("could not be rolled back") && err.contains("ended the session"),
        "{err}"
    );
    let left = root(&["-N", &f.database, "-e", "SELECT count(*) FROM plain"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&left.stdout), "0\n");
    let events = f
        .events_until(|events| {
            events
                .iter()
                .filter(|e| e.kind == AuditEventKind::Disconnect)
                .count()
                >= 2
        })
        .await;
    let recorded = events
        .iter()
        .filter_map(|e| e.outcome.as_ref())
        .filter_map(|o| o.error.clone())
        .collect::<Vec<_>>();
    assert!(
        recorded
            .iter()
            .any(|error| error.contains("could not be rolled back")),
        "{recorded:?}"
    );
    let reasons: Vec<String> = events
        .iter()
        .filter(|e| e.kind == AuditEventKind::Disconnect)
        .filter_map(|e| e.detail.clone())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("could not be rolled back")),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_statements_execute_is_held_to_the_cap_too() {
    if !available(&["mysql.connector"]) {
        return;
    }
    let f = Fixture::start("cap_prepared", false).await;
    let token = f.key("cap", &["cappers"]).await;
    let script = r#"
import os, mysql.connector
db = mysql.connector.connect(host="127.0.0.1", port=int(os.environ["GH_PORT"]), user="cap",
    password=os.environ["GH_TOKEN"], database="demo-mysql", ssl_disabled=False,
    ssl_verify_cert=False, use_pure=True, autocommit=True)
cursor = db.cursor(prepared=True)
for low in (2, 0):
    try:
        cursor.execute("UPDATE items SET score = score + 100 WHERE id >= ?", (low,))
        print("ok", cursor.rowcount)
    except mysql.connector.Error as error:
        print("refused", error.errno, error.msg)
"#;
    let (out, err, ok) = f.python(&token, script).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ok 1", "{out}");
    assert!(
        lines[1].starts_with("refused 1142") && lines[1].contains("nothing was changed"),
        "{out}"
    );
    assert_eq!(scores(&f.database), "1\t10\n2\t120\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_gets_the_statements_ok_with_the_transaction_status_after_gatehouses_commit() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("cap_status", false).await;
    let token = f.key("cap", &["cappers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    let ok_of = |messages: Vec<gatehouse_mysql_wire::Message>| {
        OkPacket::parse(&messages[0].payload, Capabilities::PROTOCOL_41).unwrap()
    };
    let ok = ok_of(
        client
            .query("UPDATE items SET score = 3 WHERE id = 1")
            .await,
    );
    assert_eq!(ok.affected_rows, 1);
    assert_eq!(
        String::from_utf8_lossy(&ok.info),
        "Rows matched: 1  Changed: 1  Warnings: 0"
    );
    assert_eq!(
        ok.status & SERVER_STATUS_IN_TRANS,
        0,
        "gatehouse's transaction ended"
    );
    assert_ne!(ok.status & SERVER_STATUS_AUTOCOMMIT, 0);
    ok_of(client.query("BEGIN").await);
    let ok = ok_of(
        client
            .query("UPDATE items SET score = 4 WHERE id = 2")
            .await,
    );
    assert_ne!(
        ok.status & SERVER_STATUS_IN_TRANS,
        0,
        "the client's goes on"
    );
    ok_of(client.query("ROLLBACK").await);
    assert_eq!(scores(&f.database), "1\t3\n2\t20\n");
}
