//! Just-in-time approvals through the data path, with real clients: psql waits for an admin's
//! approval and then runs the statement; `gatehouse exec --output json` answers `pending`
//! (exit 3) at once; the approval is bound to exactly the statement, single use, and goes
//! back to hold when the statement, the policy or the clock changes; reviewers cannot approve
//! their own requests or approve from outside the group; Ctrl-C withdraws; pending approvals
//! survive a restart; every step is in the audit log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{Gateway, Options, count, items_behind_gateway, quickstart_policy};

/// `gatehouse exec demo --sql SQL --output json [extra]` as `token`: (exit code, JSON).
fn exec(gateway: &Gateway, token: &str, sql: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let gateway_addr = gateway.pg_addr.to_string();
    let mut args = vec![
        "exec",
        "demo",
        "--sql",
        sql,
        "--gateway",
        &gateway_addr,
        "--output",
        "json",
    ];
    args.extend(extra);
    let output = gateway.cli_as(token, &args);
    let text = String::from_utf8_lossy(&output.stdout);
    let value = serde_json::from_str(text.trim()).unwrap_or_else(|error| {
        panic!(
            "exec printed no JSON ({error}): {text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), value)
}

fn pending_approvals(gateway: &Gateway) -> Vec<serde_json::Value> {
    let output = gateway.cli(&["approvals", "list", "--pending", "--output", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&output.stdout).unwrap()
}

fn approval_state(gateway: &Gateway, id: &str) -> String {
    let output = gateway.cli(&["approvals", "show", id, "--output", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    value["state"].as_str().unwrap().to_owned()
}

fn approve(gateway: &Gateway, token: &str, id: &str) -> Output {
    gateway.cli_as(token, &["approvals", "approve", id])
}

/// Wait for exactly one pending approval and return its id.
fn the_pending_approval(gateway: &Gateway) -> String {
    let started = Instant::now();
    loop {
        let pending = pending_approvals(gateway);
        if let [one] = pending.as_slice() {
            return one["id"].as_str().unwrap().to_owned();
        }
        assert!(
            pending.len() <= 1,
            "more than one pending approval: {pending:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no approval appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn psql_waits_for_an_admin_and_then_runs_the_delete() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let psql = Command::new("psql")
        .arg(gateway.psql_conninfo("wes", "demo"))
        .args([
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            "DELETE FROM items WHERE id = 1",
        ])
        .env("PGPASSWORD", &writer)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = the_pending_approval(&gateway);
    // Held, not forwarded: the row is still there while psql waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&direct, "items").await, 2);
    let approved = approve(&gateway, &admin, &id);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let output = psql.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("DELETE 1"));
    assert!(
        stderr.contains(&id) && stderr.contains(&format!("gatehouse approvals approve {id}")),
        "psql shows the notice with the approval id and the command: {stderr}"
    );
    assert_eq!(count(&direct, "items").await, 1);
    assert_eq!(approval_state(&gateway, &id), "executed");

    let events = gateway.audit_events();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["statement"] == "DELETE FROM items WHERE id = 1")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["decision"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for expected in [
        ("sql:delete", "hold"),
        ("approval:request", ""),
        ("approval:approve", ""),
        ("approval:execute", ""),
        ("sql:delete", "allow"),
    ] {
        assert!(
            actions.contains(&expected),
            "{expected:?} missing from {actions:?}"
        );
    }
    let approval = events
        .iter()
        .find(|e| e["action"] == "approval:approve")
        .unwrap();
    assert_eq!(
        approval["identity"]["subject"], "ada",
        "the reviewer is named"
    );
}

#[tokio::test]
async fn an_approval_is_bound_to_exactly_one_statement_once() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let other_writer = gateway.key("wil", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let reader = gateway.key("rae", &["readers"]);

    // Held: exec answers at once with the approval and exit status 3.
    let (code, first) = exec(&gateway, &writer, "DELETE FROM items WHERE id = 2", &[]);
    assert_eq!(code, 3, "{first}");
    assert_eq!(first["status"], "pending");
    let id = first["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(
        first["approve_with"],
        format!("gatehouse approvals approve {id}")
    );
    assert!(
        first["expires_at"].as_str().unwrap().ends_with('Z'),
        "{first}"
    );
    // Asking again finds the same approval; exec hanging up did not withdraw it.
    let (_, again) = exec(&gateway, &writer, "DELETE FROM items WHERE id = 2", &[]);
    assert_eq!(again["approval_id"], id.as_str());
    // Another literal, or another requester, is another approval.
    let (_, other_literal) = exec(&gateway, &writer, "DELETE FROM items WHERE id = 1", &[]);
    assert_ne!(other_literal["approval_id"], id.as_str());
    let (_, other_person) = exec(
        &gateway,
        &other_writer,
        "DELETE FROM items WHERE id = 2",
        &[],
    );
    assert_ne!(other_person["approval_id"], id.as_str());

    // Nobody approves their own request; reviewers must be in the named group.
    let own = approve(&gateway, &writer, &id);
    assert!(!own.status.success());
    let reader_try = approve(&gateway, &reader, &id);
    assert!(!reader_try.status.success());
    assert_eq!(approval_state(&gateway, &id), "pending");
    assert_eq!(count(&direct, "items").await, 2, "nothing ran while held");

    assert!(approve(&gateway, &admin, &id).status.success());
    // Approved for this exact text: the other literal is still held.
    let (code, _) = exec(&gateway, &writer, "DELETE FROM items WHERE id = 1", &[]);
    assert_eq!(code, 3);
    let (code, ran) = exec(&gateway, &writer, "DELETE FROM items WHERE id = 2", &[]);
    assert_eq!(
        (code, &ran["status"]),
        (0, &serde_json::json!("ok")),
        "{ran}"
    );
    assert_eq!(ran["row_count"], 1);
    assert_eq!(count(&direct, "items").await, 1);
    // Single use: the same statement again needs a new approval.
    let (code, next) = exec(&gateway, &writer, "DELETE FROM items WHERE id = 2", &[]);
    assert_eq!(code, 3, "{next}");
    assert_ne!(next["approval_id"], id.as_str());
    assert_eq!(approval_state(&gateway, &id), "executed");
    // A non-risky write needs no approval at all.
    let (code, _) = exec(
        &gateway,
        &writer,
        "UPDATE items SET name = 'uno' WHERE id = 1",
        &[],
    );
    assert_eq!(code, 0);
    // An update without WHERE is held too.
    let (code, _) = exec(&gateway, &writer, "UPDATE items SET name = 'x'", &[]);
    assert_eq!(code, 3);
}

#[tokio::test]
async fn a_changed_policy_or_an_expired_approval_goes_back_to_hold() {
    let policy = quickstart_policy().replace("@approval_ttl(\"15m\")", "@approval_ttl(\"1s\")");
    let (_db, mut gateway, direct) = items_behind_gateway(Options {
        policy: Some(policy.clone()),
        ..Options::default()
    })
    .await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let sql = "DELETE FROM items WHERE id = 1";

    // Approved, but not used within the policy's 1 s: expired, a new approval is needed.
    let (_, held) = exec(&gateway, &writer, sql, &[]);
    let id = held["approval_id"].as_str().unwrap().to_owned();
    assert!(approve(&gateway, &admin, &id).status.success());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, again) = exec(&gateway, &writer, sql, &[]);
    assert_eq!(code, 3, "{again}");
    assert_ne!(again["approval_id"], id.as_str());
    assert_eq!(approval_state(&gateway, &id), "expired");

    // Approved, then the policy set changes: the approval was for the old version.
    let id = again["approval_id"].as_str().unwrap().to_owned();
    assert!(approve(&gateway, &admin, &id).status.success());
    std::fs::write(
        gateway.dir.path().join("policy.cedar"),
        format!("{policy}\n// reviewed again\n"),
    )
    .unwrap();
    gateway.terminate();
    gateway.restart();
    let (code, after) = exec(&gateway, &writer, sql, &[]);
    assert_eq!(code, 3, "{after}");
    assert_ne!(after["approval_id"], id.as_str());
    assert_eq!(count(&direct, "items").await, 2);
}

#[tokio::test]
async fn a_pending_approval_survives_a_restart_and_runs_after_it() {
    let (_db, mut gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let sql = "DELETE FROM items WHERE id = 1";
    let (_, held) = exec(&gateway, &writer, sql, &[]);
    let id = held["approval_id"].as_str().unwrap().to_owned();
    gateway.terminate();
    gateway.restart();
    assert_eq!(approval_state(&gateway, &id), "pending");
    assert!(approve(&gateway, &admin, &id).status.success());
    let (code, ran) = exec(&gateway, &writer, sql, &["--approval", &id]);
    assert_eq!(code, 0, "{ran}");
    assert_eq!(count(&direct, "items").await, 1);
}

#[tokio::test]
async fn exec_wait_runs_as_soon_as_it_is_approved() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let waiting = {
        let config = gateway.config_path();
        let data = gateway.data_dir();
        let addr = gateway.pg_addr.to_string();
        let writer = writer.clone();
        std::thread::spawn(move || {
            Command::new(support::binary())
                .arg("--config")
                .arg(config)
                .arg("--data-dir")
                .arg(data)
                .args(["exec", "demo", "--sql", "DELETE FROM items WHERE id = 2"])
                .args(["--gateway", &addr, "--output", "json", "--wait"])
                .env("GATEHOUSE_TOKEN", writer)
                .output()
                .unwrap()
        })
    };
    let id = the_pending_approval(&gateway);
    assert!(approve(&gateway, &admin, &id).status.success());
    let output = waiting.join().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(count(&direct, "items").await, 1);
}

#[tokio::test]
async fn cancel_withdraws_and_a_denial_or_timeout_fails_clearly() {
    let (_db, gateway, direct) = items_behind_gateway(Options {
        extra: "[approvals]\nwait = \"3s\"\n".to_owned(),
        ..Options::default()
    })
    .await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);

    // Ctrl-C: a cancel request withdraws the approval and fails the statement.
    let client = gateway.connect("wes", &writer).await.unwrap();
    let cancel = client.cancel_token();
    let running =
        tokio::spawn(async move { client.simple_query("DELETE FROM items WHERE id = 1").await });
    let id = tokio::task::spawn_blocking({
        let config = gateway.config_path();
        let data = gateway.data_dir();
        move || {
            let started = Instant::now();
            loop {
                let output = Command::new(support::binary())
                    .arg("--config")
                    .arg(&config)
                    .arg("--data-dir")
                    .arg(&data)
                    .args(["approvals", "list", "--pending", "--output", "json"])
                    .output()
                    .unwrap();
                let list: Vec<serde_json::Value> =
                    serde_json::from_slice(&output.stdout).unwrap_or_default();
                if let Some(first) = list.first() {
                    return first["id"].as_str().unwrap().to_owned();
                }
                assert!(started.elapsed() < Duration::from_secs(15));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
    .await
    .unwrap();
    cancel.cancel_query(gateway.tls()).await.unwrap();
    let error = running.await.unwrap().unwrap_err();
    assert_eq!(
        support::sqlstate(&error).as_deref(),
        Some("57014"),
        "{error:?}"
    );
    assert!(support::message(&error).contains("withdrawn"), "{error:?}");
    assert_eq!(approval_state(&gateway, &id), "cancelled");

    // Denied with a reason: the waiting statement fails with it.
    let client = gateway.connect("wes", &writer).await.unwrap();
    let running =
        tokio::spawn(async move { client.simple_query("DELETE FROM items WHERE id = 2").await });
    let id = tokio::task::spawn_blocking({
        let gateway_config = gateway.config_path();
        let data = gateway.data_dir();
        move || {
            let started = Instant::now();
            loop {
                let output = Command::new(support::binary())
                    .arg("--config")
                    .arg(&gateway_config)
                    .arg("--data-dir")
                    .arg(&data)
                    .args(["approvals", "list", "--pending", "--output", "json"])
                    .output()
                    .unwrap();
                let list: Vec<serde_json::Value> =
                    serde_json::from_slice(&output.stdout).unwrap_or_default();
                if let Some(first) = list.first() {
                    return first["id"].as_str().unwrap().to_owned();
                }
                assert!(started.elapsed() < Duration::from_secs(15));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    })
    .await
    .unwrap();
    let denied = gateway.cli_as(
        &admin,
        &["approvals", "deny", &id, "--reason", "use a soft delete"],
    );
    assert!(
        denied.status.success(),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let error = running.await.unwrap().unwrap_err();
    assert_eq!(support::sqlstate(&error).as_deref(), Some("42501"));
    assert!(
        support::message(&error).contains("use a soft delete")
            && support::message(&error).contains("ada"),
        "{error:?}"
    );

    // Nobody decides within the gateway's 3 s wait: the statement fails, the approval stays.
    let client = gateway.connect("wes", &writer).await.unwrap();
    let error = client
        .simple_query("UPDATE items SET name = 'x'")
        .await
        .unwrap_err();
    assert_eq!(support::sqlstate(&error).as_deref(), Some("57014"));
    assert!(
        support::message(&error).contains("still pending"),
        "{error:?}"
    );
    assert_eq!(pending_approvals(&gateway).len(), 1);
    // The session is still usable.
    client.simple_query("SELECT 1").await.unwrap();
    assert_eq!(count(&direct, "items").await, 2);
}

#[tokio::test]
async fn policy_check_shows_hold_and_who_approves() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let output = gateway.cli(&[
        "policy",
        "check",
        "--identity",
        "wes",
        "--groups",
        "writers",
        "--connection",
        "demo",
        "--sql",
        "DELETE FROM items WHERE id = 1",
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(3));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["decision"], "hold");
    assert_eq!(value["requests"][0]["approval"]["group"], "admins");
    let text = gateway.cli(&[
        "policy",
        "check",
        "--identity",
        "wes",
        "--groups",
        "writers",
        "--connection",
        "demo",
        "--sql",
        "UPDATE items SET name = 'x'",
    ]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("HOLD") && text.contains("group `admins`"),
        "{text}"
    );
}

#[tokio::test]
async fn exec_with_an_approval_for_other_text_or_already_used_fails_at_once_and_says_so() {
    // The gateway would hold a mismatched statement for its whole `[approvals] wait` (5 min by
    // default); exec must hang up at once instead.
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let sql = "DELETE FROM items WHERE id = 1";
    let (_, held) = exec(&gateway, &writer, sql, &[]);
    let id = held["approval_id"].as_str().unwrap().to_owned();
    assert!(approve(&gateway, &admin, &id).status.success());

    let exec_bounded = |sql: &str| {
        let mut command = Command::new(support::binary());
        command
            .arg("--config")
            .arg(gateway.config_path())
            .arg("--data-dir")
            .arg(gateway.data_dir())
            .args(["exec", "demo", "--sql", sql, "--approval", &id])
            .args([
                "--gateway",
                &gateway.pg_addr.to_string(),
                "--output",
                "json",
            ])
            .env("GATEHOUSE_TOKEN", &writer);
        exec_within_a_minute(command)
    };

    let (status, other_text) = exec_bounded("DELETE FROM items WHERE id = 2");
    assert_eq!(status.code(), Some(1), "{other_text}");
    assert_eq!(other_text["status"], "error");
    let message = other_text["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("approval {id} cannot run this statement")),
        "{message}"
    );
    assert!(message.contains("granted for other text"), "{message}");
    assert!(
        message.contains("DELETE FROM items WHERE id = 1"),
        "{message}"
    );
    assert!(
        pending_approvals(&gateway).is_empty(),
        "no new approval was asked for"
    );
    assert_eq!(count(&direct, "items").await, 2, "nothing ran");

    let (code, ran) = exec(&gateway, &writer, sql, &["--approval", &id]);
    assert_eq!(code, 0, "{ran}");
    let (status, used) = exec_bounded(sql);
    assert_eq!(status.code(), Some(1), "{used}");
    let message = used["message"].as_str().unwrap();
    assert!(message.contains("already used"), "{message}");
    assert_eq!(count(&direct, "items").await, 1);

    // On a machine without the gateway's store, the gateway's hold notice naming another
    // approval is what tells: exec hangs up at once rather than wait out the hold.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut command = Command::new(support::binary());
    command
        .arg("--data-dir")
        .arg(elsewhere.path())
        .args(["exec", "demo", "--sql", "DELETE FROM items WHERE id = 2"])
        .args(["--approval", &id, "--gateway", &gateway.pg_addr.to_string()])
        .arg("--ca-file")
        .arg(gateway.ca_file())
        .args(["--output", "json"])
        .env("GATEHOUSE_TOKEN", &writer);
    let (status, held) = exec_within_a_minute(command);
    assert_eq!(status.code(), Some(1), "{held}");
    assert!(
        held["message"]
            .as_str()
            .unwrap()
            .contains("the gateway holds it for approval"),
        "{held}"
    );
    assert_eq!(count(&direct, "items").await, 1);
}

/// Run an `exec ... --output json` command; it must return within a minute (the gateway's
/// `[approvals] wait` is five): its status and JSON answer.
fn exec_within_a_minute(mut command: Command) -> (std::process::ExitStatus, serde_json::Value) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let status = support::wait_or_kill(&mut child, Duration::from_secs(60))
        .expect("exec --approval did not return within a minute");
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    (status, serde_json::from_str(stdout.trim()).unwrap())
}
