//! Replacing the policy of a running gateway: `gatehouse policy reload` (through the admin API,
//! with an admin's token) and `kill -HUP`. A valid set decides from the next request on, open
//! sessions that lost `connect` or `data:unmasked` are ended with the reason, held statements
//! are held again under the new version; an invalid set is refused with the reason and the old
//! one stays in force; every reload is in the audit log.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{
    Gateway, Options, count, items_behind_gateway, message, quickstart_policy, sqlstate,
};

fn policy_path(gateway: &Gateway) -> std::path::PathBuf {
    gateway.dir.path().join("policy.cedar")
}

fn write_policy(gateway: &Gateway, text: &str) {
    std::fs::write(policy_path(gateway), text).unwrap();
}

/// `gatehouse policy reload --output json` as `token`: (exit code, JSON answer).
fn reload(gateway: &Gateway, token: &str) -> (i32, serde_json::Value, String) {
    let output = gateway.cli_as(token, &["policy", "reload", "--output", "json"]);
    parse(&output)
}

fn parse(output: &Output) -> (i32, serde_json::Value, String) {
    let text = String::from_utf8_lossy(&output.stdout);
    let value = serde_json::from_str(text.trim()).unwrap_or(serde_json::Value::Null);
    (
        output.status.code().unwrap_or(-1),
        value,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn reloads_in_audit(gateway: &Gateway) -> Vec<serde_json::Value> {
    gateway
        .audit_events()
        .into_iter()
        .filter(|event| event["action"] == "policy:reload")
        .collect()
}

/// Wait until `probe` holds, for at most 10 s.
async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !probe().await {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: not within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_valid_reload_ends_the_sessions_that_lost_access_and_keeps_the_others() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let admin = gateway.key("root-admin", &["admins"]);
    let ana = gateway.key("ana", &["readers"]);
    let bo = gateway.key("bo", &["readers"]);
    let ana_session = gateway.connect("ana", &ana).await.unwrap();
    let bo_session = gateway.connect("bo", &bo).await.unwrap();
    ana_session.simple_query("SELECT 1").await.unwrap();

    write_policy(
        &gateway,
        &format!(
            "{}\n@id(\"ana-is-out\")\nforbid (principal == Gatehouse::Identity::\"ana\", action, resource);\n",
            quickstart_policy()
        ),
    );
    let (code, answer, stderr) = reload(&gateway, &admin);
    assert_eq!(code, 0, "{answer} {stderr}");
    assert_eq!(answer["reloaded"], true);
    assert_eq!(answer["changed"], true);
    let version = answer["version"].as_str().unwrap().to_owned();
    assert_ne!(answer["previous_version"].as_str().unwrap(), version);

    // ana's open session ends with the reason; bo's goes on.
    let ended = ana_session.simple_query("SELECT 1").await.unwrap_err();
    let text = format!("{} {ended}", message(&ended));
    assert!(
        text.contains("no longer permits this session") || ana_session.is_closed(),
        "ana's session should end: {text}"
    );
    // The client sees the error before its connection task has read the end of the stream.
    eventually("ana's connection closes", || {
        let closed = ana_session.is_closed();
        async move { closed }
    })
    .await;
    bo_session
        .simple_query("SELECT count(*) FROM items")
        .await
        .unwrap();
    let refused = gateway.connect("ana", &ana).await.unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"), "{refused}");
    assert!(
        message(&refused).contains("ana-is-out"),
        "{}",
        message(&refused)
    );

    let reloads = reloads_in_audit(&gateway);
    let last = reloads.last().expect("the reload is in the audit log");
    assert_eq!(last["decision"], "allow");
    assert_eq!(last["identity"]["subject"], "root-admin");
    assert!(
        last["detail"].as_str().unwrap().contains(&version),
        "{last}"
    );
    let log = gateway.log();
    assert!(log.contains("policy reloaded"), "{log}");

    // Reloading the same files again changes nothing and says so.
    let (code, answer, _) = reload(&gateway, &admin);
    assert_eq!(code, 0);
    assert_eq!(answer["changed"], false);
    assert_eq!(answer["version"].as_str().unwrap(), version);
}

#[tokio::test]
async fn an_invalid_policy_is_refused_with_the_reason_and_the_old_one_stays() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let admin = gateway.key("root-admin", &["admins"]);
    let ana = gateway.key("ana", &["readers"]);
    let session = gateway.connect("ana", &ana).await.unwrap();

    write_policy(
        &gateway,
        &format!(
            "{}\npermit (principal, action == Gatehouse::Action::\"sql:selekt\", resource);\n",
            quickstart_policy()
        ),
    );
    let output = gateway.cli_as(&admin, &["policy", "reload"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("reload refused"), "{stderr}");
    assert!(stderr.contains("stays in force"), "{stderr}");
    assert!(
        stderr.contains("sql:selekt"),
        "the reason names the mistake: {stderr}"
    );

    let (code, answer, _) = reload(&gateway, &admin);
    assert_eq!(code, 1);
    assert_eq!(answer["reloaded"], false);
    assert_eq!(answer["code"], "invalid_policy");

    // The old set still decides: the open session reads, a new one opens.
    session
        .simple_query("SELECT count(*) FROM items")
        .await
        .unwrap();
    gateway.connect("ana", &ana).await.unwrap();
    let refused = reloads_in_audit(&gateway);
    assert!(
        refused.iter().any(|event| event["decision"] == "deny"
            && event["detail"].as_str().unwrap().contains("refused")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn only_an_admins_token_may_reload_through_the_api() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let ana = gateway.key("ana", &["readers"]);
    let (code, answer, _) = reload(&gateway, &ana);
    assert_eq!(code, 1);
    assert_eq!(answer["code"], "not_admin", "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("admin groups"));

    let (code, answer, _) = reload(&gateway, "gh_not-a-token");
    assert_eq!(code, 1);
    assert_eq!(answer["code"], "token_refused", "{answer}");

    // No token at all: the command says where it looks.
    let output = gateway.cli(&["policy", "reload"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GATEHOUSE_TOKEN"), "{stderr}");
    assert!(reloads_in_audit(&gateway).is_empty());
}

#[tokio::test]
async fn sighup_reloads_and_open_sessions_are_decided_by_the_new_set_at_their_next_statement() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let ana = gateway.key("ana", &["readers"]);
    let session = gateway.connect("ana", &ana).await.unwrap();
    session
        .simple_query("SELECT count(*) FROM items")
        .await
        .unwrap();

    write_policy(
        &gateway,
        &format!(
            "{}\n@id(\"readers-stop-reading\")\nforbid (principal in Gatehouse::Group::\"readers\", action == Gatehouse::Action::\"sql:select\", resource);\n",
            quickstart_policy()
        ),
    );
    let hup = Command::new("kill")
        .args(["-HUP", &gateway.pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually("the reload by SIGHUP", || async {
        gateway.log().contains("policy reloaded")
    })
    .await;

    let refused = session
        .simple_query("SELECT count(*) FROM items")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"));
    assert!(
        message(&refused).contains("readers-stop-reading"),
        "{}",
        message(&refused)
    );
    // The session itself was not withdrawn: housekeeping still runs.
    session.simple_query("SHOW search_path").await.unwrap();
    let reload = reloads_in_audit(&gateway).pop().unwrap();
    assert_eq!(reload["identity"]["kind"], "operator");
    assert!(
        reload["detail"].as_str().unwrap().contains("SIGHUP"),
        "{reload}"
    );

    // A broken file on SIGHUP: refused, logged, the last good set stays.
    write_policy(&gateway, "permit (principal, action, resource"); // unterminated
    Command::new("kill")
        .args(["-HUP", &gateway.pid.to_string()])
        .status()
        .unwrap();
    eventually("the refused reload", || async {
        gateway.log().contains("policy reload refused")
    })
    .await;
    let still = session.simple_query("SELECT 1").await.unwrap_err();
    assert!(message(&still).contains("readers-stop-reading"));
}

#[tokio::test]
async fn an_unmasked_session_that_loses_data_unmasked_ends_and_comes_back_masked() {
    let (_db, gateway) =
        people_behind_gateway("[connections.masking]\ndetectors = [\"email\"]\n").await;
    let admin = gateway.key("root-admin", &["admins"]);
    let session = gateway.connect("root-admin", &admin).await.unwrap();
    let unmasked = first_value(
        session
            .simple_query("SELECT email FROM people")
            .await
            .unwrap(),
    );
    assert_eq!(unmasked, "ana@example.com");

    write_policy(
        &gateway,
        &quickstart_policy().replace(
            "@id(\"admins-see-unmasked\")\npermit",
            "@id(\"admins-see-unmasked\")\nforbid",
        ),
    );
    let (code, answer, stderr) = reload(&gateway, &admin);
    assert_eq!(code, 0, "{answer} {stderr}");
    eventually("the unmasked session ends", || async {
        session.is_closed()
    })
    .await;

    let again = gateway.connect("root-admin", &admin).await.unwrap();
    let masked = first_value(
        again
            .simple_query("SELECT email FROM people")
            .await
            .unwrap(),
    );
    assert_ne!(masked, "ana@example.com", "masked after the reload");
    let withdrawn = gateway
        .audit_events()
        .into_iter()
        .filter(|event| event["kind"] == "disconnect")
        .any(|event| {
            event["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("no longer permits `data:unmasked`")
        });
    assert!(withdrawn, "the disconnect says why");
}

#[tokio::test]
async fn a_statement_held_under_the_old_policy_is_held_again_under_the_new_one() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let admin = gateway.key("root-admin", &["admins"]);
    let writer = gateway.key("wes", &["writers"]);
    let gateway_addr = gateway.pg_addr.to_string();
    let mut held = Command::new(support::binary())
        .arg("--config")
        .arg(gateway.config_path())
        .arg("--data-dir")
        .arg(gateway.data_dir())
        .args([
            "exec",
            "demo",
            "--sql",
            "DELETE FROM items WHERE id = 1",
            "--gateway",
            &gateway_addr,
            "--wait",
            "--output",
            "json",
        ])
        .env("GATEHOUSE_TOKEN", &writer)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = wait_for_pending(&gateway, &[]).await;

    // A new version of the policy (the same rules, one more comment).
    write_policy(&gateway, &format!("// reviewed\n{}", quickstart_policy()));
    let (code, answer, _) = reload(&gateway, &admin);
    assert_eq!(code, 0, "{answer}");
    let version = answer["version"].as_str().unwrap().to_owned();

    // Approving the old approval does not run the statement: it is held again, bound to the
    // new version.
    let approved = gateway.cli_as(&admin, &["approvals", "approve", &first]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let second = wait_for_pending(&gateway, &[first.as_str()]).await;
    assert_eq!(
        count(&direct, "items").await,
        2,
        "nothing ran on the old approval"
    );
    let shown = gateway.cli(&["approvals", "show", &second, "--output", "json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        shown["binding"]["policy_version"].as_str(),
        Some(version.as_str()),
        "{shown}"
    );

    let approved = gateway.cli_as(&admin, &["approvals", "approve", &second]);
    assert!(approved.status.success());
    let status = support::wait_exit(&mut held, Duration::from_secs(30), "the held exec");
    let mut stdout = String::new();
    std::io::Read::read_to_string(held.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "{stdout}");
    assert_eq!(count(&direct, "items").await, 1);
}

/// The id of a pending approval other than `seen`, once there is one.
async fn wait_for_pending(gateway: &Gateway, seen: &[&str]) -> String {
    let started = Instant::now();
    loop {
        let output = gateway.cli(&["approvals", "list", "--pending", "--output", "json"]);
        let pending: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        if let Some(id) = pending
            .iter()
            .filter_map(|approval| approval["id"].as_str())
            .find(|id| !seen.contains(id))
        {
            return id.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no pending approval"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rewrite the gateway's configuration file: `edit` gets its text and returns the new one.
fn edit_config(gateway: &Gateway, edit: impl FnOnce(&str) -> String) {
    let path = gateway.config_path();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
}

fn first_value(rows: Vec<tokio_postgres::SimpleQueryMessage>) -> String {
    rows.into_iter()
        .find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap()
}

async fn people_behind_gateway(demo_extra: &str) -> (support::TestDb, Gateway) {
    let db = support::TestDb::create().await;
    db.direct()
        .await
        .batch_execute(
            "CREATE TABLE people (id int, email text); INSERT INTO people VALUES (1, 'ana@example.com');",
        )
        .await
        .unwrap();
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            demo_extra: demo_extra.to_owned(),
            ..Options::default()
        },
    );
    (db, gateway)
}

#[tokio::test]
async fn masking_added_by_a_reload_ends_open_sessions_on_the_connection_and_masks_new_ones() {
    let (_db, gateway) = people_behind_gateway("").await;
    let admin = gateway.key("root-admin", &["admins"]);
    let ana = gateway.key("ana", &["readers"]);
    let session = gateway.connect("ana", &ana).await.unwrap();
    let before = first_value(
        session
            .simple_query("SELECT email FROM people")
            .await
            .unwrap(),
    );
    assert_eq!(before, "ana@example.com", "no masking configured yet");

    edit_config(&gateway, |text| {
        text.replace(
            "user = \"postgres\"\n",
            "user = \"postgres\"\n[connections.masking]\ndetectors = [\"email\"]\n",
        )
    });
    let (code, answer, stderr) = reload(&gateway, &admin);
    assert_eq!(code, 0, "{answer} {stderr}");
    assert_eq!(answer["changed"], false, "the policy files did not change");
    let applied = answer["configuration"]["applied"].to_string();
    assert!(
        applied.contains("connection `demo`: masking changed"),
        "{answer}"
    );
    assert_eq!(
        answer["configuration"]["restart_needed"],
        serde_json::json!([])
    );

    eventually("the session that read unmasked values ends", || async {
        session.is_closed()
    })
    .await;
    let again = gateway.connect("ana", &ana).await.unwrap();
    let after = first_value(
        again
            .simple_query("SELECT email FROM people")
            .await
            .unwrap(),
    );
    assert_ne!(after, "ana@example.com", "masked by the reloaded rules");
    let disconnects: Vec<String> = gateway
        .audit_events()
        .into_iter()
        .filter(|event| event["kind"] == "disconnect")
        .filter_map(|event| event["detail"].as_str().map(str::to_owned))
        .collect();
    assert!(
        disconnects
            .iter()
            .any(|detail| detail.contains("the masking rules of connection `demo` changed")),
        "{disconnects:?}"
    );
    let reloads = reloads_in_audit(&gateway);
    let detail = reloads.last().unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("masking changed"), "{detail}");
}

#[tokio::test]
async fn a_reload_that_leaves_masking_as_it_was_keeps_masked_sessions_open() {
    let (_db, gateway) =
        people_behind_gateway("[connections.masking]\ndetectors = [\"email\"]\n").await;
    let admin = gateway.key("root-admin", &["admins"]);
    let ana = gateway.key("ana", &["readers"]);
    let session = gateway.connect("ana", &ana).await.unwrap();
    let masked = first_value(
        session
            .simple_query("SELECT email FROM people")
            .await
            .unwrap(),
    );
    assert_ne!(masked, "ana@example.com");

    // Only the description changes: new sessions see it, the masking stays the same object.
    edit_config(&gateway, |text| {
        text.replace(
            "user = \"postgres\"\n",
            "user = \"postgres\"\ndescription = \"people, for support\"\n",
        )
    });
    let (code, answer, stderr) = reload(&gateway, &admin);
    assert_eq!(code, 0, "{answer} {stderr}");
    assert!(
        answer["configuration"]["applied"]
            .to_string()
            .contains("description, environment or tags changed"),
        "{answer}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = first_value(
        session
            .simple_query("SELECT email FROM people")
            .await
            .unwrap(),
    );
    assert_eq!(
        still, masked,
        "the open masked session goes on, masked as before"
    );
}

#[tokio::test]
async fn a_removed_connection_ends_its_sessions_and_a_new_one_waits_for_a_restart() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let admin = gateway.key("root-admin", &["admins"]);
    let ana = gateway.key("ana", &["readers"]);
    let session = gateway.connect("ana", &ana).await.unwrap();
    session.simple_query("SELECT 1").await.unwrap();

    // `demo` becomes `demo2`: the old name is gone, the new one needs a restart.
    edit_config(&gateway, |text| {
        text.replace("name = \"demo\"", "name = \"demo2\"")
    });
    let (code, answer, stderr) = reload(&gateway, &admin);
    assert_eq!(code, 0, "{answer} {stderr}");
    assert!(
        answer["configuration"]["applied"]
            .to_string()
            .contains("connection `demo` removed"),
        "{answer}"
    );
    assert!(
        answer["configuration"]["restart_needed"]
            .to_string()
            .contains("connection `demo2` is new: restart gatehouse to serve it"),
        "{answer}"
    );
    eventually("the session on the removed connection ends", || async {
        session.is_closed()
    })
    .await;
    let refused = gateway.connect("ana", &ana).await.unwrap_err();
    assert!(message(&refused).contains("demo"), "{}", message(&refused));
    let text =
        String::from_utf8_lossy(&gateway.cli_as(&admin, &["policy", "reload"]).stdout).into_owned();
    assert!(
        text.contains("not in force until gatehouse restarts: connection `demo2` is new"),
        "{text}"
    );
}

#[tokio::test]
async fn an_invalid_configuration_refuses_the_whole_reload_and_everything_stays() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let admin = gateway.key("root-admin", &["admins"]);
    let ana = gateway.key("ana", &["readers"]);
    let session = gateway.connect("ana", &ana).await.unwrap();

    edit_config(&gateway, |text| {
        text.replace(
            "user = \"postgres\"\n",
            "user = \"postgres\"\nrecord_rows = true\n",
        )
    });
    // This machine's CLI reads the same file to find the gateway, so it says so itself...
    let local = gateway.cli_as(&admin, &["policy", "reload"]);
    assert_eq!(local.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&local.stderr);
    assert!(stderr.contains("record_rows"), "{stderr}");
    // ...and asked directly, the gateway refuses the reload with the reason.
    let api = format!("http://{}", gateway.admin_addr);
    let output = gateway.cli_as(
        &admin,
        &["policy", "reload", "--api", &api, "--output", "json"],
    );
    let (code, answer, stderr) = parse(&output);
    assert_eq!(code, 1, "{answer} {stderr}");
    assert_eq!(answer["reloaded"], false);
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("configuration file was refused"), "{error}");
    assert!(
        error.contains("record_rows"),
        "the unknown key is named: {error}"
    );
    assert_eq!(count(&session, "items").await, 2);
    // The audit log is read with the CLI, which needs a valid file again.
    edit_config(&gateway, |text| text.replace("record_rows = true\n", ""));
    let reloads = reloads_in_audit(&gateway);
    assert_eq!(reloads.last().unwrap()["decision"], "deny");
}
