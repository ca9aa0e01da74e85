//! Who gets in, through real clients (tokio-postgres over verified TLS, and psql): a token is
//! the password, and every way a token can be wrong (garbage, unknown, expired, revoked) gets
//! the same SQLSTATE 28P01 refusal, so probing learns nothing — while the gateway's own log
//! says which it was. A valid token only works for its own subject (or the `gatehouse` user),
//! the database name must be a configured connection, startup parameters that could change the
//! session behind policy's back are refused, and plaintext clients are told to use TLS before
//! they are ever asked for a token. After every refusal the gateway still serves valid clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::{Gateway, Options, TestDb, message, sqlstate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn setup_with(options: Options) -> (TestDb, Gateway) {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one');",
        )
        .await
        .unwrap();
    let gateway = Gateway::start_with(&db.name, options);
    (db, gateway)
}

async fn setup() -> (TestDb, Gateway) {
    setup_with(Options::default()).await
}

/// A valid client connects and queries: the refusal before it left the gateway healthy.
async fn assert_still_serves(gateway: &Gateway, token: &str) {
    let client = gateway
        .connect("ana", token)
        .await
        .expect("a valid client connects after a refusal");
    let row = client
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .expect("a valid client queries after a refusal");
    assert_eq!(row.get::<_, String>(0), "one");
}

/// The refusal a tokio-postgres client gets for `config`; panics if it connects.
async fn refusal(config: &tokio_postgres::Config, gateway: &Gateway) -> tokio_postgres::Error {
    match config.connect(gateway.tls()).await {
        Ok(_) => panic!("the connection should have been refused"),
        Err(error) => error,
    }
}

/// Everything a client is told about a refusal: (SQLSTATE, severity, message, detail, hint).
fn what_the_client_sees(
    error: &tokio_postgres::Error,
) -> (String, String, String, Option<String>, Option<String>) {
    let db = error
        .as_db_error()
        .unwrap_or_else(|| panic!("expected an ErrorResponse from the gateway, got: {error}"));
    (
        db.code().code().to_owned(),
        db.severity().to_owned(),
        db.message().to_owned(),
        db.detail().map(str::to_owned),
        db.hint().map(str::to_owned),
    )
}

/// Run psql with a full connection string; returns (success, stdout, stderr).
fn psql(conninfo: &str, password: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new("psql");
    command
        .arg(conninfo)
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT name FROM items WHERE id = 1",
        ])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGOPTIONS");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run psql");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn conninfo(gateway: &Gateway, user: &str, dbname: &str, extra: &str) -> String {
    format!("{} {extra}", gateway.psql_conninfo(user, dbname))
}

/// The key id inside a token (`gh_<id>_<secret>`).
fn key_id(token: &str) -> String {
    token
        .strip_prefix("gh_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id.to_owned())
        .expect("a gatehouse token")
}

fn keys_list(gateway: &Gateway) -> Vec<serde_json::Value> {
    let output = gateway.cli(&["keys", "list", "--output", "json"]);
    assert!(
        output.status.success(),
        "keys list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn revoke(gateway: &Gateway, token: &str) {
    let id = key_id(token);
    let listed = keys_list(gateway);
    assert!(
        listed.iter().any(|k| k["id"] == id.as_str()),
        "key {id} is listed before it is revoked: {listed:?}"
    );
    let output = gateway.cli(&["keys", "revoke", &id]);
    assert!(
        output.status.success(),
        "keys revoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A token that is shaped exactly like a real one but was never issued.
const UNKNOWN_TOKEN: &str = "gh_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The four kinds of bad token, all for subject `ana`: (label, token). Waits until the
/// expiring one has expired.
async fn bad_tokens(gateway: &Gateway) -> Vec<(&'static str, String)> {
    let created = Instant::now();
    let expiring = gateway.key_with("ana", &["readers"], &["--ttl", "1s"]);
    let revoked = gateway.key("ana", &["readers"]);
    // The revoked token worked before it was revoked: revocation is what refuses it.
    gateway
        .connect("ana", &revoked)
        .await
        .expect("the key works before it is revoked");
    revoke(gateway, &revoked);
    let wait = Duration::from_secs(2).saturating_sub(created.elapsed());
    tokio::time::sleep(wait).await;
    vec![
        ("garbage", "not-a-token-at-all".to_owned()),
        ("unknown", UNKNOWN_TOKEN.to_owned()),
        ("expired", expiring),
        ("revoked", revoked),
    ]
}

#[tokio::test]
async fn every_kind_of_bad_token_gets_the_same_28p01_refusal_from_tokio_postgres() {
    let (_db, gateway) = setup().await;
    let valid = gateway.key("ana", &["readers"]);
    assert_eq!(UNKNOWN_TOKEN.len(), "gh_".len() + 12 + 1 + 43);
    let bad = bad_tokens(&gateway).await;

    let mut seen = Vec::new();
    for (label, token) in &bad {
        let error = refusal(&gateway.client_config("ana", token, "demo"), &gateway).await;
        let (code, severity, text, detail, hint) = what_the_client_sees(&error);
        assert_eq!(code, "28P01", "{label}: {error}");
        assert_eq!(severity, "FATAL", "{label}");
        assert!(
            text.contains("password authentication failed for user \"ana\""),
            "{label}: {text}"
        );
        assert!(
            !text.contains(token.as_str()),
            "{label}: the refusal must not echo the token"
        );
        seen.push((label, (code, severity, text, detail, hint)));
        assert_still_serves(&gateway, &valid).await;
    }
    let (first_label, first) = &seen[0];
    for (label, told) in &seen[1..] {
        assert_eq!(
            told, first,
            "a {label} token and a {first_label} token must be indistinguishable to the client"
        );
    }

    // The operator, unlike the client, can tell the cases apart; no token is ever logged.
    let log = gateway.log();
    for reason in [
        "not a gatehouse token",
        "no such token",
        "the token expired",
        "the token was revoked",
    ] {
        assert!(
            log.contains(reason),
            "the log should say `{reason}`:\n{log}"
        );
    }
    for (label, token) in &bad {
        assert!(
            !log.contains(token.as_str()),
            "the {label} token was logged"
        );
    }
    assert!(!log.contains(&valid), "the valid token was logged");
}

#[tokio::test]
async fn every_kind_of_bad_token_gets_the_same_refusal_from_psql() {
    let (_db, gateway) = setup().await;
    let valid = gateway.key("ana", &["readers"]);
    let bad = bad_tokens(&gateway).await;
    let info = conninfo(&gateway, "ana", "demo", "");

    let mut seen = Vec::new();
    for (label, token) in &bad {
        let (ok, out, err) = psql(&info, token, &[]);
        assert!(!ok, "{label}: psql should fail, printed {out}");
        assert!(
            err.contains("password authentication failed for user \"ana\""),
            "{label}: {err}"
        );
        assert!(
            !err.contains(token.as_str()),
            "{label}: token echoed: {err}"
        );
        seen.push((label, err));
        let (ok, out, err) = psql(&info, &valid, &[]);
        assert!(ok, "a valid psql after the {label} refusal: {err}");
        assert_eq!(out.trim(), "one");
    }
    for (label, err) in &seen[1..] {
        assert_eq!(
            err, &seen[0].1,
            "psql shows a {label} token like a garbage one"
        );
    }
}

#[tokio::test]
async fn a_revoked_key_is_listed_as_revoked_and_no_longer_connects() {
    let (_db, gateway) = setup().await;
    let keep = gateway.key("ana", &["readers"]);
    let doomed = gateway.key("rita", &["readers"]);
    let doomed_id = key_id(&doomed);
    let state = |gateway: &Gateway, id: &str| {
        keys_list(gateway)
            .into_iter()
            .find(|k| k["id"] == id)
            .map(|k| k["state"].as_str().unwrap().to_owned())
            .expect("key listed")
    };
    assert_eq!(state(&gateway, &doomed_id), "active");
    gateway
        .connect("rita", &doomed)
        .await
        .expect("the key works before it is revoked");
    revoke(&gateway, &doomed);
    assert_eq!(state(&gateway, &doomed_id), "revoked");
    assert_eq!(
        state(&gateway, &key_id(&keep)),
        "active",
        "revoking one key leaves the others alone"
    );
    let error = gateway.connect("rita", &doomed).await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("28P01"), "{error}");
    assert_still_serves(&gateway, &keep).await;
}

#[tokio::test]
async fn a_token_used_under_another_user_name_is_refused_naming_its_owner() {
    let (_db, gateway) = setup().await;
    let token = gateway.key("ana", &["readers"]);

    let error = refusal(&gateway.client_config("bob", &token, "demo"), &gateway).await;
    assert_eq!(sqlstate(&error).as_deref(), Some("28000"), "{error}");
    let text = message(&error);
    assert!(
        text.contains("`ana`") && text.contains("`bob`"),
        "the refusal should say whose token it is: {text}"
    );
    assert!(
        text.contains("user=ana"),
        "the refusal should say how to connect: {text}"
    );
    assert_still_serves(&gateway, &token).await;

    let (ok, _, err) = psql(&conninfo(&gateway, "bob", "demo", ""), &token, &[]);
    assert!(!ok);
    assert!(
        err.contains("the token belongs to `ana`, not `bob`"),
        "{err}"
    );
    let (ok, out, err) = psql(&conninfo(&gateway, "ana", "demo", ""), &token, &[]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one");
}

#[tokio::test]
async fn user_gatehouse_takes_the_identity_from_any_valid_token() {
    let (db, gateway) = setup().await;
    let reader = gateway.key("ana", &["readers"]);
    let writer = gateway.key("wes", &["writers"]);

    // As `gatehouse`, ana's token is ana: she reads but may not write.
    let client = gateway.connect("gatehouse", &reader).await.unwrap();
    let row = client
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "one");
    let error = client
        .batch_execute("INSERT INTO items VALUES (2, 'two')")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");

    // As `gatehouse`, wes's token is wes: he writes.
    let client = gateway.connect("gatehouse", &writer).await.unwrap();
    client
        .batch_execute("INSERT INTO items VALUES (3, 'three')")
        .await
        .unwrap();
    let direct = db.direct().await;
    assert_eq!(support::count(&direct, "items").await, 2);

    let (ok, out, err) = psql(&conninfo(&gateway, "gatehouse", "demo", ""), &reader, &[]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one");

    // `gatehouse` is not a way around authentication.
    let error = refusal(
        &gateway.client_config("gatehouse", UNKNOWN_TOKEN, "demo"),
        &gateway,
    )
    .await;
    assert_eq!(sqlstate(&error).as_deref(), Some("28P01"), "{error}");
}

#[tokio::test]
async fn an_unknown_connection_name_gets_3d000_listing_the_configured_ones() {
    let options = Options {
        extra: r#"
[[connections]]
name = "analytics"
kind = "postgres"
host = "127.0.0.1"
database = "postgres"
user = "postgres"
"#
        .to_owned(),
        ..Options::default()
    };
    let (_db, gateway) = setup_with(options).await;
    let token = gateway.key("ana", &["readers"]);

    let error = refusal(&gateway.client_config("ana", &token, "nowhere"), &gateway).await;
    assert_eq!(sqlstate(&error).as_deref(), Some("3D000"), "{error}");
    let text = message(&error);
    assert!(text.contains("`nowhere`"), "{text}");
    assert!(
        text.contains("[analytics, demo]"),
        "the refusal should list the available connections: {text}"
    );
    assert_still_serves(&gateway, &token).await;

    let (ok, _, err) = psql(&conninfo(&gateway, "ana", "nowhere", ""), &token, &[]);
    assert!(!ok);
    assert!(
        err.contains("no connection named `nowhere`") && err.contains("analytics, demo"),
        "{err}"
    );

    // Without a valid token nobody learns which connections exist.
    let error = refusal(
        &gateway.client_config("ana", UNKNOWN_TOKEN, "nowhere"),
        &gateway,
    )
    .await;
    assert_eq!(sqlstate(&error).as_deref(), Some("28P01"), "{error}");
    assert!(!message(&error).contains("analytics"), "{error}");
    assert_still_serves(&gateway, &token).await;
}

#[tokio::test]
async fn startup_parameters_that_could_change_the_session_are_refused() {
    let (_db, gateway) = setup().await;
    let token = gateway.key("ana", &["readers"]);

    // A setting at startup is decided as the SET it is: changing the role is `sql:admin`.
    let mut config = gateway.client_config("ana", &token, "demo");
    config.options("-c role=postgres");
    let error = refusal(&config, &gateway).await;
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    let text = message(&error);
    assert!(
        text.contains("startup parameter `role=postgres`") && text.contains("sql:admin"),
        "{text}"
    );
    // Server switches that are not settings are refused outright.
    let mut config = gateway.client_config("ana", &token, "demo");
    config.options("-F -c fsync=off");
    let error = refusal(&config, &gateway).await;
    assert_eq!(sqlstate(&error).as_deref(), Some("08P01"), "{error}");
    assert!(message(&error).contains("startup option `-F`"), "{error}");
    assert_still_serves(&gateway, &token).await;

    // Allowed parameters still pass through to the server.
    let mut config = gateway.client_config("ana", &token, "demo");
    config.application_name("auth-test-app");
    let (client, connection) = config.connect(gateway.tls()).await.unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "auth-test-app");

    let info = conninfo(&gateway, "ana", "demo", "");
    let (ok, _, err) = psql(&info, &token, &[("PGOPTIONS", "-c role=postgres")]);
    assert!(!ok);
    assert!(err.contains("startup parameter `role=postgres`"), "{err}");
    let (ok, _, err) = psql(
        &conninfo(&gateway, "ana", "demo", "replication=database"),
        &token,
        &[],
    );
    assert!(!ok);
    assert!(err.contains("startup parameter `replication`"), "{err}");
    let (ok, out, err) = psql(&info, &token, &[]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one");
}

#[tokio::test]
async fn plaintext_clients_are_told_to_use_sslmode_require() {
    let (_db, gateway) = setup().await;
    let token = gateway.key("ana", &["readers"]);

    let mut config = gateway.client_config("ana", &token, "demo");
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let error = match config.connect(tokio_postgres::NoTls).await {
        Ok(_) => panic!("a plaintext client must be refused"),
        Err(error) => error,
    };
    assert_eq!(sqlstate(&error).as_deref(), Some("28000"), "{error}");
    assert!(
        message(&error).contains("sslmode=require"),
        "{}",
        message(&error)
    );
    assert_still_serves(&gateway, &token).await;

    let plain = format!(
        "host={} port={} dbname=demo user=ana sslmode=disable",
        gateway.pg_addr.ip(),
        gateway.pg_addr.port()
    );
    let (ok, _, err) = psql(&plain, &token, &[]);
    assert!(!ok);
    assert!(
        err.contains("requires TLS") && err.contains("sslmode=require"),
        "{err}"
    );
    assert_still_serves(&gateway, &token).await;

    // The gateway never asks a plaintext client for its token: the first answer to a plain
    // startup message is the refusal, not an authentication request.
    let mut tcp = tokio::net::TcpStream::connect(gateway.pg_addr)
        .await
        .unwrap();
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608_i32.to_be_bytes());
    for part in ["user", "ana", "database", "demo", ""] {
        startup.extend_from_slice(part.as_bytes());
        startup.push(0);
    }
    let mut packet = (i32::try_from(startup.len()).unwrap() + 4)
        .to_be_bytes()
        .to_vec();
    packet.extend_from_slice(&startup);
    tcp.write_all(&packet).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
        .await
        .expect("the gateway closes the connection")
        .unwrap();
    assert_eq!(
        answer.first(),
        Some(&b'E'),
        "first reply must be an ErrorResponse, not a password request: {answer:?}"
    );
    assert!(String::from_utf8_lossy(&answer).contains("sslmode=require"));
}
