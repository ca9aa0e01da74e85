//! The ways a penetration test read raw values through a masked session, each closed, through
//! real clients (psql and tokio-postgres) against real PostgreSQL: server errors, notices,
//! notifications and reported settings quoting values; values transformed until no detector
//! recognises them (casts, string functions, encodings, aggregates, floats in binary);
//! conditions that reveal a masked column without returning it; and the same through cursors
//! and prepared statements. Also `gatehouse mask scan`, which finds the columns to declare.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::{Gateway, Options, TestDb, message, sqlstate};
use tokio_postgres::SimpleQueryMessage;

const CARD: &str = "4539578763621486";
const EMAIL: &str = "ana@example.com";
const IBAN: &str = "GB82WEST12345698765432";
const SSN: &str = "536-22-1234";
const JWT: &str = "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiMTIzNDU2Nzg5MCIsICJuYW1lIjogIkFuYSJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const JWT_PAYLOAD: &str = "eyJzdWIiOiAiMTIzNDU2Nzg5MCIsICJuYW1lIjogIkFuYSJ9";
const AWS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// Every raw value a masked client must never see, in any form the tests produce.
const RAW: &[&str] = &[
    CARD,
    "4.539578763621486e+15",
    EMAIL,
    IBAN,
    "gb82west12345698765432",
    SSN,
    "536221234",
    JWT,
    JWT_PAYLOAD,
    AWS_KEY_ID,
    AWS_SECRET,
];

fn assert_no_raw(seen: &str, what: &str) {
    for raw in RAW {
        assert!(!seen.contains(raw), "{what} shows {raw}: {seen}");
    }
}

async fn people_db() -> TestDb {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute(&format!(
            "CREATE TABLE people (id int PRIMARY KEY, name text, email text, card text, iban text,
                                  ssn text, jwt text, aws_secret text, note text);
             INSERT INTO people VALUES
               (1, 'Ana', '{EMAIL}', '{CARD}', '{IBAN}', '{SSN}', '{JWT}', '{AWS_SECRET}', 'likes tea'),
               (2, 'Bo', 'bo@example.org', '5500000000000004', 'DE89370400440532013000', '536-22-4321',
                NULL, NULL, 'plain');
             CREATE FUNCTION chatty() RETURNS int LANGUAGE plpgsql AS $$
             BEGIN
               RAISE NOTICE 'email % card % ssn % key %', '{EMAIL}', '{CARD}', '{SSN}', '{AWS_KEY_ID}';
               RETURN 1;
             END $$;"
        ))
        .await
        .unwrap();
    db
}

/// Column rules for every sensitive column of `people`; `email` may be compared for equality.
const RULES: &str = r#"
[[connections.masking.columns]]
name = "people.card"
strategy = { partial = 4 }

[[connections.masking.columns]]
name = "people.email"
strategy = "hash"
allow = ["equality"]

[[connections.masking.columns]]
name = "people.iban"
strategy = { partial = 4 }

[[connections.masking.columns]]
name = "people.ssn"
strategy = { partial = 4 }

[[connections.masking.columns]]
name = "people.jwt"
strategy = "redact"

[[connections.masking.columns]]
name = "*secret*"
strategy = "redact"
"#;

fn gateway(db: &TestDb, masking: &str) -> Gateway {
    Gateway::start_with(
        &db.name,
        Options {
            demo_extra: format!("[connections.masking]\n{masking}"),
            ..Options::default()
        },
    )
}

/// A client whose notices and notifications arrive, as text, on the returned channel.
async fn connect_listening(
    gateway: &Gateway,
    user: &str,
    token: &str,
) -> (
    tokio_postgres::Client,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    let (client, mut connection) = gateway
        .client_config(user, token, "demo")
        .connect(gateway.tls())
        .await
        .unwrap();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            let text = match message {
                tokio_postgres::AsyncMessage::Notice(notice) => format!(
                    "notice: {} {:?} {:?} {:?}",
                    notice.message(),
                    notice.detail(),
                    notice.hint(),
                    notice.where_()
                ),
                tokio_postgres::AsyncMessage::Notification(notification) => format!(
                    "notification {}: {}",
                    notification.channel(),
                    notification.payload()
                ),
                _ => continue,
            };
            if sender.send(text).is_err() {
                return;
            }
        }
    });
    (client, receiver)
}

/// The values of the first row of a simple query, as text (`None` for NULL).
async fn first_row(client: &tokio_postgres::Client, sql: &str) -> Vec<Option<String>> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", message(&e)));
    let row = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"));
    (0..row.len())
        .map(|i| row.get(i).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn errors_notices_and_notifications_never_quote_raw_values() {
    let db = people_db().await;
    // Detectors only: no column rules, so nothing is withheld and the detectors must do it.
    let gateway = gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    for sql in [
        "SELECT card::int FROM people WHERE id = 1",
        "SELECT email::int FROM people WHERE id = 1",
        "SELECT jwt::int FROM people WHERE id = 1",
        "SELECT iban::numeric FROM people WHERE id = 1",
    ] {
        let error = client.simple_query(sql).await.unwrap_err();
        let db_error = error.as_db_error().expect("a server error");
        let everything = format!(
            "{} {:?} {:?} {:?}",
            db_error.message(),
            db_error.detail(),
            db_error.hint(),
            db_error.where_()
        );
        assert_no_raw(&everything, sql);
        assert_eq!(sqlstate(&error).as_deref(), Some(db_error.code().code()));
    }
    let error = client
        .simple_query("SELECT card::int FROM people WHERE id = 1")
        .await
        .unwrap_err();
    assert!(
        message(&error).contains("************1486"),
        "the detector's mask stands in for the value: {}",
        message(&error)
    );

    // A function's RAISE NOTICE, and a NOTIFY payload sent by another session to a masked
    // listener, as the client receives them.
    let (listener, mut messages) = connect_listening(&gateway, "ana", &token).await;
    listener.batch_execute("LISTEN ch").await.unwrap();
    db.direct()
        .await
        .batch_execute(&format!("NOTIFY ch, 'card {CARD} mail {EMAIL}'"))
        .await
        .unwrap();
    listener.batch_execute("SELECT chatty()").await.unwrap();
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(30), messages.recv())
            .await
            .expect("the notice and the notification arrive")
            .expect("the connection stays open");
        heard.push(next);
    }
    let heard = heard.join("\n");
    assert!(heard.contains("notification ch:"), "{heard}");
    assert!(heard.contains("notice: email "), "{heard}");
    assert_no_raw(&heard, "notices and notifications");
    assert!(heard.contains("1486"), "masked, not dropped: {heard}");

    // Nothing unmasked reaches the audit log's outcome errors either.
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = serde_json::to_string(&gateway.audit_events()).unwrap();
    assert!(events.contains("22003"), "the outcome error is recorded");
    assert_no_raw(&events, "the audit log");
}

#[tokio::test]
async fn errors_of_statements_computing_on_masked_columns_are_withheld() {
    let db = people_db().await;
    let gateway = gateway(&db, RULES);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    // The error would quote the JWT's payload, which no detector recognises on its own.
    let error = client
        .simple_query("SELECT split_part(jwt, '.', 2)::int FROM people WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("22P02"));
    assert!(
        message(&error).contains("withheld") && message(&error).contains("people.jwt"),
        "{}",
        message(&error)
    );
    assert_no_raw(&message(&error), "the withheld error");
    // Gatehouse's own refusals keep their words.
    let refused = client
        .simple_query("SELECT id FROM people WHERE card LIKE '4%'")
        .await
        .unwrap_err();
    assert!(message(&refused).starts_with("gatehouse: permission denied"));
}

#[tokio::test]
async fn transformed_masked_columns_come_back_masked_whole() {
    let db = people_db().await;
    let gateway = gateway(&db, RULES);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let redacted = Some("[REDACTED]".to_owned());
    for sql in [
        "SELECT replace(email, '@', ' at ') FROM people WHERE id = 1",
        "SELECT lower(iban) FROM people WHERE id = 1",
        "SELECT replace(ssn, '-', '') FROM people WHERE id = 1",
        "SELECT split_part(jwt, '.', 2) FROM people WHERE id = 1",
        r"SELECT regexp_replace(card, '(....)', '\1.', 'g') FROM people WHERE id = 1",
        "SELECT encode(convert_to(card, 'UTF8'), 'base64') FROM people WHERE id = 1",
        "SELECT reverse(card) AS harmless FROM people WHERE id = 1",
        "SELECT string_agg(card, ',') FROM people",
        "SELECT x FROM (SELECT substr(card, 1, 8) AS x FROM people WHERE id = 1) s",
    ] {
        let row = first_row(&client, sql).await;
        assert_eq!(row[0], redacted, "{sql}");
    }
    // Digits spread over columns: each part is masked.
    let row = first_row(
        &client,
        "SELECT substr(card, 1, 8), substr(card, 9, 8) FROM people WHERE id = 1",
    )
    .await;
    assert_eq!(row, [redacted.clone(), redacted.clone()]);
    // Non-text results of a masked column are NULL, in text and binary format alike.
    for sql in [
        "SELECT card::float8 FROM people WHERE id = 1",
        "SELECT card::money FROM people WHERE id = 1",
        "SELECT lpad(card, 32, '0')::uuid FROM people WHERE id = 1",
        "SELECT length(ssn) FROM people WHERE id = 1",
    ] {
        assert_eq!(first_row(&client, sql).await[0], None, "{sql}");
    }
    let row = client
        .query_one("SELECT card::float8 FROM people WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<f64>>(0), None, "binary float8");
    // A renamed plain reference keeps its rule's own strategy; other columns are untouched.
    let row = first_row(
        &client,
        "SELECT card AS n, name, note, aws_secret FROM people WHERE id = 1",
    )
    .await;
    assert_eq!(row[0].as_deref(), Some("************1486"));
    assert_eq!(row[1].as_deref(), Some("Ana"));
    assert_eq!(row[2].as_deref(), Some("likes tea"));
    assert_eq!(row[3], redacted, "a column rule by name covers aws_secret");
    // Admins see everything raw, transformed or not.
    let admin = gateway.key("root", &["admins"]);
    let root = gateway.connect("root", &admin).await.unwrap();
    let row = first_row(&root, "SELECT lower(iban) FROM people WHERE id = 1").await;
    assert_eq!(row[0].as_deref(), Some("gb82west12345698765432"));
}

#[tokio::test]
async fn a_secret_named_column_labels_its_values_for_the_detectors() {
    let db = people_db().await;
    let gateway = gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let row = first_row(&client, "SELECT aws_secret, note FROM people WHERE id = 1").await;
    assert_eq!(row[0].as_deref(), Some("[REDACTED:aws_secret_key]"));
    assert_eq!(row[1].as_deref(), Some("likes tea"));
}

#[tokio::test]
async fn conditions_on_masked_columns_are_refused_unless_allowed() {
    let db = people_db().await;
    let gateway = gateway(&db, RULES);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    for (sql, column) in [
        ("SELECT id FROM people WHERE card LIKE '4%'", "people.card"),
        (
            "SELECT id, CASE WHEN ssn LIKE '5%' THEN 1/0 END FROM people",
            "people.ssn",
        ),
        ("SELECT id FROM people ORDER BY card", "people.card"),
        ("SELECT count(*) FROM people GROUP BY iban", "people.iban"),
        (
            "SELECT id FROM people WHERE card = '4539578763621486'",
            "people.card",
        ),
        (
            "SELECT id FROM people p JOIN people q ON q.card > p.card",
            "people.card",
        ),
        ("SELECT to_json(p) FROM people p", "people"),
        ("SELECT id FROM people LIMIT length(ssn)", "people.ssn"),
    ] {
        let error = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{sql}");
        let text = format!(
            "{} {:?}",
            message(&error),
            error.as_db_error().map(|e| e.detail())
        );
        assert!(text.contains("sql:unknown"), "{sql}: {text}");
        assert!(text.contains(&format!("`{column}`")), "{sql}: {text}");
    }
    // The rule for email allows equality: looking someone up by email works, still hashed.
    let row = first_row(
        &client,
        "SELECT email, name FROM people WHERE email = 'ana@example.com'",
    )
    .await;
    assert!(row[0].as_deref().unwrap().starts_with("masked:"), "{row:?}");
    assert_eq!(row[1].as_deref(), Some("Ana"));
    // Refusals go through policy and the audit log, with the reason.
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = gateway.audit_events();
    let refused = events
        .iter()
        .find(|e| e["statement"] == "SELECT id FROM people WHERE card LIKE '4%'")
        .unwrap();
    assert_eq!(refused["decision"], "deny");
    assert_eq!(refused["action"], "sql:unknown");
    assert!(
        refused.to_string().contains("masked column `people.card`"),
        "{refused}"
    );
    // Unmasked identities are not affected.
    let admin = gateway.key("root", &["admins"]);
    let root = gateway.connect("root", &admin).await.unwrap();
    let row = first_row(&root, "SELECT id FROM people WHERE card LIKE '4%'").await;
    assert_eq!(row[0].as_deref(), Some("1"));
}

#[tokio::test]
async fn cursors_and_prepared_statements_carry_the_lineage_of_their_query() {
    let db = people_db().await;
    let gateway = gateway(&db, RULES);
    let token = gateway.key("ana", &["readers"]);
    let (ok, out, err) = gateway.psql(
        "ana",
        &token,
        "BEGIN; DECLARE c CURSOR FOR SELECT lower(iban) AS x, card::float8 AS y FROM people WHERE id = 1; \
         FETCH ALL c; COMMIT; \
         PREPARE p AS SELECT replace(ssn, '-', '') AS z FROM people WHERE id = 1; EXECUTE p;",
    );
    assert!(ok, "{err}");
    assert!(out.contains("[REDACTED]|"), "{out}");
    assert_no_raw(&out, "FETCH and EXECUTE");
    // The extended protocol, binary float8: a prepared statement run twice.
    let client = gateway.connect("ana", &token).await.unwrap();
    let statement = client
        .prepare("SELECT card::float8, replace(email, '@', '') FROM people WHERE id = $1")
        .await
        .unwrap();
    for _ in 0..2 {
        let row = client.query_one(&statement, &[&1i32]).await.unwrap();
        assert_eq!(row.get::<_, Option<f64>>(0), None);
        assert_eq!(
            row.get::<_, Option<String>>(1).as_deref(),
            Some("[REDACTED]")
        );
    }
    let refused = client
        .simple_query("DECLARE d CURSOR WITH HOLD FOR SELECT id FROM people ORDER BY card")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"));
}

#[tokio::test]
async fn numbers_are_scanned_as_digits_in_text_and_binary() {
    let db = people_db().await;
    let gateway = gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    // (a float4 keeps 7 digits of a card number, so it holds none to mask)
    let sql = format!(
        "SELECT {CARD}::float8 AS f, {CARD}::numeric / 100 AS n, '{CARD}'::money AS m, \
         42.5::float8 AS benign, 1234.50::numeric AS amount"
    );
    let row = first_row(&client, &sql).await;
    assert_eq!(row[..3], [None, None, None], "text format: {row:?}");
    assert_eq!(row[3].as_deref(), Some("42.5"));
    assert_eq!(row[4].as_deref(), Some("1234.50"));
    let row = client.query_one(&sql, &[]).await.unwrap();
    assert_eq!(row.get::<_, Option<f64>>("f"), None, "binary float8");
    assert_eq!(row.get::<_, Option<f64>>("benign"), Some(42.5));
}

#[tokio::test]
async fn mask_scan_proposes_rules_for_the_columns_holding_sensitive_values() {
    let db = people_db().await;
    let gateway = gateway(&db, "");
    let output = gateway.cli(&["mask", "scan", "demo", "--tables", "people"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("scanning public.people"), "{stderr}");
    let proposed: toml::Value = toml::from_str(&stdout).unwrap();
    let rules = proposed["connections"]["masking"]["columns"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for expected in [
        "people.email",
        "people.card",
        "people.iban",
        "people.ssn",
        "people.jwt",
        "people.aws_secret",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {stdout}");
    }
    assert!(
        !names.contains(&"people.note") && !names.contains(&"people.name"),
        "{stdout}"
    );
    assert_no_raw(&stdout, "the scan's proposal");

    let output = gateway.cli(&[
        "mask", "scan", "demo", "--tables", "people", "--rows", "1", "--output", "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let card = report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "card")
        .unwrap();
    assert_eq!(card["sampled"], 1);
    assert_eq!(card["findings"]["payment_card"], 1);
    assert_eq!(card["rule"]["strategy"]["partial"], 4);
}
