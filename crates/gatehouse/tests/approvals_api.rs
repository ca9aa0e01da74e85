//! The reviewer HTTP API and approval webhooks, end to end: a writer's statement is held
//! (`gatehouse exec` answers pending), a reviewer lists, shows and approves it over HTTP with
//! curl and their own token, and the writer's statement then runs; every refusal has its own
//! status and a JSON body saying what to do; a local receiver gets signed JSON notifications
//! (pending, approved, executed) or Slack messages naming the approval, including for
//! decisions made by the CLI in another process; a failed delivery is retried.

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
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Gateway, Options, count, items_behind_gateway};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

const DELETE: &str = "DELETE FROM items WHERE id = 2";
const WEBHOOK_KEY: &str = "test-webhook-signing-key";

/// `gatehouse exec demo --sql SQL --output json` as `token`: (exit code, JSON).
fn exec(gateway: &Gateway, token: &str, sql: &str) -> (i32, Value) {
    let addr = gateway.pg_addr.to_string();
    let output = gateway.cli_as(
        token,
        &[
            "exec",
            "demo",
            "--sql",
            sql,
            "--gateway",
            &addr,
            "--output",
            "json",
        ],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    let value = serde_json::from_str(text.trim()).unwrap_or_else(|error| {
        panic!(
            "exec printed no JSON ({error}): {text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code().unwrap_or(-1), value)
}

/// The writer's DELETE, held: the id of its pending approval.
fn held_delete(gateway: &Gateway, writer: &str) -> String {
    let (code, pending) = exec(gateway, writer, DELETE);
    assert_eq!(code, 3, "{pending}");
    assert_eq!(pending["status"], "pending");
    pending["approval_id"].as_str().unwrap().to_owned()
}

/// One answer of the API, as curl saw it.
struct Answer {
    status: u16,
    headers: String,
    raw: String,
    json: Value,
}

/// `METHOD path` on the admin listener with curl, as `token` (if any), with `body` (if any).
fn api(
    gateway: &Gateway,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let mut command = Command::new("curl");
    command
        .args([
            "-sS",
            "-i",
            "-X",
            method,
            "-H",
            "Expect:",
            "-w",
            "\n%{http_code}",
        ])
        .arg(format!("http://{}{path}", gateway.admin_addr));
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    if let Some(body) = body {
        command.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let output = command.output().expect("run curl");
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (response, status) = text.rsplit_once('\n').unwrap();
    let (headers, raw) = response.split_once("\r\n\r\n").unwrap();
    Answer {
        status: status.trim().parse().unwrap(),
        headers: headers.to_ascii_lowercase(),
        raw: raw.to_owned(),
        json: serde_json::from_str(raw)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {headers}\n\n{raw}")),
    }
}

/// The answer was a refusal with `status`, a JSON error and `code`; returns the error text.
fn refused(answer: &Answer, status: u16, code: &str) -> String {
    assert_eq!(
        (answer.status, answer.json["code"].as_str()),
        (status, Some(code)),
        "{}\n\n{}",
        answer.headers,
        answer.raw
    );
    assert!(
        answer.headers.contains("content-type: application/json"),
        "{}",
        answer.headers
    );
    answer.json["error"].as_str().unwrap().to_owned()
}

fn approval_events(gateway: &Gateway) -> Vec<Value> {
    gateway
        .audit_events()
        .into_iter()
        .filter(|event| event["kind"] == "approval")
        .collect()
}

#[tokio::test]
async fn a_reviewer_lists_shows_and_approves_over_http_and_the_statement_then_runs() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let reader = gateway.key("rita", &["readers"]);
    let id = held_delete(&gateway, &writer);

    let listed = api(
        &gateway,
        "GET",
        "/v1/approvals?pending=true",
        Some(&admin),
        None,
    );
    assert_eq!(listed.status, 200, "{}", listed.raw);
    let items = listed.json.as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", listed.raw);
    assert_eq!(items[0]["id"], id.as_str());
    assert_eq!(items[0]["state"], "pending");
    assert_eq!(items[0]["binding"]["request"], DELETE);
    assert_eq!(items[0]["need"]["group"], "admins");
    assert!(!listed.raw.contains(&admin), "the token is never echoed");
    // The requester follows their own request; someone outside the group sees nothing.
    let own = api(&gateway, "GET", "/v1/approvals", Some(&writer), None);
    assert_eq!(own.json.as_array().unwrap().len(), 1, "{}", own.raw);
    let others = api(&gateway, "GET", "/v1/approvals", Some(&reader), None);
    assert_eq!(others.json, json!([]), "{}", others.raw);

    // Same shape as `gatehouse approvals show --output json`.
    let shown = api(
        &gateway,
        "GET",
        &format!("/v1/approvals/{id}"),
        Some(&admin),
        None,
    );
    assert_eq!(shown.status, 200, "{}", shown.raw);
    let cli = gateway.cli(&["approvals", "show", &id, "--output", "json"]);
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(shown.json, cli);

    let approved = api(
        &gateway,
        "POST",
        &format!("/v1/approvals/{id}/approve"),
        Some(&admin),
        Some(r#"{"reason": "ticket OPS-42"}"#),
    );
    assert_eq!(approved.status, 200, "{}", approved.raw);
    assert_eq!(approved.json["id"], id.as_str());
    assert_eq!(approved.json["state"], "approved");
    assert_eq!(approved.json["reviews"][0]["reviewer"], "ada");
    assert_eq!(approved.json["reviews"][0]["reason"], "ticket OPS-42");
    assert_eq!(count(&direct, "items").await, 2, "approving runs nothing");

    let (code, ran) = exec(&gateway, &writer, DELETE);
    assert_eq!((code, &ran["status"]), (0, &json!("ok")), "{ran}");
    assert_eq!(count(&direct, "items").await, 1);
    let shown = api(
        &gateway,
        "GET",
        &format!("/v1/approvals/{id}"),
        Some(&writer),
        None,
    );
    assert_eq!(shown.json["state"], "executed");

    // The same audit event as the CLI's, caused by the reviewer, from the HTTP client.
    let events = approval_events(&gateway);
    let approve: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "approval:approve")
        .collect();
    assert_eq!(approve.len(), 1, "{events:?}");
    assert_eq!(approve[0]["identity"]["subject"], "ada");
    assert_eq!(approve[0]["identity"]["groups"], json!(["admins"]));
    assert_eq!(approve[0]["statement"], DELETE);
    assert_eq!(approve[0]["source_address"], "127.0.0.1");
    let detail = approve[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&id) && detail.contains("reason: ticket OPS-42"),
        "{detail}"
    );
    gateway.assert_audit_verifies();
}

/// A pending approval asked for by `agent-7` acting for `ana`, needing 2 admins.
fn needs_two(id: &str) -> ApprovalRecord {
    let now = now_unix_ms();
    ApprovalRecord {
        id: id.into(),
        state: ApprovalState::Pending,
        binding: ApprovalBinding {
            subject: "agent-7".into(),
            acting_for: vec!["ana".into()],
            connection: "demo".into(),
            action: "sql:delete".into(),
            request: "DELETE FROM orders WHERE id = 7".into(),
            fingerprint: "fp-delete-orders".into(),
            policy_version: "v-test".into(),
            context: None,
        },
        need: ApprovalNeed {
            policy: "deletes-need-admins".into(),
            group: "admins".into(),
            required: 2,
            ttl_seconds: 600,
        },
        requester_kind: "machine".into(),
        requester_groups: vec!["agents".into()],
        session: None,
        created_unix_ms: now,
        expires_unix_ms: now + 15 * 60_000,
        updated_unix_ms: now,
        reviews: vec![],
    }
}

#[tokio::test]
async fn refusals_have_their_own_status_and_say_what_to_do() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let dora = gateway.key("dora", &["admins"]);
    let reader = gateway.key("rita", &["readers"]);
    let id = held_delete(&gateway, &writer);
    let approve = format!("/v1/approvals/{id}/approve");
    let deny = format!("/v1/approvals/{id}/deny");

    // 401: no token, a forged one, another scheme, an expired one; never echoed.
    let answer = api(&gateway, "POST", &approve, None, None);
    let error = refused(&answer, 401, "unauthenticated");
    assert!(error.contains("Authorization: Bearer"), "{error}");
    assert!(
        answer.headers.contains("www-authenticate: bearer"),
        "{}",
        answer.headers
    );
    let forged = "gh_0123456789abcdef_forgedforgedforged";
    let answer = api(&gateway, "GET", "/v1/approvals", Some(forged), None);
    let error = refused(&answer, 401, "token_refused");
    assert!(error.contains("gatehouse keys create"), "{error}");
    assert!(!answer.raw.contains(forged) && !answer.headers.contains(forged));
    let basic = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            "ada:secret",
        ])
        .arg(format!("http://{}/v1/approvals", gateway.admin_addr))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&basic.stdout), "401");
    let short_lived = gateway.key_with("eve", &["admins"], &["--ttl", "1s"]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let error = refused(
        &api(&gateway, "POST", &approve, Some(&short_lived), None),
        401,
        "token_refused",
    );
    assert!(error.contains("expired"), "{error}");
    // Every refused token is audited with the reason, never the token.
    let refusals: Vec<String> = gateway
        .audit_events()
        .iter()
        .filter(|e| e["kind"] == "auth_failure" && e["action"] == "api:/v1/approvals")
        .map(|e| e.to_string())
        .collect();
    assert!(
        refusals.iter().any(|e| e.contains("not a gatehouse token")),
        "{refusals:?}"
    );
    assert!(
        refusals.iter().any(|e| e.contains("expired")),
        "{refusals:?}"
    );
    assert!(
        !refusals
            .iter()
            .any(|e| e.contains(forged) || e.contains(&short_lived))
    );

    // 403: the requester; someone outside the approving group (also to look at it).
    let error = refused(
        &api(&gateway, "POST", &approve, Some(&writer), None),
        403,
        "self_review",
    );
    assert!(
        error.contains("no one approves their own request"),
        "{error}"
    );
    let error = refused(
        &api(&gateway, "POST", &approve, Some(&reader), None),
        403,
        "not_approver",
    );
    assert!(error.contains("--groups admins"), "{error}");
    let error = refused(
        &api(
            &gateway,
            "GET",
            &format!("/v1/approvals/{id}"),
            Some(&reader),
            None,
        ),
        403,
        "not_approver",
    );
    assert!(error.contains("not in group `admins`"), "{error}");

    // 404: unknown id (JSON, like every other answer), unknown endpoint.
    let error = refused(
        &api(
            &gateway,
            "POST",
            "/v1/approvals/ap-ffffffffffffffff/approve",
            Some(&admin),
            None,
        ),
        404,
        "no_such_approval",
    );
    assert!(error.contains("GET /v1/approvals"), "{error}");
    refused(
        &api(
            &gateway,
            "GET",
            "/v1/approvals/ap-ffffffffffffffff",
            Some(&admin),
            None,
        ),
        404,
        "no_such_approval",
    );
    refused(
        &api(&gateway, "GET", "/v2/nothing", None, None),
        404,
        "no_such_endpoint",
    );

    // 422: a denial without a reason (no body, an empty one, a blank reason).
    for body in [None, Some("{}"), Some(r#"{"reason": "   "}"#)] {
        let error = refused(
            &api(&gateway, "POST", &deny, Some(&admin), body),
            422,
            "reason_required",
        );
        assert!(error.contains(r#"{"reason": "..."}"#), "{error}");
    }
    // 400: not JSON, a misspelt field, a bad query; 413: too large.
    refused(
        &api(&gateway, "POST", &approve, Some(&admin), Some("reason=ok")),
        400,
        "bad_body",
    );
    let error = refused(
        &api(
            &gateway,
            "POST",
            &approve,
            Some(&admin),
            Some(r#"{"reson": "typo"}"#),
        ),
        400,
        "bad_body",
    );
    assert!(error.contains("reson"), "{error}");
    refused(
        &api(
            &gateway,
            "GET",
            "/v1/approvals?pending=maybe",
            Some(&admin),
            None,
        ),
        400,
        "bad_query",
    );
    let huge = json!({ "reason": "x".repeat(20 * 1024) }).to_string();
    refused(
        &api(&gateway, "POST", &approve, Some(&admin), Some(&huge)),
        413,
        "bad_body",
    );

    // Nothing above changed anything.
    let shown = api(
        &gateway,
        "GET",
        &format!("/v1/approvals/{id}"),
        Some(&admin),
        None,
    );
    assert_eq!(
        (
            shown.json["state"].as_str(),
            shown.json["reviews"].as_array().map(Vec::len)
        ),
        (Some("pending"), Some(0))
    );
    assert!(
        approval_events(&gateway)
            .iter()
            .all(|e| e["action"] == "approval:request")
    );

    // A denial with a reason; afterwards the approval is closed: 409.
    let denied = api(
        &gateway,
        "POST",
        &deny,
        Some(&dora),
        Some(r#"{"reason": "not during the freeze"}"#),
    );
    assert_eq!(denied.status, 200, "{}", denied.raw);
    assert_eq!(denied.json["state"], "denied");
    assert_eq!(denied.json["reviews"][0]["reason"], "not during the freeze");
    let error = refused(
        &api(&gateway, "POST", &approve, Some(&admin), None),
        409,
        "not_pending",
    );
    assert!(error.contains("is denied"), "{error}");
    let (code, refused_run) = exec(&gateway, &writer, DELETE);
    assert_ne!(code, 0, "{refused_run}");
    assert_eq!(count(&direct, "items").await, 2);

    // 409: approving twice one that needs two approvers.
    let store = Store::open(&gateway.data_dir().join("gatehouse.db"))
        .await
        .unwrap();
    store
        .create(&needs_two("ap-0000000000000002"))
        .await
        .unwrap();
    store.close().await;
    let two = "/v1/approvals/ap-0000000000000002/approve";
    let first = api(&gateway, "POST", two, Some(&admin), Some(""));
    assert_eq!(first.status, 200, "{}", first.raw);
    assert_eq!(first.json["state"], "pending");
    let error = refused(
        &api(&gateway, "POST", two, Some(&admin), None),
        409,
        "already_approved",
    );
    assert!(error.contains("ask another member of `admins`"), "{error}");
    let second = api(&gateway, "POST", two, Some(&dora), None);
    assert_eq!(second.json["state"], "approved", "{}", second.raw);

    let reviews: Vec<(String, String)> = approval_events(&gateway)
        .iter()
        .filter(|e| e["action"] != "approval:request")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["identity"]["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("approval:deny", "dora"),
        ("approval:approve", "ada"),
        ("approval:approve", "dora"),
    ]
    .map(|(a, s)| (a.to_owned(), s.to_owned()));
    assert_eq!(reviews, expected);
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Delivery {
    head: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on 127.0.0.1: records every request, answers `statuses` in turn (then
/// 200 for ever).
#[derive(Clone)]
struct Receiver {
    port: u16,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    async fn start(statuses: Vec<u16>, tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses.into_iter()));
        let recorded = deliveries.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let recorded = recorded.clone();
                let status = statuses.lock().unwrap().next().unwrap_or(200);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => receive(tcp, status, recorded).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                receive(stream, status, recorded).await;
                            }
                        }
                    }
                });
            }
        });
        Receiver { port, deliveries }
    }

    /// Wait for a delivery of `event` (the `X-Gatehouse-Event` header).
    async fn wait_for(&self, event: &str) -> Delivery {
        let started = Instant::now();
        loop {
            let found = self
                .deliveries
                .lock()
                .unwrap()
                .iter()
                .find(|d| d.headers.get("x-gatehouse-event").map(String::as_str) == Some(event))
                .cloned();
            if let Some(delivery) = found {
                return delivery;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no `{event}` delivery; got {:?}",
                self.deliveries.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn all(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

async fn receive<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    status: u16,
    recorded: Arc<Mutex<Vec<Delivery>>>,
) {
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    let (head, length) = loop {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the gateway hung up mid-request");
        data.extend_from_slice(&buffer[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(data[..end].to_vec()).unwrap();
            data.drain(..end + 4);
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap();
            break (head, length);
        }
    };
    while data.len() < length {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the gateway hung up mid-body");
        data.extend_from_slice(&buffer[..n]);
    }
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    recorded.lock().unwrap().push(Delivery {
        head,
        headers,
        body: data,
    });
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn hmac_hex(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The delivery is signed with [`WEBHOOK_KEY`] and says `event` about approval `id`.
fn assert_signed(delivery: &Delivery, event: &str, id: &str, state: &str) -> Value {
    let expected = format!("sha256={}", hmac_hex(WEBHOOK_KEY, &delivery.body));
    assert_eq!(
        delivery.headers.get("x-gatehouse-signature"),
        Some(&expected),
        "{}",
        delivery.head
    );
    assert_eq!(
        delivery.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        delivery.headers.get("x-gatehouse-delivery"),
        Some(&format!("{id}.{state}"))
    );
    let body = delivery.json();
    assert_eq!(body["event"], event);
    assert_eq!(body["approval"]["id"], id);
    assert_eq!(body["approval"]["state"], state);
    assert!(body["sent_at"].as_str().unwrap().ends_with('Z'), "{body}");
    body
}

fn webhook_options(url: &str, extra: &str) -> Options {
    Options {
        extra: format!(
            "[approvals.webhook]\nurl = \"{url}\"\nsecret_env = \"GH_TEST_WEBHOOK_KEY\"\ntimeout = \"2s\"\n{extra}\n"
        ),
        env: vec![("GH_TEST_WEBHOOK_KEY".to_owned(), WEBHOOK_KEY.to_owned())],
        ..Options::default()
    }
}

#[tokio::test]
async fn json_webhooks_are_signed_and_follow_the_approval_through_its_states() {
    // The first delivery fails (503): it is retried.
    let receiver = Receiver::start(vec![503], None).await;
    let url = format!(
        "http://127.0.0.1:{}/hooks/gatehouse?channel=ops",
        receiver.port
    );
    let (_db, gateway, direct) = items_behind_gateway(webhook_options(&url, "")).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let id = held_delete(&gateway, &writer);

    let pending = receiver.wait_for("approval.pending").await;
    assert!(
        pending
            .head
            .starts_with("POST /hooks/gatehouse?channel=ops HTTP/1.1"),
        "{}",
        pending.head
    );
    let body = assert_signed(&pending, "approval.pending", &id, "pending");
    assert_eq!(body["approval"]["binding"]["subject"], "wes");
    assert_eq!(body["approval"]["binding"]["request"], DELETE);
    // The first attempt got 503; the same notification came again.
    let started = Instant::now();
    while receiver.all().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no retry: {:?}",
            receiver.all()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = receiver.all();
    assert_eq!(
        all[0].headers["x-gatehouse-delivery"],
        all[1].headers["x-gatehouse-delivery"]
    );
    assert!(gateway.log().contains("HTTP 503"), "{}", gateway.log());
    assert!(
        !gateway.log().contains("channel=ops"),
        "the URL's path may be secret; it is not logged"
    );

    let approved = api(
        &gateway,
        "POST",
        &format!("/v1/approvals/{id}/approve"),
        Some(&admin),
        None,
    );
    assert_eq!(approved.status, 200, "{}", approved.raw);
    let delivery = receiver.wait_for("approval.approved").await;
    let body = assert_signed(&delivery, "approval.approved", &id, "approved");
    assert_eq!(body["approval"]["reviews"][0]["reviewer"], "ada");

    let (code, ran) = exec(&gateway, &writer, DELETE);
    assert_eq!(code, 0, "{ran}");
    assert_eq!(count(&direct, "items").await, 1);
    let delivery = receiver.wait_for("approval.executed").await;
    assert_signed(&delivery, "approval.executed", &id, "executed");

    // One notification per state (the retried one aside), none for what did not change.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events: Vec<String> = receiver
        .all()
        .iter()
        .map(|d| d.headers["x-gatehouse-event"].clone())
        .collect();
    assert_eq!(
        events,
        [
            "approval.pending",
            "approval.pending",
            "approval.approved",
            "approval.executed"
        ]
    );
}

#[tokio::test]
async fn slack_webhooks_name_the_approval_also_for_decisions_made_by_the_cli() {
    let receiver = Receiver::start(vec![], None).await;
    let url = format!("http://127.0.0.1:{}/services/T0/B0/secret", receiver.port);
    let options = Options {
        extra: format!("[approvals.webhook]\nurl = \"{url}\"\nformat = \"slack\"\n"),
        ..Options::default()
    };
    let (_db, gateway, _direct) = items_behind_gateway(options).await;
    let writer = gateway.key("wes", &["writers"]);
    let admin = gateway.key("ada", &["admins"]);
    let id = held_delete(&gateway, &writer);

    let pending = receiver.wait_for("approval.pending").await;
    let text = pending.json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.contains("*wes* asks to run `sql:delete` on *demo*"),
        "{text}"
    );
    assert!(text.contains(DELETE), "{text}");
    assert!(
        text.contains(&format!("gatehouse approvals approve {id}")),
        "{text}"
    );
    assert!(
        !pending.headers.contains_key("x-gatehouse-signature"),
        "no secret_env, no signature"
    );

    // Denied by the CLI, in another process: the watcher sees it in the store.
    let output = gateway.cli_as(
        &admin,
        &["approvals", "deny", &id, "--reason", "use the archive job"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let denied = receiver.wait_for("approval.denied").await;
    let text = denied.json()["text"].as_str().unwrap().to_owned();
    assert!(text.contains(&format!("Approval `{id}`")), "{text}");
    assert!(
        text.contains("*denied* by ada: use the archive job"),
        "{text}"
    );
}

#[tokio::test]
async fn https_webhooks_trust_only_the_configured_ca() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("receiver-ca.pem");
    std::fs::write(&ca_file, certified.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let receiver = Receiver::start(vec![], Some(acceptor)).await;
    let url = format!("https://127.0.0.1:{}/hook", receiver.port);
    let options = webhook_options(&url, &format!("ca_file = \"{}\"", ca_file.display()));
    let (_db, gateway, _direct) = items_behind_gateway(options).await;
    let writer = gateway.key("wes", &["writers"]);
    let id = held_delete(&gateway, &writer);
    let delivery = receiver.wait_for("approval.pending").await;
    assert_signed(&delivery, "approval.pending", &id, "pending");

    // A receiver whose certificate the configured CA did not sign gets nothing.
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let before = receiver.all().len();
    let options = webhook_options(&url, &format!("ca_file = \"{}\"", other_ca.display()));
    let (_db2, untrusting, _direct2) = items_behind_gateway(options).await;
    let writer = untrusting.key("wes", &["writers"]);
    held_delete(&untrusting, &writer);
    let started = Instant::now();
    while !untrusting.log().contains("TLS handshake failed") {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{}",
            untrusting.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.all().len(), before);
}

#[tokio::test]
async fn an_approval_nobody_decides_is_announced_as_expired_once() {
    let receiver = Receiver::start(vec![], None).await;
    let url = format!("http://127.0.0.1:{}/hook", receiver.port);
    let mut options = webhook_options(&url, "");
    options.extra = format!("[approvals]\npending_ttl = \"2s\"\n\n{}", options.extra);
    let (_db, gateway, _direct) = items_behind_gateway(options).await;
    let writer = gateway.key("wes", &["writers"]);
    let id = held_delete(&gateway, &writer);
    receiver.wait_for("approval.pending").await;
    // Nobody stored the expiry yet: the watcher noticed the time passing.
    let expired = receiver.wait_for("approval.expired").await;
    assert_signed(&expired, "approval.expired", &id, "expired");
    // A listing stores it (and audits it); that is not announced again.
    let listed = gateway.cli(&["approvals", "list", "--output", "json"]);
    assert!(listed.status.success());
    let events = gateway.audit_events();
    assert!(
        events.iter().any(|e| e["action"] == "approval:expire"),
        "{events:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events: Vec<String> = receiver
        .all()
        .iter()
        .map(|d| d.headers["x-gatehouse-event"].clone())
        .collect();
    assert_eq!(events, ["approval.pending", "approval.expired"]);
}

/// `gatehouse serve` with `[approvals.webhook]` set to `webhook`: it must refuse to start;
/// its standard error.
fn serve_refuses(webhook: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[postgres]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [approvals.webhook]\n{webhook}\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(support::binary());
    command
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("serve")
        .env_remove("GH_TEST_WEBHOOK_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    assert!(!output.status.success(), "serve started with {webhook}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn misconfigured_webhooks_keep_the_gateway_from_starting() {
    let stderr = serve_refuses(
        "url = \"https://hooks.example.com/x\"\nformat = \"slack\"",
        &[],
    );
    assert!(stderr.contains("no `ca_file` is set"), "{stderr}");
    let stderr = serve_refuses("url = \"http://127.0.0.1:9/x\"", &[]);
    assert!(stderr.contains("needs `secret_env`"), "{stderr}");
    let stderr = serve_refuses(
        "url = \"http://127.0.0.1:9/x\"\nsecret_env = \"GH_TEST_WEBHOOK_KEY\"",
        &[],
    );
    assert!(
        stderr.contains("`GH_TEST_WEBHOOK_KEY`, which is not set"),
        "{stderr}"
    );
    let stderr = serve_refuses(
        "url = \"ftp://127.0.0.1/x\"\nsecret_env = \"K\"",
        &[("K", "k")],
    );
    assert!(stderr.contains("http:// or https://"), "{stderr}");
    let stderr = serve_refuses("url = \"http://127.0.0.1:9/x\"\nformat = \"xml\"", &[]);
    assert!(stderr.contains("xml"), "{stderr}");
}
