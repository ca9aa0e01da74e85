//! Logging in through the gateway with the real `mariadb` CLI and PyMySQL: TLS is required
//! before any password, the gatehouse token is the password, a wrong token is refused and
//! audited, and the database named at login is the gatehouse connection.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_pipeline::AuditEventKind;
use support::raw::RawClient;
use support::{CONNECTION, Fixture, available};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_logs_in_over_tls_with_the_token_as_its_password() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("login_cli", false).await;
    let token = f.key("wes", &["writers"]).await;
    let (out, err, ok) = f
        .mariadb(
            "wes",
            &token,
            &[CONNECTION, "-e", "SELECT name FROM items ORDER BY id"],
        )
        .await;
    assert!(ok, "{err}");
    assert_eq!(out, "name\napple\npear\n");
    let events = f
        .events_until(|events| events.iter().any(|e| e.kind == AuditEventKind::Disconnect))
        .await;
    assert!(events.iter().any(|e| e.kind == AuditEventKind::Connect));
    assert!(events.iter().any(|e| e.kind == AuditEventKind::Disconnect));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_tls_is_refused_before_it_sends_a_password() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("login_plain", false).await;
    let token = f.key("wes", &["writers"]).await;
    let (_, err, ok) = f
        .mariadb("wes", &token, &["--skip-ssl", CONNECTION, "-e", "SELECT 1"])
        .await;
    assert!(!ok);
    assert!(
        err.contains("TLS is required") && err.contains("--ssl"),
        "{err}"
    );
    assert!(err.contains("1045"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_audited() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("login_wrong", false).await;
    let (_, err, ok) = f
        .mariadb("wes", "gh_not_a_token", &[CONNECTION, "-e", "SELECT 1"])
        .await;
    assert!(!ok);
    assert!(err.contains("gatehouse: access denied"), "{err}");
    let events = f
        .events_until(|events| events.iter().any(|e| e.kind == AuditEventKind::AuthFailure))
        .await;
    assert!(events.iter().any(|e| e.kind == AuditEventKind::AuthFailure));
    assert!(!events.iter().any(|e| e.kind == AuditEventKind::Connect));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_connection_is_refused_with_the_names_there_are() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("login_unknown", false).await;
    let token = f.key("wes", &["writers"]).await;
    let (_, err, ok) = f
        .mariadb("wes", &token, &["nowhere", "-e", "SELECT 1"])
        .await;
    assert!(!ok);
    assert!(
        err.contains("no connection named `nowhere`") && err.contains(CONNECTION),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymysql_logs_in_with_the_token() {
    if !available(&["pymysql"]) {
        return;
    }
    let f = Fixture::start("login_pymysql", false).await;
    let token = f.key("wes", &["writers"]).await;
    let script = r#"
import os, ssl, pymysql
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
db = pymysql.connect(host="127.0.0.1", port=int(os.environ["GH_PORT"]), user="wes",
                     password=os.environ["GH_TOKEN"], database="demo-mysql", ssl=context)
with db.cursor() as cursor:
    cursor.execute("SELECT name FROM items WHERE id = %s", (2,))
    print(cursor.fetchall())
db.close()
"#;
    let (out, err, ok) = f.python(&token, script).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "(('pear',),)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_offering_other_plugins_are_asked_for_the_clear_password_inside_tls() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("login_plugins", false).await;
    let token = f.key("wes", &["writers"]).await;
    for plugin in ["caching_sha2_password", "mysql_native_password", ""] {
        let mut client = RawClient::login_with(&f, &token, plugin).await;
        let answer = client.query("SELECT 1").await;
        assert!(answer.len() >= 3, "{plugin}: the session runs statements");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_character_set_gatehouse_cannot_read_is_refused_at_login() {
    if !available(&["mariadb"]) {
        return;
    }
    let f = Fixture::start("login_big5", false).await;
    let token = f.key("wes", &["writers"]).await;
    let (_, err, ok) = f
        .mariadb(
            "wes",
            &token,
            &["--default-character-set=big5", CONNECTION, "-e", "SELECT 1"],
        )
        .await;
    assert!(!ok);
    assert!(err.contains("character set big5 is refused"), "{err}");
}
