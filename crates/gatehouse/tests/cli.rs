//! The command line as programs, agents and operators use it: `exec` with JSON output and
//! exit codes, `policy check`, `keys`, config and policy errors that say what is wrong,
//! the admin endpoints, and graceful shutdown.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::Value;
use std::process::Command;
use support::{Gateway, Options, TestDb, binary};
use tokio_postgres::SimpleQueryMessage;

fn exec(gateway: &Gateway, token: Option<&str>, sql: &str) -> (i32, Value, String) {
    let mut command = Command::new(binary());
    command
        .arg("--data-dir")
        .arg(gateway.data_dir())
        .args(["exec", "demo", "--sql", sql, "--output", "json"])
        .args(["--gateway", &gateway.pg_addr.to_string()]);
    match token {
        Some(token) => command.env("GATEHOUSE_TOKEN", token),
        None => command.env_remove("GATEHOUSE_TOKEN"),
    };
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), value, stderr)
}

#[tokio::test]
async fn exec_prints_one_json_object_and_exits_by_outcome() {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute(
            "CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'a'), (2, NULL)",
        )
        .await
        .unwrap();
    let gateway = Gateway::start(&db.name);
    let token = gateway.key("agent-7", &["readers"]);

    let (code, value, stderr) = exec(&gateway, Some(&token), "SELECT id, name FROM t ORDER BY id");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(value["status"], "ok");
    assert_eq!(value["columns"], serde_json::json!(["id", "name"]));
    assert_eq!(value["rows"], serde_json::json!([["1", "a"], ["2", null]]));
    assert_eq!(value["row_count"], 2);

    let (code, value, _) = exec(&gateway, Some(&token), "DELETE FROM t");
    assert_eq!(code, 4, "a policy refusal exits 4");
    assert_eq!(value["status"], "denied");
    assert_eq!(value["policy"], "default-deny");
    assert!(value["message"].as_str().unwrap().contains("sql:delete"));

    let (code, value, _) = exec(&gateway, Some(&token), "SELECT * FROM no_such_table");
    assert_eq!(code, 1);
    assert_eq!(value["status"], "error");
    assert!(value["message"].as_str().unwrap().contains("42P01"));

    let (code, value, _) = exec(
        &gateway,
        Some("gh_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "SELECT 1",
    );
    assert_eq!(code, 1);
    assert_eq!(value["status"], "error");
    assert!(
        value["message"].as_str().unwrap().contains("28P01"),
        "{value}"
    );
}

#[tokio::test]
async fn exec_without_a_token_or_a_certificate_to_trust_says_what_to_do() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let (code, _, stderr) = exec(&gateway, None, "SELECT 1");
    assert_ne!(code, 0);
    assert!(stderr.contains("GATEHOUSE_TOKEN"), "{stderr}");

    let empty = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .arg("--data-dir")
        .arg(empty.path())
        .args([
            "exec",
            "demo",
            "--sql",
            "SELECT 1",
            "--gateway",
            &gateway.pg_addr.to_string(),
        ])
        .env("GATEHOUSE_TOKEN", "x")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--ca-file"), "{stderr}");
    assert!(
        stderr.contains("never skips certificate verification"),
        "{stderr}"
    );
}

#[tokio::test]
async fn policy_check_explains_decisions_without_a_database() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let check = |groups: &str, sql: &str| {
        let output = gateway.cli(&[
            "policy",
            "check",
            "--identity",
            "ana",
            "--groups",
            groups,
            "--connection",
            "demo",
            "--sql",
            sql,
            "--output",
            "json",
        ]);
        let value: Value = serde_json::from_slice(&output.stdout).unwrap();
        (output.status.code().unwrap(), value)
    };
    let (code, value) = check("readers", "DELETE FROM t");
    assert_eq!(code, 4);
    assert_eq!(value["decision"], "deny");
    assert_eq!(value["requests"][0]["action"], "sql:delete");
    assert_eq!(value["requests"][0]["default_deny"], true);

    let (code, value) = check("readers", "SELECT * FROM t JOIN u ON true");
    assert_eq!(code, 0);
    assert_eq!(
        value["requests"][0]["policies"],
        serde_json::json!(["readers-read"])
    );
    assert_eq!(value["requests"][0]["reads"], serde_json::json!(["t", "u"]));

    let (code, value) = check("admins", "DO $$ BEGIN END $$");
    assert_eq!(code, 4);
    assert_eq!(
        value["requests"][0]["policies"],
        serde_json::json!(["nobody-runs-unknown-sql"])
    );

    let text = gateway.cli(&[
        "policy",
        "check",
        "--identity",
        "ana",
        "--groups",
        "readers",
        "--connection",
        "demo",
        "--sql",
        "DELETE FROM t",
    ]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("DENY"), "{stdout}");
    assert!(stdout.contains("default-deny"), "{stdout}");
}

#[tokio::test]
async fn keys_are_listed_without_secrets_and_revoked_keys_stop_working() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let output = gateway.cli(&[
        "keys",
        "create",
        "--identity",
        "ana",
        "--groups",
        "readers,writers",
    ]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let token = stdout.lines().last().unwrap().trim().to_owned();
    assert!(
        token.starts_with("gh_"),
        "the token is the last line: {stdout}"
    );
    assert!(gateway.connect("ana", &token).await.is_ok());

    let listed = gateway.cli(&["keys", "list", "--output", "json"]);
    let listed_text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        !listed_text.contains(&token[16..]),
        "secrets are never listed"
    );
    let keys: Value = serde_json::from_str(&listed_text).unwrap();
    let id = keys[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(keys[0]["state"], "active");
    assert_eq!(keys[0]["groups"], serde_json::json!(["readers", "writers"]));

    let revoked = gateway.cli(&["keys", "revoke", &id]);
    assert!(revoked.status.success());
    let error = gateway.connect("ana", &token).await.unwrap_err();
    assert_eq!(support::sqlstate(&error).as_deref(), Some("28P01"));

    let too_long = gateway.cli(&["keys", "create", "--identity", "ana", "--ttl", "30d"]);
    assert!(!too_long.status.success());
    assert!(String::from_utf8_lossy(&too_long.stderr).contains("max_ttl"));

    let unknown = gateway.cli(&["keys", "revoke", "ffffffffffff"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("keys list"));
}

/// Run `gatehouse serve` with a config that is expected to be refused at start.
fn serve_once(config: &std::path::Path, data_dir: &std::path::Path) -> std::process::Output {
    Command::new(binary())
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("serve")
        .output()
        .unwrap()
}

#[test]
fn config_and_policy_mistakes_refuse_to_start_and_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[postgres]\nlisten = \"127.0.0.1:0\"\nlisen_backlog = 5\n",
    )
    .unwrap();
    let output = serve_once(&config, &dir.path().join("data"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("lisen_backlog"),
        "the unknown key is named: {stderr}"
    );

    for (setting, named) in [
        (
            "[postgres]\nhandshake_timeout = \"0s\"",
            "[postgres] handshake_timeout",
        ),
        ("[postgres]\nmax_sessions = 0", "[postgres] max_sessions"),
        ("worker_threads = 0", "worker_threads"),
        (
            "[postgres]\nmax_message_bytes = 10",
            "[postgres] max_message_bytes = 10",
        ),
        (
            "[keys]\ndefault_ttl = \"2d\"\nmax_ttl = \"1d\"",
            "[keys] default_ttl",
        ),
    ] {
        std::fs::write(&config, format!("{setting}\n")).unwrap();
        let output = serve_once(&config, &dir.path().join("data"));
        assert!(!output.status.success(), "{setting} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{setting}: {stderr}");
    }

    let policy = dir.path().join("broken.cedar");
    std::fs::write(
        &policy,
        "@id(\"ok\")\npermit (principal, action == Gatehouse::Action::\"connect\", resource);\n\n@id(\"typo\")\npermit (principal, action == Gatehouse::Action::\"sql:frobnicate\", resource);\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            "[policy]\nfiles = [\"{}\"]\n[postgres]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
            policy.display()
        ),
    )
    .unwrap();
    let output = serve_once(&config, &dir.path().join("data"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.cedar:5"),
        "file and line are named: {stderr}"
    );
    assert!(
        stderr.contains("sql:frobnicate"),
        "the reason is given: {stderr}"
    );
}

#[tokio::test]
async fn admin_endpoints_answer_curl() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
    let curl = |path: &str| {
        let output = Command::new("curl")
            .args([
                "-sS",
                "--fail",
                &format!("http://{}{path}", gateway.admin_addr),
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(curl("/healthz").contains("\"ok\""));
    let metrics = curl("/metrics");
    assert!(metrics.contains("gatehouse_decisions_total"), "{metrics}");
    assert!(metrics.contains("action=\"sql:select\""), "{metrics}");
    assert!(
        metrics.contains("gatehouse_pg_sessions_active"),
        "{metrics}"
    );
}

/// `worker_threads` sets how many threads run the gateway: /metrics says so, and sessions work
/// the same on one thread.
#[tokio::test]
async fn worker_threads_sets_how_many_threads_run_the_gateway() {
    let db = TestDb::create().await;
    for threads in [1, 3] {
        let gateway = Gateway::start_with(
            &db.name,
            Options {
                top_level: format!("worker_threads = {threads}"),
                ..Default::default()
            },
        );
        let token = gateway.key("ana", &["readers"]);
        let client = gateway.connect("ana", &token).await.unwrap();
        let rows = client.simple_query("SELECT 40 + 2").await.unwrap();
        let answer = rows.iter().find_map(|message| match message {
            SimpleQueryMessage::Row(row) => row.get(0),
            _ => None,
        });
        assert_eq!(answer, Some("42"), "{rows:?}");
        let metrics =
            support::http(&gateway.admin_addr.to_string(), "GET", "/metrics", "", "").await;
        assert!(
            metrics
                .body
                .lines()
                .any(|line| line == format!("gatehouse_worker_threads {threads}")),
            "{}",
            metrics.body
        );
    }
}

#[tokio::test]
async fn sigterm_lets_the_gateway_stop_cleanly_and_ends_open_sessions_with_57p01() {
    let db = TestDb::create().await;
    let mut gateway = Gateway::start_with(&db.name, Options::default());
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let status = gateway.terminate();
        (status, gateway.log())
    })
    .await
    .unwrap();
    assert!(
        status.0.success(),
        "exit status {:?}\n{}",
        status.0,
        status.1
    );
    assert!(status.1.contains("stopped"), "{}", status.1);
    assert!(
        status.1.contains("gatehouse shut down"),
        "the open session was ended by the shutdown after the grace period:\n{}",
        status.1
    );
    assert!(client.simple_query("SELECT 1").await.is_err());
    assert!(client.is_closed());
}

#[test]
fn help_teaches_the_quickstart() {
    let output = Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("keys create --identity ana --groups readers"),
        "{help}"
    );
    assert!(help.contains("sslmode=require"), "{help}");
}

#[test]
fn the_annotated_example_config_is_valid() {
    let example = support::repo_root().join("examples/gatehouse.toml");
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .arg("--config")
        .arg(&example)
        .arg("--data-dir")
        .arg(data.path())
        .args([
            "policy",
            "check",
            "--identity",
            "ana",
            "--groups",
            "readers",
            "--connection",
            "demo",
            "--sql",
            "SELECT 1",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["decision"], "allow");

    // Its masking section compiles, custom detector included.
    let masked = Command::new(binary())
        .arg("--config")
        .arg(&example)
        .arg("--data-dir")
        .arg(data.path())
        .args([
            "mask",
            "test",
            "--connection",
            "demo",
            "--text",
            "ORD-12345678 for ana@example.com",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        masked.status.success(),
        "{}",
        String::from_utf8_lossy(&masked.stderr)
    );
    let report: Value = serde_json::from_slice(&masked.stdout).unwrap();
    let detectors: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["detector"].as_str().unwrap())
        .collect();
    assert_eq!(detectors, ["order_ref", "email"]);
}

#[test]
fn policy_schema_prints_the_base_and_the_sql_fragment() {
    let output = Command::new(binary())
        .args(["policy", "schema"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("entity Identity in [Group]"), "{text}");
    assert!(text.contains("action \"connect\""), "{text}");
    assert!(text.contains("type SqlContext"), "{text}");
    assert!(
        text.contains("action \"sql:select\" in [\"sql:read\", \"sql:any\"]"),
        "{text}"
    );
}

#[test]
fn a_ca_file_without_a_usable_certificate_is_an_error_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "exec",
            "demo",
            "--sql",
            "SELECT 1",
            "--gateway",
            "127.0.0.1:1",
        ])
        .arg("--ca-file")
        .arg(&bad)
        .args(["--output", "json"])
        .env("GATEHOUSE_TOKEN", "gh_not-a-real-token")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("unusable CA certificate"), "{message}");
    assert!(message.contains("bad.pem"), "{message}");
}
