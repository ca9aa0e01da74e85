//! MySQL and MariaDB through gatehouse, with the stock `mariadb` client (verifying gatehouse's
//! certificate), PyMySQL and MySQL's Connector/Python against the machine's MariaDB 10.11,
//! under the quickstart policy: readers read with personal data masked, their writes are
//! refused by policy and by their least-privileged account, writers' DELETEs wait for an
//! admin's approval and run once, and the bypass corpus (`tests/bypass/mysql.toml`) gets
//! nothing past the gateway, checked on the server directly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod mysqlhost;
mod support;

use mysqlhost::{MysqlHost, shown};
use serde::Deserialize;
use support::{Options, quickstart_policy};

const PEOPLE: &str = "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(50), \
     email VARCHAR(100), card VARCHAR(30)); \
     INSERT INTO people VALUES (1, 'Ann', 'ann@example.com', '4111 1111 1111 1111'), \
     (2, 'Bob', 'bob@example.com', '5500 0000 0000 0004')";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn a_reader_reads_over_verified_tls_with_personal_data_masked_and_an_admin_sees_it_raw() {
    let host = MysqlHost::start(PEOPLE, "");
    let reader = host.gateway.key("rita", &["readers"]);
    let read = host.mariadb(
        "rita",
        &reader,
        "SELECT id, name, email, card FROM people ORDER BY id",
    );
    assert!(read.status.success(), "{}", shown(&read));
    let rows = stdout(&read);
    assert!(rows.contains("Ann"), "{rows}");
    assert!(!rows.contains("ann@example.com"), "email unmasked: {rows}");
    assert!(
        !rows.contains("4111 1111 1111 1111"),
        "card unmasked: {rows}"
    );

    // An expression over a masked value is masked too.
    let derived = host.mariadb(
        "rita",
        &reader,
        "SELECT CONCAT('<', email, '>') FROM people WHERE id = 1",
    );
    assert!(derived.status.success(), "{}", shown(&derived));
    assert!(
        !stdout(&derived).contains("ann@example.com"),
        "{}",
        stdout(&derived)
    );

    let admin = host.gateway.key("ana", &["admins"]);
    let raw = host.mariadb("ana", &admin, "SELECT email FROM people WHERE id = 1");
    assert!(raw.status.success(), "{}", shown(&raw));
    assert_eq!(stdout(&raw), "ann@example.com");

    let outcome = host
        .gateway
        .outcome_of("sql:select", "SELECT id, name, email, card FROM people");
    assert_eq!(outcome["rows"], 2, "{outcome:#}");
}

#[test]
fn a_readers_writes_are_refused_by_policy_and_the_rows_stay() {
    let host = MysqlHost::start(PEOPLE, "");
    let reader = host.gateway.key("rita", &["readers"]);
    for sql in [
        "DELETE FROM people WHERE id = 1",
        "UPDATE people SET name = 'x'",
        "INSERT INTO people VALUES (3, 'Eve', NULL, NULL)",
        "DROP TABLE people",
    ] {
        let refused = host.mariadb("rita", &reader, sql);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{sql}: {}", shown(&refused));
        assert!(
            said.contains("gatehouse: permission denied"),
            "{sql}: {said}"
        );
    }
    assert_eq!(
        host.direct("SELECT COUNT(*), GROUP_CONCAT(name ORDER BY id) FROM people"),
        "2\tAnn,Bob"
    );
    let events = host.gateway.audit_events();
    let denied: Vec<_> = events
        .iter()
        .filter(|e| {
            e["connection"] == "shop"
                && e["decision"] == "deny"
                && e["action"].as_str().is_some_and(|a| a.starts_with("sql:"))
        })
        .collect();
    assert_eq!(denied.len(), 4, "{denied:#?}");
    assert!(
        denied.iter().any(|e| e["action"] == "sql:delete"),
        "{denied:#?}"
    );
}

#[test]
fn a_writers_delete_waits_for_an_admins_approval_and_runs_once() {
    let host = MysqlHost::start(PEOPLE, "");
    let writer = host.gateway.key("will", &["writers"]);
    let admin = host.gateway.key("ana", &["admins"]);
    let delete = "DELETE FROM people WHERE id = 2";
    let held = host.mariadb("will", &writer, delete);
    let said = String::from_utf8_lossy(&held.stderr).into_owned();
    assert!(!held.status.success(), "{}", shown(&held));
    assert!(said.contains("held for approval"), "{said}");
    assert_eq!(host.direct("SELECT COUNT(*) FROM people"), "2");
    let id = said
        .split("held for approval ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c == ':' || c.is_whitespace()).next())
        .unwrap()
        .to_owned();
    let approved = host.gateway.cli_as(&admin, &["approvals", "approve", &id]);
    assert!(approved.status.success(), "{}", shown(&approved));

    let ran = host.mariadb("will", &writer, delete);
    assert!(ran.status.success(), "{}", shown(&ran));
    assert_eq!(host.direct("SELECT GROUP_CONCAT(id) FROM people"), "1");
    let again = host.mariadb("will", &writer, delete);
    assert!(
        !again.status.success(),
        "the approval is single use: {}",
        shown(&again)
    );
}

#[test]
fn tls_is_required_and_a_forged_token_is_refused() {
    let host = MysqlHost::start(PEOPLE, "");
    let reader = host.gateway.key("rita", &["readers"]);
    let port = host.mysql_addr.port().to_string();
    let plain = std::process::Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &port, "-u", "rita", "--skip-ssl"])
        .arg(format!("-p{reader}"))
        .args(["-e", "SELECT 1", "shop"])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "{}", shown(&plain));
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains("TLS"),
        "{}",
        shown(&plain)
    );

    let mut forged = reader.clone();
    forged.pop();
    forged.push(if reader.ends_with('A') { 'B' } else { 'A' });
    let refused = host.mariadb("rita", &forged, "SELECT 1");
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("gatehouse"),
        "{}",
        shown(&refused)
    );
}

#[test]
fn load_data_local_is_refused_and_reads_no_client_file() {
    let host = MysqlHost::start(PEOPLE, "");
    let admin = host.gateway.key("ana", &["admins"]);
    let file = host.gateway.dir.path().join("rows.csv");
    std::fs::write(&file, "9,Mallory,m@example.com,0\n").unwrap();
    let sql = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE people FIELDS TERMINATED BY ','",
        file.display()
    );
    let refused = host.mariadb_with("ana", &admin, &sql, &["--local-infile=1"]);
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("gatehouse"),
        "{}",
        shown(&refused)
    );
    assert_eq!(host.direct("SELECT COUNT(*) FROM people"), "2");
}

#[test]
fn multi_statements_are_decided_together_and_prepared_statements_are_masked_in_binary_rows() {
    let host = MysqlHost::start(PEOPLE, "");
    let reader = host.gateway.key("rita", &["readers"]);
    let answers = host.pymysql(
        "rita",
        &reader,
        &[
            "SELECT name FROM people WHERE id = 1; SELECT email FROM people WHERE id = 2"
                .to_owned(),
            "SELECT 1; DELETE FROM people WHERE id = 1".to_owned(),
        ],
    );
    assert_eq!(answers[0]["ok"], true, "{answers:#?}");
    assert_eq!(answers[0]["results"][0][0][0], "Ann", "{answers:#?}");
    let email = answers[0]["results"][1][0][0].as_str().unwrap_or_default();
    assert!(!email.contains("bob@example.com"), "{answers:#?}");
    assert_eq!(answers[1]["ok"], false, "{answers:#?}");
    assert!(
        answers[1]["message"]
            .as_str()
            .unwrap()
            .starts_with("gatehouse: "),
        "{answers:#?}"
    );
    assert_eq!(host.direct("SELECT COUNT(*) FROM people"), "2");

    let prepared = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, mysql.connector\n\
             c = mysql.connector.connect(host='127.0.0.1', port=int(sys.argv[1]), user='rita', password=sys.argv[2],\n\
                 database='shop', ssl_ca=sys.argv[3], ssl_verify_cert=True)\n\
             cur = c.cursor(prepared=True)\n\
             cur.execute('SELECT id, email, card FROM people WHERE id = %s', (1,))\n\
             print(repr(cur.fetchall()))\n",
        )
        .arg(host.mysql_addr.port().to_string())
        .arg(&reader)
        .arg(host.gateway.ca_file())
        .output()
        .unwrap();
    assert!(prepared.status.success(), "{}", shown(&prepared));
    let rows = stdout(&prepared);
    assert!(rows.contains("(1,"), "{rows}");
    assert!(
        !rows.contains("ann@example.com") && !rows.contains("4111"),
        "{rows}"
    );
    let outcome = host.gateway.outcome_of(
        "sql:select",
        "SELECT id, email, card FROM people WHERE id = ?",
    );
    assert_eq!(outcome["rows"], 1, "{outcome:#}");
}

#[derive(Debug, Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    identity: String,
    defended_by: String,
    queries: Vec<String>,
    expect: Vec<String>,
}

/// The fixtures every case may aim at: a canary, and a function and a procedure that write.
const FIXTURES: &str = "CREATE TABLE canary (id INT PRIMARY KEY, note VARCHAR(20)); \
INSERT INTO canary (id) VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10); \
CREATE TABLE trap (hit INT);
DELIMITER //
CREATE FUNCTION wipe() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO trap VALUES (1); RETURN 1; END//
CREATE PROCEDURE wipe_rows() BEGIN INSERT INTO trap VALUES (2); DELETE FROM canary WHERE id = 10; END//
DELIMITER ;
SELECT 1";

/// Policy for the `server` cases: readers may write and change the schema, so only their
/// SELECT-only account stands in the way.
const PERMISSIVE: &str = "@id(\"readers-may-try-anything\")\npermit (principal in Gatehouse::Group::\"readers\", \
action in [Gatehouse::Action::\"sql:write\", Gatehouse::Action::\"sql:ddl\"], resource);\n";

#[test]
fn the_mysql_bypass_corpus_gets_nothing_past_the_gateway() {
    let text = std::fs::read_to_string(
        support::repo_root().join("crates/gatehouse/tests/bypass/mysql.toml"),
    )
    .unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    for defence in ["gatehouse", "server"] {
        let options = Options {
            policy: (defence == "server").then(|| format!("{}\n{PERMISSIVE}", quickstart_policy())),
            ..Options::default()
        };
        let host = MysqlHost::start_with(FIXTURES, "", options, defence == "gatehouse");
        let tables = host.direct("SHOW TABLES");
        for case in corpus.case.iter().filter(|c| c.defended_by == defence) {
            assert_eq!(case.queries.len(), case.expect.len(), "{}", case.name);
            let token = host
                .gateway
                .key(&format!("{}-tester", case.identity), &[&case.identity]);
            let answers = host.pymysql("tester", &token, &case.queries);
            assert!(
                answers[0].get("connect_error").is_none(),
                "{}: {answers:#?}",
                case.name
            );
            for (index, expected) in case.expect.iter().enumerate() {
                let answer = answers.get(index).cloned().unwrap_or_default();
                let message = answer["message"].as_str().unwrap_or_default();
                let ok = answer["ok"] == true;
                let matches = match expected.as_str() {
                    "ok" => ok,
                    "refused" => !ok && message.starts_with("gatehouse: "),
                    "error" => !ok,
                    "any" => true,
                    other => panic!("unknown expectation {other}"),
                };
                assert!(
                    matches,
                    "case `{}`, query {index} ({}): expected {expected}, got {answer}",
                    case.name, case.queries[index]
                );
            }
            assert_eq!(
                host.direct("SELECT GROUP_CONCAT(id ORDER BY id) FROM canary"),
                "1,2,3,4,5,6,7,8,9,10",
                "case `{}` changed the canary",
                case.name
            );
            assert_eq!(
                host.direct("SELECT COUNT(*) FROM trap"),
                "0",
                "case `{}` ran a trap",
                case.name
            );
            assert_eq!(
                host.direct("SHOW TABLES"),
                tables,
                "case `{}` changed the schema",
                case.name
            );
            assert_eq!(
                mysqlhost::root("SELECT COUNT(*) FROM mysql.user WHERE user = 'pwned'"),
                "0",
                "case `{}` created an account",
                case.name
            );
        }
    }
}

#[test]
fn gatehouse_connect_serves_mysql_clients_that_have_no_password_and_no_database() {
    use std::io::BufRead;
    let host = MysqlHost::start(PEOPLE, "");
    let reader = host.gateway.key("rita", &["readers"]);
    let mut connect = std::process::Command::new(support::binary())
        .arg("--config")
        .arg(host.gateway.config_path())
        .arg("--data-dir")
        .arg(host.gateway.data_dir())
        .args(["connect", "shop", "--output", "json"])
        .env("GATEHOUSE_TOKEN", &reader)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(connect.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announced: serde_json::Value = serde_json::from_str(&line).unwrap();
    let port = announced["listen"]
        .as_str()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_owned();
    let local = |sql: &str| {
        std::process::Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", &port, "-u", "rita", "--skip-ssl"])
            .args(["--batch", "--skip-column-names", "-e", sql])
            .output()
            .unwrap()
    };
    let read = local("SELECT name, email FROM people WHERE id = 1");
    let refused = local("DELETE FROM people");
    let _ = connect.kill();
    let _ = connect.wait();
    assert!(read.status.success(), "{}", shown(&read));
    let row = stdout(&read);
    assert!(
        row.starts_with("Ann\t") && !row.contains("ann@example.com"),
        "{row}"
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("gatehouse: permission denied"),
        "{}",
        shown(&refused)
    );
    assert_eq!(host.direct("SELECT COUNT(*) FROM people"), "2");
    let select = host
        .gateway
        .audit_events()
        .into_iter()
        .find(|e| e["statement"] == "SELECT name, email FROM people WHERE id = 1")
        .expect("the select is audited");
    assert_eq!(select["identity"]["subject"], "rita");
    assert_eq!(select["connection"], "shop");
}

#[test]
fn what_gui_tools_and_the_cli_send_on_connect_works_for_a_reader() {
    let host = MysqlHost::start(PEOPLE, "");
    let reader = host.gateway.key("rita", &["readers"]);
    let statements: Vec<String> = [
        "SELECT @@version_comment LIMIT 1",
        "SET NAMES utf8mb4",
        "SET NAMES utf8",
        "SET autocommit = 1",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        "SELECT @@session.tx_isolation, @@session.tx_read_only, @@max_allowed_packet",
        "SHOW DATABASES",
        "SHOW VARIABLES LIKE 'lower_case_table_names'",
        "SELECT DATABASE(), CONNECTION_ID(), CURRENT_USER()",
        "SHOW FULL TABLES",
        "SHOW COLUMNS FROM people",
        "SHOW CREATE TABLE people",
        "SHOW WARNINGS",
        "SHOW COLLATION LIKE 'utf8mb4_bin'",
        "SELECT * FROM information_schema.COLUMNS WHERE TABLE_NAME = 'people'",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let answers = host.pymysql("rita", &reader, &statements);
    for (statement, answer) in statements.iter().zip(&answers) {
        assert_eq!(answer["ok"], true, "{statement}: {answer}");
    }
    assert_eq!(answers.len(), statements.len(), "{answers:#?}");
}

/// sqlx, the Rust driver: its connect-time `SET sql_mode = (SELECT CONCAT(@@sql_mode, ...)),
/// time_zone = ..., NAMES ...` (a mode only the server can compute, followed through session
/// tracking), prepared statements with bound parameters, binary rows masked, a refused write
/// and the session going on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_reads_with_bound_parameters_and_its_refused_write_leaves_the_session_usable() {
    use sqlx::ConnectOptions;
    let host = MysqlHost::start(PEOPLE, "");
    let reader = host.gateway.key("rita", &["readers"]);
    let options = sqlx::mysql::MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(host.mysql_addr.port())
        .username("rita")
        .password(&reader)
        .database("shop")
        .ssl_mode(sqlx::mysql::MySqlSslMode::VerifyIdentity)
        .ssl_ca(host.gateway.ca_file());
    let mut connection = options.connect().await.unwrap();
    let rows: Vec<(i32, String, Option<String>)> =
        sqlx::query_as("SELECT id, name, email FROM people WHERE id > ? ORDER BY id")
            .bind(0)
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].1, "Ann");
    assert!(
        rows.iter().all(|(_, _, email)| !email
            .as_deref()
            .unwrap_or_default()
            .contains("@example.com")),
        "{rows:?}"
    );
    let refused = sqlx::query("DELETE FROM people WHERE id = ?")
        .bind(1)
        .execute(&mut connection)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("gatehouse: permission denied"),
        "{refused}"
    );
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM people")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(count, 2);
    assert_eq!(host.direct("SELECT COUNT(*) FROM people"), "2");
}

/// A MySQL connection served by an agent: the gateway's config names only the agent; the
/// agent's holds the server and its credentials, dials it and logs in; policy, masking and the
/// audit log stay at the gateway.
#[test]
fn an_agent_serves_a_mysql_connection_whose_credentials_the_gateway_never_holds() {
    let options = Options {
        extra: "[agents]\nlisten = \"127.0.0.1:0\"\n\n[[connections]]\nname = \"remote\"\n\
                kind = \"mysql\"\nagents = [\"dc1\"]\n[connections.masking]\n\n"
            .to_owned(),
        ..Options::default()
    };
    let host = MysqlHost::start_with(PEOPLE, "", options, false);
    let _agent = support::agent_process::AgentProcess::start(
        &host.gateway,
        "dc1",
        &format!(
            "[[connections]]\nname = \"remote\"\nkind = \"mysql\"\nhost = \"127.0.0.1\"\n\
             port = 3306\ndatabase = \"{}\"\nuser = \"root\"\n",
            host.database
        ),
    );
    let reader = host.gateway.key("rita", &["readers"]);
    let mariadb = |sql: &str| {
        let port = host.mysql_addr.port().to_string();
        std::process::Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", &port, "-u", "rita"])
            .arg(format!("-p{reader}"))
            .arg(format!("--ssl-ca={}", host.gateway.ca_file().display()))
            .args(["--ssl-verify-server-cert", "--batch", "--skip-column-names"])
            .args(["-e", sql, "remote"])
            .output()
            .unwrap()
    };
    let read = mariadb("SELECT name, email FROM people WHERE id = 2");
    assert!(read.status.success(), "{}", shown(&read));
    let row = stdout(&read);
    assert!(
        row.starts_with("Bob\t") && !row.contains("bob@example.com"),
        "{row}"
    );
    let refused = mariadb("DELETE FROM people");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("gatehouse: permission denied"),
        "{}",
        shown(&refused)
    );
    assert_eq!(host.direct("SELECT COUNT(*) FROM people"), "2");
    let config = std::fs::read_to_string(host.gateway.config_path()).unwrap();
    let remote = config.split("name = \"remote\"").nth(1).unwrap_or_default();
    assert!(
        !remote
            .split("[[connections]]")
            .next()
            .unwrap_or_default()
            .contains("host"),
        "the gateway's config holds no target for `remote`"
    );
}
