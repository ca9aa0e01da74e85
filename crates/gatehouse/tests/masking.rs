//! Masking in the data path, through real clients against real PostgreSQL: psql (simple
//! protocol, text format) and tokio-postgres (extended protocol, binary format). Sensitive
//! values never reach a masked session, benign values come back byte for byte, every response
//! stays valid for its types, what cannot be masked safely fails closed, and the audit log
//! counts what was masked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::{Gateway, Options, TestDb, message, sqlstate};

const PEOPLE: &str = "CREATE TABLE people (
        id int PRIMARY KEY,
        email text,
        card text,
        card_number bigint,
        note text,
        born date,
        ref uuid,
        password_hash text,
        profile jsonb
    );
    INSERT INTO people VALUES
      (1, 'ana@example.com', '4111 1111 1111 1111', 4111111111111111, 'likes tea',
       '1990-05-01', 'b0b1e6a4-8d1e-4c57-9d3e-1f2a3b4c5d6e', '$2b$12$abcdefghijklmnopqrstuv',
       '{\"contact\": \"ana@example.com\", \"age\": 36}'),
      (2, 'bo@example.org', '5500-0000-0000-0004', 1234, 'order 1234-5678-9012-3456 shipped',
       '1985-12-24', '00000000-0000-0000-0000-000000000001', 'x', '{}')";

/// A `jsonb` value as it arrives in binary format: a version byte, then the JSON text.
struct Jsonb(serde_json::Value);

impl<'a> tokio_postgres::types::FromSql<'a> for Jsonb {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let (version, json) = raw.split_first().ok_or("empty jsonb")?;
        assert_eq!(*version, 1, "jsonb binary version");
        Ok(Jsonb(serde_json::from_slice(json)?))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        *ty == tokio_postgres::types::Type::JSONB
    }
}

/// Any non-NULL value, of any type.
struct AnyValue;

impl<'a> tokio_postgres::types::FromSql<'a> for AnyValue {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        _: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(AnyValue)
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

async fn people_db() -> TestDb {
    let db = TestDb::create().await;
    db.direct().await.batch_execute(PEOPLE).await.unwrap();
    db
}

fn masked_gateway(db: &TestDb, masking: &str) -> Gateway {
    Gateway::start_with(
        &db.name,
        Options {
            demo_extra: format!("[connections.masking]\n{masking}"),
            ..Options::default()
        },
    )
}

#[tokio::test]
async fn psql_sees_masked_sensitive_values_and_benign_values_unchanged() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let (ok, out, err) = gateway.psql(
        "ana",
        &token,
        "SELECT email, card, card_number, note, born, ref FROM people ORDER BY id",
    );
    assert!(ok, "{err}");
    assert!(
        !out.contains("ana@example.com") && !out.contains("4111 1111 1111 1111"),
        "{out}"
    );
    assert!(
        out.contains("email:"),
        "emails are hashed by default: {out}"
    );
    assert!(
        out.contains("**** **** **** 1111"),
        "cards keep their last four: {out}"
    );
    assert!(out.contains("****-****-****-0004"), "{out}");
    // Benign values, byte for byte.
    for benign in [
        "likes tea",
        "order 1234-5678-9012-3456 shipped",
        "1990-05-01",
        "b0b1e6a4-8d1e-4c57-9d3e-1f2a3b4c5d6e",
        "1234",
    ] {
        assert!(out.contains(benign), "{benign} changed: {out}");
    }
    assert!(
        !out.contains("4111111111111111"),
        "a card in a bigint becomes NULL: {out}"
    );

    let (ok, out, _) = gateway.psql(
        "ana",
        &token,
        "SELECT 'ana@example.com' AS email, '4111 1111 1111 1111' AS card, 42 AS n",
    );
    assert!(ok);
    assert!(
        !out.contains("ana@example.com") && !out.contains("4111 1111 1111 1111"),
        "{out}"
    );
    assert!(out.contains("42"));
}

#[tokio::test]
async fn binary_results_of_the_extended_protocol_are_masked_and_stay_valid() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let rows = client
        .query(
            "SELECT id, email, card, card_number, note, born, ref, profile FROM people WHERE id = $1",
            &[&1i32],
        )
        .await
        .unwrap();
    let row = &rows[0];
    assert_eq!(row.get::<_, i32>("id"), 1);
    let email: String = row.get("email");
    assert!(email.starts_with("email:"), "{email}");
    assert_eq!(row.get::<_, String>("card"), "**** **** **** 1111");
    assert_eq!(row.get::<_, Option<i64>>("card_number"), None);
    assert_eq!(row.get::<_, String>("note"), "likes tea");
    let Jsonb(profile) = row.get("profile");
    assert!(profile["contact"].as_str().unwrap().starts_with("email:"));
    assert_eq!(profile["age"], 36);
    // The hash is deterministic: the same email masks to the same token everywhere.
    let again: String = client
        .query_one("SELECT 'ana@example.com'::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(again, email);
}

#[tokio::test]
async fn admins_see_raw_values_but_machines_never_do() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "");
    let admin = gateway.key("root", &["admins"]);
    let client = gateway.connect("root", &admin).await.unwrap();
    let email: String = client
        .query_one("SELECT email FROM people WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, "ana@example.com");

    let robot = gateway.key_with("robot", &["admins"], &["--kind", "machine"]);
    let client = gateway.connect("robot", &robot).await.unwrap();
    let email: String = client
        .query_one("SELECT email FROM people WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        email.starts_with("email:"),
        "policy machines-see-masked: {email}"
    );
}

#[tokio::test]
async fn column_rules_mask_whole_columns_by_name_and_table() {
    let db = people_db().await;
    let gateway = masked_gateway(
        &db,
        "[[connections.masking.columns]]\nname = \"*password*\"\nstrategy = \"null\"\n\
         [[connections.masking.columns]]\nname = \"people.note\"\nstrategy = \"redact\"\n\
         [[connections.masking.columns]]\nname = \"born\"\nstrategy = \"redact\"\n",
    );
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let row = client
        .query_one(
            "SELECT password_hash, note, born FROM people WHERE id = 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Option<String>>("password_hash"), None);
    assert_eq!(row.get::<_, String>("note"), "[REDACTED]");
    assert!(
        row.get::<_, Option<AnyValue>>("born").is_none(),
        "a masked date column becomes NULL: nothing else is a valid date"
    );
}

/// Two results described by the same bytes (a computed text column `x`, no table) but derived
/// from different columns: the second must not be masked by the plan of the first, whatever
/// the order. The masker reuses a plan only for the same description, tables and lineage.
#[tokio::test]
async fn results_described_alike_are_masked_by_what_they_derive_from() {
    let db = people_db().await;
    let gateway = masked_gateway(
        &db,
        "[[connections.masking.columns]]\nname = \"people.note\"\nstrategy = \"redact\"\n",
    );
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let value = |messages: Vec<tokio_postgres::SimpleQueryMessage>| {
        messages
            .into_iter()
            .find_map(|message| match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .unwrap()
    };
    for _ in 0..2 {
        let plain = client
            .simple_query("SELECT lower(id::text) AS x FROM people WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(value(plain), "1");
        let derived = client
            .simple_query("SELECT lower(note) AS x FROM people WHERE id = 1")
            .await
            .unwrap();
        let derived = value(derived);
        assert!(!derived.contains("tea"), "people.note leaked: {derived}");
    }
}

#[tokio::test]
async fn a_binary_value_gatehouse_cannot_read_fails_closed() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    // tokio-postgres asks for text[] in binary format, which gatehouse cannot inspect.
    let error = client
        .query_one("SELECT ARRAY[email] FROM people WHERE id = 1", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("0A000"), "{error:?}");
    assert!(
        message(&error).contains("binary format"),
        "{}",
        message(&error)
    );
    // The same over psql (text format) is masked, not refused.
    let (ok, out, err) = gateway.psql(
        "ana",
        &token,
        "SELECT ARRAY[email] FROM people WHERE id = 1",
    );
    assert!(ok, "{err}");
    assert!(!out.contains("ana@example.com"), "{out}");
}

#[tokio::test]
async fn copy_to_stdout_is_masked_in_text_and_csv_and_refused_in_binary() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let (ok, out, err) = gateway.psql(
        "ana",
        &token,
        "COPY (SELECT id, email, note FROM people ORDER BY id) TO STDOUT",
    );
    assert!(ok, "{err}");
    assert!(!out.contains("@example"), "{out}");
    assert!(out.contains("likes tea"), "{out}");
    let (ok, out, err) = gateway.psql(
        "ana",
        &token,
        "COPY (SELECT email || ', x' AS e, card FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv)",
    );
    assert!(ok, "{err}");
    assert!(
        !out.contains("@example") && !out.contains("4111 1111"),
        "{out}"
    );
    assert!(out.lines().next().unwrap().starts_with("\"email:"), "{out}");
    let (ok, out, err) = gateway.psql("ana", &token, "COPY people TO STDOUT WITH (FORMAT binary)");
    assert!(!ok, "{out}");
    assert!(err.contains("binary format"), "{err}");
}

/// Found by fuzzing (`fuzz/`, target `pg_backend`): a CSV row that does not split on `,`
/// was forwarded unscanned. A client could ask for one: with `DELIMITER ';'` PostgreSQL quotes
/// a value holding `;`, and the row `"a;b";jane.doe@example.com` went out unmasked. Now the
/// COPY is refused; rows that still split (nothing needed quoting) are masked.
#[tokio::test]
async fn copy_csv_rows_gatehouse_cannot_split_are_refused_not_leaked() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let (ok, out, err) = gateway.psql(
        "ana",
        &token,
        "COPY (SELECT 'a;b' AS x, email FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER ';')",
    );
    assert!(!ok, "{out}");
    assert!(!out.contains("@example"), "{out}");
    assert!(err.contains("does not split into fields"), "{err}");
    let (ok, out, err) = gateway.psql(
        "ana",
        &token,
        "COPY (SELECT 'ab' AS x, email FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER ';')",
    );
    assert!(ok, "{err}");
    assert!(!out.contains("@example") && out.contains("ab;"), "{out}");
}

/// psql through the gateway with its own environment and several `-c` commands, each sent
/// as its own query in one session; returns (success, stdout, stderr).
fn psql_session(
    gateway: &Gateway,
    user: &str,
    token: &str,
    env: &[(&str, &str)],
    commands: &[&str],
) -> (bool, String, String) {
    let mut psql = std::process::Command::new("psql");
    psql.arg(gateway.psql_conninfo(user, "demo"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10");
    for command in commands {
        psql.args(["-c", command]);
    }
    for (name, value) in env {
        psql.env(name, value);
    }
    let output = psql.output().expect("run psql");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Found by fuzzing review: the detectors read UTF-8, and a value that was not UTF-8 went out
/// unscanned. A client could make every value with an accented letter such a value by asking
/// for another `client_encoding` — at startup, by `SET`, or by `set_config` inside a query —
/// or by `COPY ... (ENCODING ...)`. Masked sessions now read values in the session's encoding
/// (followed as the server reports it), mask them as text and write them back in it; a value
/// that cannot be read in it is refused. Nothing of `José jane.doe@example.com` reaches the
/// client either way.
#[tokio::test]
async fn a_client_cannot_escape_masking_by_changing_the_encoding() {
    let db = people_db().await;
    db.direct()
        .await
        .batch_execute("INSERT INTO people (id, email, note) VALUES (3, 'x@example.com', 'José jane.doe@example.com')")
        .await
        .unwrap();
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let leaked = |out: &str| out.contains("jane.doe");
    let query = "SELECT note FROM people WHERE id = 3";

    // UTF-8 (psql's choice under any UTF-8 or C locale) is masked as always.
    let (ok, out, err) = psql_session(
        &gateway,
        "ana",
        &token,
        &[("PGCLIENTENCODING", "UTF8")],
        &[query],
    );
    assert!(ok, "{err}");
    assert!(!leaked(&out) && out.contains("José"), "{out}");

    // Asked for at startup: values are read in LATIN1, masked, and sent back in LATIN1.
    let (ok, out, err) = psql_session(
        &gateway,
        "ana",
        &token,
        &[("PGCLIENTENCODING", "LATIN1")],
        &[query],
    );
    assert!(ok, "{err}");
    assert!(!leaked(&out) && out.contains("Jos\u{FFFD}"), "{out}");

    // SET, then a query: followed the same way.
    let (ok, out, err) = psql_session(
        &gateway,
        "ana",
        &token,
        &[],
        &["SET client_encoding = 'LATIN1'", query],
    );
    assert!(ok, "{err}");
    assert!(!leaked(&out) && out.contains("Jos\u{FFFD}"), "{out}");

    // SET and the query in one message: the server reports the change only at the end, so
    // the row arrives in LATIN1 while gatehouse still reads UTF-8: it cannot be read, and is
    // refused rather than passed on unscanned.
    let (ok, out, err) = psql_session(
        &gateway,
        "ana",
        &token,
        &[],
        &[&format!("SET client_encoding = 'LATIN1'; {query}")],
    );
    assert!(!ok && !leaked(&out), "{out}");
    assert!(
        err.contains("not valid in the session's client encoding"),
        "{err}"
    );

    // set_config inside a SELECT changes the encoding mid-query. Readers may not call it
    // (sql:admin); a machine in `admins` may, and is still masked.
    let (ok, _, err) = psql_session(
        &gateway,
        "ana",
        &token,
        &[],
        &["SELECT set_config('client_encoding', 'LATIN1', false)"],
    );
    assert!(!ok && err.contains("sql:admin"), "{err}");
    let robot = gateway.key_with("robot", &["admins"], &["--kind", "machine"]);
    let (ok, out, err) = psql_session(
        &gateway,
        "robot",
        &robot,
        &[],
        &["SELECT set_config('client_encoding', 'LATIN1', false), note FROM people WHERE id = 3"],
    );
    assert!(!ok && !leaked(&out), "{out}");
    assert!(err.contains("client encoding"), "{err}");

    // COPY converts to its own ENCODING whatever the client's is.
    let (ok, out, err) = psql_session(
        &gateway,
        "ana",
        &token,
        &[],
        &["COPY (SELECT note FROM people WHERE id = 3) TO STDOUT WITH (ENCODING 'LATIN1')"],
    );
    assert!(!ok && !leaked(&out), "{out}");
    assert!(
        err.contains("not valid in the session's client encoding"),
        "{err}"
    );

    // The gateway serves the next session normally.
    let (ok, out, err) = psql_session(&gateway, "ana", &token, &[], &[query]);
    assert!(ok && !leaked(&out), "{out}{err}");
}

#[tokio::test]
async fn copy_is_refused_where_column_rules_exist() {
    let db = people_db().await;
    let gateway = masked_gateway(
        &db,
        "[[connections.masking.columns]]\nname = \"*password*\"\nstrategy = \"null\"\n",
    );
    let token = gateway.key("ana", &["readers"]);
    let (ok, out, err) = gateway.psql("ana", &token, "COPY people TO STDOUT");
    assert!(!ok, "{out}");
    assert!(err.contains("COPY does not name its columns"), "{err}");
}

#[tokio::test]
async fn the_audit_log_counts_what_was_masked_never_the_values() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client
        .simple_query("SELECT email, card FROM people")
        .await
        .unwrap();
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = gateway.audit_events();
    let statement = events
        .iter()
        .find(|e| e["statement"] == "SELECT email, card FROM people")
        .unwrap();
    let outcome = events
        .iter()
        .find(|e| e["kind"] == "outcome" && e["refers_to"] == statement["seq"])
        .unwrap();
    assert_eq!(outcome["outcome"]["masked"]["email"], 2);
    assert_eq!(outcome["outcome"]["masked"]["payment_card"], 2);
    let exported = serde_json::to_string(&events).unwrap();
    assert!(!exported.contains("4111 1111 1111 1111"));
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "data:unmasked" && e["decision"] == "deny"),
        "the unmasking question is itself decided and recorded"
    );
}

#[tokio::test]
async fn exempt_groups_see_raw_values() {
    let db = people_db().await;
    let gateway = masked_gateway(&db, "exempt_groups = [\"support\"]\n");
    let token = gateway.key("sam", &["readers", "support"]);
    let client = gateway.connect("sam", &token).await.unwrap();
    let email: String = client
        .query_one("SELECT email FROM people WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(email, "ana@example.com");
}

#[tokio::test]
async fn an_invalid_masking_config_refuses_to_start_with_the_reason() {
    let db = TestDb::create().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[[connections]]\nname = \"demo\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\ndatabase = \"{}\"\nuser = \"postgres\"\n[connections.masking]\ndetectors = [\"emial\"]\n",
            db.name
        ),
    )
    .unwrap();
    let output = std::process::Command::new(support::binary())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("emial") && stderr.contains("demo"),
        "{stderr}"
    );
}

#[tokio::test]
async fn mask_test_explains_findings() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let output = gateway.cli(&[
        "mask",
        "test",
        "--text",
        "mail ana@example.com, card 4111 1111 1111 1111, order 1234-5678",
        "--output",
        "json",
    ]);
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let detectors: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["detector"].as_str().unwrap())
        .collect();
    assert_eq!(detectors, ["email", "payment_card"]);
    let masked = report["masked"].as_str().unwrap();
    assert!(
        masked.contains("order 1234-5678") && !masked.contains("ana@"),
        "{masked}"
    );
    let text = gateway.cli(&["mask", "test", "--text", "nothing to see"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("nothing to mask"));
}

/// One sample per built-in detector, and the part of it that must never reach a masked client.
fn detector_samples() -> Vec<(&'static str, String, String)> {
    use base64::Engine;
    let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let jwt = format!(
        "{}.{}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        b64(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64(r#"{"sub":"1234567890","name":"Ana"}"#)
    );
    let same = |s: &str| (s.to_owned(), s.to_owned());
    let pairs: Vec<(&str, (String, String))> = vec![
        ("email", same("ana@example.com")),
        ("payment_card", same("4111 1111 1111 1111")),
        ("iban", same("DE89 3704 0044 0532 0130 00")),
        ("us_ssn", same("123-45-6789")),
        ("phone", same("+1 415 555 2671")),
        ("ipv4", ("client 203.0.113.45 connected".into(), "203.0.113.45".into())),
        ("ipv6", same("2001:db8:85a3::8a2e:370:7334")),
        ("jwt", (jwt.clone(), jwt)),
        ("aws_access_key_id", same("AKIAIOSFODNN7EXAMPLE")),
        (
            "aws_secret_key",
            (
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            ),
        ),
        ("github_token", same("ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8")),
        ("gitlab_token", same("glpat-x9Y8z7W6v5U4t3S2r1Q0")),
        ("slack_token", same("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx")),
        ("google_api_key", same("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q")),
        ("stripe_key", same("sk_live_51H8abcdefghijklmnop1234")),
        (
            "private_key",
            (
                "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----".into(),
                "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".into(),
            ),
        ),
        (
            "bearer_token",
            (
                "Authorization: Bearer abc123def456ghi789jkl".into(),
                "abc123def456ghi789jkl".into(),
            ),
        ),
    ];
    pairs
        .into_iter()
        .map(|(name, (value, secret))| (name, value, secret))
        .collect()
}

#[tokio::test]
async fn every_built_in_detector_masks_through_both_protocols() {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct
        .batch_execute("CREATE TABLE samples (detector text, value text, benign text)")
        .await
        .unwrap();
    let samples = detector_samples();
    for (name, value, _) in &samples {
        direct
            .execute(
                "INSERT INTO samples VALUES ($1, $2, 'version 1.2.3.4 of 2024-01-15, order 4111-2222')",
                &[name, value],
            )
            .await
            .unwrap();
    }
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let rows = client
        .query("SELECT detector, value, benign FROM samples", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), samples.len());
    for row in &rows {
        let detector: String = row.get(0);
        let value: Option<String> = row.get(1);
        let (_, _, secret) = samples.iter().find(|(n, _, _)| *n == detector).unwrap();
        let value = value.unwrap_or_default();
        assert!(
            !value.contains(secret.as_str()),
            "{detector} leaked: {value}"
        );
        assert_eq!(
            row.get::<_, String>(2),
            "version 1.2.3.4 of 2024-01-15, order 4111-2222",
            "benign text changed next to {detector}"
        );
    }
    let (ok, out, err) = gateway.psql("ana", &token, "SELECT value FROM samples");
    assert!(ok, "{err}");
    for (detector, _, secret) in &samples {
        assert!(
            !out.contains(secret.as_str()),
            "{detector} leaked over psql: {out}"
        );
    }
}

#[tokio::test]
async fn policy_check_answers_the_unmasking_question() {
    let db = TestDb::create().await;
    let gateway = masked_gateway(&db, "");
    let admin = gateway.cli(&[
        "policy",
        "check",
        "--identity",
        "root",
        "--groups",
        "admins",
        "--connection",
        "demo",
        "--unmasked",
    ]);
    assert!(admin.status.success());
    assert!(String::from_utf8_lossy(&admin.stdout).contains("admins-see-unmasked"));
    let reader = gateway.cli(&[
        "policy",
        "check",
        "--identity",
        "ana",
        "--groups",
        "readers",
        "--connection",
        "demo",
        "--unmasked",
    ]);
    assert_eq!(reader.status.code(), Some(4));
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_large_masked_result_streams_through_in_bounded_memory() {
    use futures_util::StreamExt;
    let db = TestDb::create().await;
    let gateway = masked_gateway(&db, "");
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let before = peak_rss_kib(gateway.pid);
    // 120,000 rows of ~520 bytes (≈ 62 MB); every tenth carries an email.
    let rows = client
        .query_raw(
            "SELECT g, CASE WHEN g % 10 = 0 THEN 'user' || g || '@example.com ' ELSE '' END || repeat('x', 500) \
             FROM generate_series(1, 120000) AS g",
            std::iter::empty::<i32>(),
        )
        .await
        .unwrap();
    futures_util::pin_mut!(rows);
    let (mut count, mut masked, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let text: String = row.get(1);
        assert!(!text.contains("@example.com"), "{text}");
        masked += u64::from(text.starts_with("email:"));
        bytes += text.len() as u64;
        count += 1;
    }
    assert_eq!(count, 120_000);
    assert_eq!(masked, 12_000);
    assert!(bytes > 60_000_000);
    let grown_mib = peak_rss_kib(gateway.pid).saturating_sub(before) / 1024;
    assert!(
        grown_mib < 40,
        "the gateway's peak memory grew by {grown_mib} MiB for a {} MB result: it must stream",
        bytes / 1_000_000
    );
}
