//! `gatehouse approvals` as reviewers use it beside a running gateway: listing and showing
//! (tables and JSON), approving and denying with the reviewer's own token, the refusals that
//! keep anyone from approving their own request or a request outside their group, and the
//! audit events every decision leaves, naming the reviewer.
//!
//! The pipeline does not create approvals here; they are seeded straight into the gateway's
//! store, as the pipeline will.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use gatehouse_pipeline::{
    ApprovalBinding, ApprovalNeed, ApprovalRecord, ApprovalState, ApprovalStore, now_unix_ms,
};
use gatehouse_store::Store;
use serde_json::Value;
use std::process::{Command, Output};
use support::{Gateway, TestDb, binary};

const MINUTE_MS: i64 = 60_000;
const STATEMENT: &str = "DELETE FROM orders WHERE id = 7";

/// A pending approval asked for by `agent-7` acting for `ana`, needing `required` admins.
fn pending(id: &str, required: u32) -> ApprovalRecord {
    let now = now_unix_ms();
    ApprovalRecord {
        id: id.into(),
        state: ApprovalState::Pending,
        binding: ApprovalBinding {
            subject: "agent-7".into(),
            acting_for: vec!["ana".into()],
            connection: "demo".into(),
            action: "sql:delete".into(),
            request: STATEMENT.into(),
            fingerprint: "fp-delete-orders".into(),
            policy_version: "v-test".into(),
            context: None,
        },
        need: ApprovalNeed {
            policy: "deletes-need-admins".into(),
            group: "admins".into(),
            required,
            ttl_seconds: 600,
        },
        requester_kind: "machine".into(),
        requester_groups: vec!["agents".into()],
        session: Some("s-00000000000000aa".into()),
        created_unix_ms: now,
        expires_unix_ms: now + 15 * MINUTE_MS,
        updated_unix_ms: now,
        reviews: vec![],
    }
}

/// Store `records` in the gateway's own store, beside the running gateway.
async fn seed(gateway: &Gateway, records: &[ApprovalRecord]) {
    let store = Store::open(&gateway.data_dir().join("gatehouse.db"))
        .await
        .unwrap();
    for record in records {
        store.create(record).await.unwrap();
    }
    store.close().await;
}

async fn stored(gateway: &Gateway, id: &str) -> ApprovalRecord {
    let store = Store::open(&gateway.data_dir().join("gatehouse.db"))
        .await
        .unwrap();
    let record = store.get(id).await.unwrap().unwrap();
    store.close().await;
    record
}

/// Run `gatehouse` on the gateway's config and data, as local user `operator-olga`, with
/// `token` (if any) in GATEHOUSE_TOKEN.
fn gatehouse(gateway: &Gateway, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command
        .arg("--config")
        .arg(gateway.config_path())
        .arg("--data-dir")
        .arg(gateway.data_dir())
        .args(args)
        .env("USER", "operator-olga");
    match token {
        Some(token) => command.env("GATEHOUSE_TOKEN", token),
        None => command.env_remove("GATEHOUSE_TOKEN"),
    };
    command.output().unwrap()
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "expected success: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The command exited 1; its standard error.
fn refusal_of(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected a refusal: {}{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

fn approval_events(gateway: &Gateway) -> Vec<Value> {
    gateway
        .audit_events()
        .into_iter()
        .filter(|event| event["kind"] == "approval")
        .collect()
}

#[tokio::test]
async fn list_and_show_for_people_and_programs() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let mut old = pending("ap-0000000000000001", 1);
    old.created_unix_ms -= 30 * MINUTE_MS;
    old.expires_unix_ms = now_unix_ms() - MINUTE_MS;
    let mut multi_line = pending("ap-0000000000000002", 2);
    multi_line.binding.request = "DELETE FROM orders\n WHERE id = 7".into();
    seed(&gateway, &[old, multi_line]).await;

    let text = stdout_of(&gatehouse(&gateway, None, &["approvals", "list"]));
    for expected in [
        "ap-0000000000000002",
        "ap-0000000000000001",
        "agent-7 acting for ana",
        "demo",
        "sql:delete",
        "DELETE FROM orders WHERE id = 7",
        "2 of admins",
        "pending",
        "expired",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }
    assert!(
        text.find("ap-0000000000000002") < text.find("ap-0000000000000001"),
        "newest first:\n{text}"
    );

    let json: Value = serde_json::from_str(&stdout_of(&gatehouse(
        &gateway,
        None,
        &["approvals", "list", "--pending", "--output", "json"],
    )))
    .unwrap();
    let items = json.as_array().unwrap();
    assert_eq!(items.len(), 1, "{json}");
    assert_eq!(items[0]["id"], "ap-0000000000000002");
    assert_eq!(items[0]["state"], "pending");
    assert_eq!(
        items[0]["binding"]["acting_for"],
        serde_json::json!(["ana"])
    );
    assert_eq!(items[0]["need"]["required"], 2);

    // Listing noticed the expiry once, stored it and recorded it.
    assert_eq!(
        stored(&gateway, "ap-0000000000000001").await.state,
        ApprovalState::Expired
    );
    let events = approval_events(&gateway);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "approval:expire");
    assert_eq!(events[0]["identity"]["subject"], "operator-olga");
    assert_eq!(events[0]["connection"], "demo");
    assert_eq!(events[0]["statement"], STATEMENT);
    assert!(
        events[0]["detail"]
            .as_str()
            .unwrap()
            .contains("ap-0000000000000001")
    );

    let shown = stdout_of(&gatehouse(
        &gateway,
        None,
        &["approvals", "show", "ap-0000000000000002"],
    ));
    for expected in [
        "ap-0000000000000002",
        "pending (in ",
        "agent-7 acting for ana (machine; groups agents)",
        "s-00000000000000aa",
        "DELETE FROM orders\n",
        "WHERE id = 7",
        "deletes-need-admins (policy set v-test)",
        "2 of admins",
        "none yet",
        "gatehouse approvals approve ap-0000000000000002",
    ] {
        assert!(
            shown.contains(expected),
            "`{expected}` missing from:\n{shown}"
        );
    }
    let one: Value = serde_json::from_str(&stdout_of(&gatehouse(
        &gateway,
        None,
        &[
            "approvals",
            "show",
            "ap-0000000000000001",
            "--output",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(one["state"], "expired");
    assert_eq!(one["binding"]["request"], STATEMENT);

    let stderr = refusal_of(&gatehouse(
        &gateway,
        None,
        &["approvals", "show", "ap-ffffffffffffffff"],
    ));
    assert!(stderr.contains("gatehouse approvals list"), "{stderr}");
}

#[tokio::test]
async fn an_admin_approves_and_denies_and_the_audit_log_names_them() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    seed(
        &gateway,
        &[
            pending("ap-0000000000000001", 2),
            pending("ap-0000000000000002", 1),
        ],
    )
    .await;
    let dora = gateway.key("dora", &["admins"]);
    let dmitri = gateway.key("dmitri", &["admins", "oncall"]);

    let first = stdout_of(&gatehouse(
        &gateway,
        Some(&dora),
        &[
            "approvals",
            "approve",
            "ap-0000000000000001",
            "--reason",
            "OPS-1234",
        ],
    ));
    assert!(first.contains("1 of the 2 approvals"), "{first}");
    assert_eq!(
        stored(&gateway, "ap-0000000000000001").await.state,
        ApprovalState::Pending
    );

    // The second reviewer passes the token in a file and asks for JSON.
    let token_file = gateway.dir.path().join("dmitri.token");
    std::fs::write(&token_file, format!("{dmitri}\n")).unwrap();
    let second: Value = serde_json::from_str(&stdout_of(&gatehouse(
        &gateway,
        None,
        &[
            "approvals",
            "approve",
            "ap-0000000000000001",
            "--token-file",
            token_file.to_str().unwrap(),
            "--output",
            "json",
        ],
    )))
    .unwrap();
    assert_eq!(second["state"], "approved");
    assert_eq!(second["reviews"][1]["reviewer"], "dmitri");
    let record = stored(&gateway, "ap-0000000000000001").await;
    assert_eq!(record.state, ApprovalState::Approved);
    assert!(record.expires_unix_ms > now_unix_ms() + 9 * MINUTE_MS);

    let denied = stdout_of(&gatehouse(
        &gateway,
        Some(&dora),
        &[
            "approvals",
            "deny",
            "ap-0000000000000002",
            "--reason",
            "use a soft delete",
        ],
    ));
    assert!(denied.contains("denied ap-0000000000000002"), "{denied}");
    assert_eq!(
        stored(&gateway, "ap-0000000000000002").await.state,
        ApprovalState::Denied
    );

    let events = approval_events(&gateway);
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["identity"]["subject"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("approval:approve", "dora"),
            ("approval:approve", "dmitri"),
            ("approval:deny", "dora"),
        ]
    );
    for event in &events {
        assert_eq!(event["identity"]["kind"], "human");
        assert_eq!(
            event["decision"],
            Value::Null,
            "a change, not a policy decision"
        );
        assert_eq!(event["connection"], "demo");
        assert_eq!(event["statement"], STATEMENT);
        assert_eq!(event["fingerprint"], "fp-delete-orders");
        assert!(
            event["detail"]
                .as_str()
                .unwrap()
                .contains("agent-7 acting for ana"),
            "{event}"
        );
    }
    assert_eq!(
        events[1]["identity"]["groups"],
        serde_json::json!(["admins", "oncall"])
    );
    let detail = |n: usize| events[n]["detail"].as_str().unwrap().to_owned();
    assert!(detail(0).contains("ap-0000000000000001"), "{}", detail(0));
    assert!(detail(0).contains("OPS-1234"), "{}", detail(0));
    assert!(detail(1).contains("now approved"), "{}", detail(1));
    assert!(detail(2).contains("ap-0000000000000002"), "{}", detail(2));
    assert!(detail(2).contains("use a soft delete"), "{}", detail(2));

    let verify = gatehouse(&gateway, None, &["audit", "verify"]);
    stdout_of(&verify);
}

#[tokio::test]
async fn refused_reviews_exit_1_and_change_nothing() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    seed(&gateway, &[pending("ap-0000000000000001", 2)]).await;
    let approve = ["approvals", "approve", "ap-0000000000000001"];

    let requester = gateway.key("agent-7", &["admins"]);
    let stderr = refusal_of(&gatehouse(&gateway, Some(&requester), &approve));
    assert!(
        stderr.contains("no one approves their own request"),
        "{stderr}"
    );
    let principal = gateway.key("ana", &["admins"]);
    let stderr = refusal_of(&gatehouse(&gateway, Some(&principal), &approve));
    assert!(
        stderr.contains("no one approves their own request"),
        "the one the agent acts for is a requester too: {stderr}"
    );

    let reader = gateway.key("rita", &["readers"]);
    let stderr = refusal_of(&gatehouse(&gateway, Some(&reader), &approve));
    assert!(stderr.contains("not in group `admins`"), "{stderr}");
    assert!(stderr.contains("--groups admins"), "{stderr}");

    let dora = gateway.key("dora", &["admins"]);
    stdout_of(&gatehouse(&gateway, Some(&dora), &approve));
    let stderr = refusal_of(&gatehouse(&gateway, Some(&dora), &approve));
    assert!(stderr.contains("already approved"), "{stderr}");

    let without_reason = gatehouse(
        &gateway,
        Some(&dora),
        &["approvals", "deny", "ap-0000000000000001"],
    );
    assert!(!without_reason.status.success());
    assert!(String::from_utf8_lossy(&without_reason.stderr).contains("--reason"));
    let stderr = refusal_of(&gatehouse(
        &gateway,
        Some(&dora),
        &["approvals", "deny", "ap-0000000000000001", "--reason", "  "],
    ));
    assert!(stderr.contains("needs a reason"), "{stderr}");

    let stderr = refusal_of(&gatehouse(&gateway, None, &approve));
    assert!(stderr.contains("GATEHOUSE_TOKEN"), "{stderr}");
    let stderr = refusal_of(&gatehouse(&gateway, Some("gh_nope_nope"), &approve));
    assert!(stderr.contains("your token was refused"), "{stderr}");

    let stderr = refusal_of(&gatehouse(
        &gateway,
        Some(&dora),
        &["approvals", "approve", "ap-ffffffffffffffff"],
    ));
    assert!(stderr.contains("gatehouse approvals list"), "{stderr}");

    // Only dora's one approval got through.
    let record = stored(&gateway, "ap-0000000000000001").await;
    assert_eq!(record.state, ApprovalState::Pending);
    let reviewers: Vec<&str> = record.reviews.iter().map(|r| r.reviewer.as_str()).collect();
    assert_eq!(reviewers, ["dora"]);
    let events = approval_events(&gateway);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["identity"]["subject"], "dora");
}
