//! The server side on its own and what ends a running session from outside: `run_statements`
//! (how the quickstart provisions accounts), a login whose TLS the server cannot give refused
//! with the reason, and a replaced policy that no longer lets a session in ending it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_mysql::{MysqlLogin, UpstreamTls, run_statements};
use std::time::Duration;
use support::raw::{RawClient, error_text};
use support::{Fixture, available, engine, root};

fn root_login() -> MysqlLogin {
    MysqlLogin {
        host: "127.0.0.1".to_owned(),
        port: 3306,
        user: "root".to_owned(),
        password: None,
        database: String::new(),
        tls: UpstreamTls::Disable,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_statements_runs_each_statement_and_stops_at_the_first_failure() {
    if !available(&[]) {
        return;
    }
    let statements = [
        "DROP DATABASE IF EXISTS gh_mysql_provisioned".to_owned(),
        "CREATE DATABASE gh_mysql_provisioned".to_owned(),
        "CREATE TABLE gh_mysql_provisioned.t (id INT)".to_owned(),
    ];
    run_statements(&root_login(), &statements, Duration::from_secs(10))
        .await
        .unwrap();
    let tables = root(&["-N", "gh_mysql_provisioned", "-e", "SHOW TABLES"]).unwrap();
    assert_eq!(tables.stdout, b"t\n");
    let failing = [
        "SELECT * FROM gh_mysql_provisioned.missing".to_owned(),
        "CREATE TABLE gh_mysql_provisioned.u (id INT)".to_owned(),
    ];
    let error = run_statements(&root_login(), &failing, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
    let tables = root(&["-N", "gh_mysql_provisioned", "-e", "SHOW TABLES"]).unwrap();
    assert_eq!(tables.stdout, b"t\n", "nothing after the failure ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_requiring_tls_from_a_server_without_it_is_refused_with_the_reason() {
    if !available(&[]) {
        return;
    }
    let has_tls = root(&["-N", "-e", "SELECT @@have_ssl"]).unwrap().stdout;
    if has_tls.starts_with(b"YES") {
        eprintln!("skipped: the test server offers TLS");
        return;
    }
    let login = MysqlLogin {
        tls: UpstreamTls::Require,
        ..root_login()
    };
    let error = run_statements(&login, &["SELECT 1".to_owned()], Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("does not offer TLS"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_no_longer_lets_the_session_in_ends_it() {
    if !available(&[]) {
        return;
    }
    let f = Fixture::start("policy_replaced", false).await;
    let token = f.key("wes", &["writers"]).await;
    let mut client = RawClient::login(&f, &token).await;
    f.pipeline.replace_policy(engine(
        r#"
@id("readers-only")
permit (principal in Gatehouse::Group::"readers", action, resource);
"#,
    ));
    let text = error_text(&client.next().await.expect("an ERR"));
    assert!(
        text.contains("gatehouse ended the session") && text.contains("no longer permits"),
        "{text}"
    );
    assert!(client.next().await.is_none());
}
