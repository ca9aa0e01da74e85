//! The gateway authenticates to the target with its own credentials, never the client's: each
//! test starts a throwaway PostgreSQL 15 cluster that demands passwords (SCRAM-SHA-256, md5,
//! and TLS-only for one of them), points gatehouse connections at it with `password_env` or
//! `password_file`, and checks that readers get through, that every misconfiguration (wrong
//! password, no password, TLS mismatch, wrong CA) is a clear FATAL error for the client, and
//! that no password ever shows up in the client's error or the gateway's log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::cluster::Cluster;
use support::{Gateway, Options, message, random_suffix, sqlstate};

/// A `[[connections]]` entry for the cluster; `extra` holds the credential and TLS lines.
fn connection(name: &str, cluster: &Cluster, user: &str, extra: &str) -> String {
    format!(
        r#"
[[connections]]
name = "{name}"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "postgres"
user = "{user}"
{extra}
"#,
        port = cluster.port
    )
}

fn start_gateway(connections: &[String], env: &[(&str, &str)]) -> Gateway {
    Gateway::start_with(
        "postgres",
        Options {
            extra: connections.concat(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Options::default()
        },
    )
}

/// Connect through the gateway as reader `ana` to `connection`.
async fn connect(
    gateway: &Gateway,
    token: &str,
    connection: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = gateway
        .client_config("ana", token, connection)
        .connect(gateway.tls())
        .await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Reads through `connection` and returns the server-side user the gateway logged in as.
async fn read_through(gateway: &Gateway, token: &str, connection: &str) -> String {
    let client = connect(gateway, token, connection)
        .await
        .unwrap_or_else(|e| panic!("connecting through `{connection}`: {}", message(&e)));
    let rows = client
        .query("SELECT name FROM items ORDER BY id", &[])
        .await
        .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["one", "two"]);
    client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0)
}

/// The refusal a client gets connecting to `connection`, as a FATAL 08001 error's message.
async fn refused(gateway: &Gateway, token: &str, connection: &str) -> String {
    let error = match connect(gateway, token, connection).await {
        Ok(_) => panic!("connecting through `{connection}` should fail"),
        Err(error) => error,
    };
    let db = error
        .as_db_error()
        .unwrap_or_else(|| panic!("expected an ErrorResponse, got {error}"));
    assert_eq!(db.severity(), "FATAL", "{error}");
    assert_eq!(sqlstate(&error).as_deref(), Some("08001"), "{error}");
    let text = db.message().to_owned();
    assert!(
        text.contains(&format!("could not open connection `{connection}`")),
        "{text}"
    );
    text
}

#[tokio::test]
async fn the_gateway_logs_in_with_scram_and_md5_from_its_own_configuration() {
    let cluster = Cluster::start(false).await;
    let md5_file = cluster.dir.path().join("md5.password");
    // A trailing newline, as editors write it, is not part of the password.
    std::fs::write(&md5_file, format!("{}\n", cluster.md5_password)).unwrap();
    let gateway = start_gateway(
        &[
            connection(
                "scram",
                &cluster,
                "postgres",
                r#"password_env = "GH_TEST_SCRAM_PASSWORD""#,
            ),
            connection(
                "legacy",
                &cluster,
                "md5user",
                &format!("password_file = \"{}\"", md5_file.display()),
            ),
        ],
        &[("GH_TEST_SCRAM_PASSWORD", &cluster.superuser_password)],
    );
    let token = gateway.key("ana", &["readers"]);

    assert_eq!(read_through(&gateway, &token, "scram").await, "postgres");
    assert_eq!(read_through(&gateway, &token, "legacy").await, "md5user");

    // The server confirms which method each login used.
    let log = cluster.log();
    assert!(
        log.contains(r#"identity="postgres" method=scram-sha-256"#),
        "{log}"
    );
    assert!(log.contains(r#"identity="md5user" method=md5"#), "{log}");

    // Policy still applies on top: the reader cannot write with the superuser's session.
    let client = connect(&gateway, &token, "scram").await.unwrap();
    let error = client.batch_execute("DELETE FROM items").await.unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    let left: i64 = cluster
        .admin()
        .await
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 2);

    let gateway_log = gateway.log();
    assert!(!gateway_log.contains(&cluster.superuser_password));
    assert!(!gateway_log.contains(&cluster.md5_password));
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_fatal_error_that_never_shows_the_password() {
    let cluster = Cluster::start(false).await;
    let wrong_scram = format!("not-the-scram-password-{}", random_suffix());
    let wrong_md5 = format!("not-the-md5-password-{}", random_suffix());
    let gateway = start_gateway(
        &[
            connection(
                "scram",
                &cluster,
                "postgres",
                r#"password_env = "GH_TEST_WRONG_SCRAM""#,
            ),
            connection(
                "legacy",
                &cluster,
                "md5user",
                r#"password_env = "GH_TEST_WRONG_MD5""#,
            ),
            connection("unset", &cluster, "postgres", ""),
            connection(
                "tls-required",
                &cluster,
                "postgres",
                "tls = \"require\"\npassword_env = \"GH_TEST_RIGHT\"",
            ),
            connection(
                "right",
                &cluster,
                "postgres",
                r#"password_env = "GH_TEST_RIGHT""#,
            ),
        ],
        &[
            ("GH_TEST_WRONG_SCRAM", &wrong_scram),
            ("GH_TEST_WRONG_MD5", &wrong_md5),
            ("GH_TEST_RIGHT", &cluster.superuser_password),
        ],
    );
    let token = gateway.key("ana", &["readers"]);

    let scram = refused(&gateway, &token, "scram").await;
    assert!(scram.contains("refused the connection"), "{scram}");
    assert!(
        scram.contains("password authentication failed for user \"postgres\""),
        "the server's reason is passed on: {scram}"
    );
    let md5 = refused(&gateway, &token, "legacy").await;
    assert!(md5.contains("refused the connection"), "{md5}");
    assert!(
        md5.contains("password authentication failed for user \"md5user\""),
        "{md5}"
    );

    // No password at all against a server that demands SCRAM: the error says what to set.
    let unset = refused(&gateway, &token, "unset").await;
    assert!(unset.contains("SCRAM-SHA-256"), "{unset}");
    assert!(
        unset.contains("password_env") && unset.contains("password_file"),
        "the error tells how to configure a password: {unset}"
    );

    // TLS required by the connection but not offered by the server.
    let tls = refused(&gateway, &token, "tls-required").await;
    assert!(tls.contains("does not accept TLS"), "{tls}");

    // None of it leaks a password, to the client or into the log; the log does say why.
    for text in [&scram, &md5, &unset, &tls] {
        for secret in [&wrong_scram, &wrong_md5, &cluster.superuser_password] {
            assert!(!text.contains(secret.as_str()), "a password leaked: {text}");
        }
    }
    let log = gateway.log();
    for secret in [&wrong_scram, &wrong_md5, &cluster.superuser_password] {
        assert!(
            !log.contains(secret.as_str()),
            "a password is in the gateway log"
        );
    }
    assert!(log.contains("password authentication failed"), "{log}");

    // The gateway itself is fine: the correctly configured connection works.
    assert_eq!(read_through(&gateway, &token, "right").await, "postgres");
}

#[tokio::test]
async fn tls_to_the_backend_is_used_and_verified_when_configured() {
    let cluster = Cluster::start(true).await;
    // A CA the server's certificate was not issued by.
    let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let wrong_ca = cluster.dir.path().join("wrong-ca.crt");
    std::fs::write(&wrong_ca, stranger.cert.pem()).unwrap();
    let password = r#"password_env = "GH_TEST_TLS_PASSWORD""#;
    let gateway = start_gateway(
        &[
            connection(
                "encrypted",
                &cluster,
                "postgres",
                &format!("tls = \"require\"\n{password}"),
            ),
            connection(
                "verified",
                &cluster,
                "postgres",
                &format!(
                    "tls = \"verify-full\"\nca_file = \"{}\"\n{password}",
                    cluster.ca_file().display()
                ),
            ),
            connection(
                "impostor",
                &cluster,
                "postgres",
                &format!(
                    "tls = \"verify-full\"\nca_file = \"{}\"\n{password}",
                    wrong_ca.display()
                ),
            ),
            connection("plain", &cluster, "postgres", password),
        ],
        &[("GH_TEST_TLS_PASSWORD", &cluster.superuser_password)],
    );
    let token = gateway.key("ana", &["readers"]);
    let admin = cluster.admin().await;
    let tls_sessions = || async {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE s.ssl AND a.client_addr IS NOT NULL AND a.usename = 'postgres'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };

    for name in ["encrypted", "verified"] {
        let client = connect(&gateway, &token, name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {}", message(&e)));
        let rows = client.query("SELECT name FROM items", &[]).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            tls_sessions().await,
            1,
            "{name}: the server sees the gateway's session encrypted"
        );
        drop(client);
        for _ in 0..50 {
            if tls_sessions().await == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    let impostor = refused(&gateway, &token, "impostor").await;
    assert!(impostor.contains("TLS handshake"), "{impostor}");

    // The server accepts only TLS; a connection configured without it is refused by the
    // server, and the client is told so.
    let plain = refused(&gateway, &token, "plain").await;
    assert!(plain.contains("refused the connection"), "{plain}");
    assert!(plain.contains("no encryption"), "{plain}");

    let log = gateway.log();
    assert!(!log.contains(&cluster.superuser_password));
    assert!(!impostor.contains(&cluster.superuser_password));
}
