//! Internal HTTP APIs through gatehouse, with real clients (curl, Python httpx) against
//! RabbitMQ's management API — an HTTP API that is not ours — and a target that misbehaves on
//! purpose (`httpapi/echo_target.py`). The example policy (`policies/http.cedar`): automation
//! may read and publish/fetch messages but never delete; admins delete after another admin
//! approves; answers are masked for everyone without `data:unmasked`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod httpapi;
mod support;

use httpapi::{Api, ECHO_TOKEN, SERVICE_PASSWORD, SERVICE_USER, http_policy, new_queue, rabbit};

fn bot(api: &Api) -> String {
    api.gateway
        .key_with("queue-bot", &["automation"], &["--kind", "machine"])
}

#[test]
fn automation_reads_a_queue_and_its_delete_is_refused_before_reaching_rabbitmq() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let queue = new_queue();

    // RabbitMQ names the default vhost `%2F`: the encoded slash reaches it as sent.
    let read = api.curl(
        Some(&bot),
        "rabbit",
        &format!("/api/queues/%2F/{queue}"),
        &[],
    );
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.json()["name"], queue.as_str(), "{read:?}");
    assert_eq!(read.json()["vhost"], "/", "{read:?}");
    let listed = api.curl(Some(&bot), "rabbit", "/api/queues", &[]);
    assert!(
        listed
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == queue.as_str()),
        "{listed:?}"
    );

    let deleted = api.curl(
        Some(&bot),
        "rabbit",
        &format!("/api/queues/%2F/{queue}"),
        &["-X", "DELETE"],
    );
    assert_eq!(deleted.status, 403, "{deleted:?}");
    assert_eq!(
        deleted.header("content-type").as_deref(),
        Some("application/problem+json")
    );
    let problem = deleted.json();
    assert_eq!(problem["status"], 403, "{problem}");
    assert_eq!(problem["action"], "http:delete", "{problem}");
    assert_eq!(problem["connection"], "rabbit", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("automation-never-deletes"),
        "{problem}"
    );
    let (status, _) = rabbit("GET", &format!("/api/queues/%2F/{queue}"), "");
    assert_eq!(status, 200, "the queue is still there");

    let gets = api.audited("http:get");
    assert!(
        gets.iter()
            .any(|e| e["statement"].as_str().unwrap_or_default()
                == format!("GET /api/queues/%2F/{queue}")
                && e["decision"] == "allow"),
        "{gets:#?}"
    );
    let deletes = api.audited("http:delete");
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    assert_eq!(deletes[0]["decision"], "deny", "{deletes:#?}");
    rabbit("DELETE", &format!("/api/queues/%2F/{queue}"), "");
}

#[test]
fn an_admins_delete_is_held_then_runs_once_after_another_admin_approves() {
    let api = Api::start(&http_policy(), "");
    let ana = api.gateway.key("ana", &["admins"]);
    let bo = api.gateway.key("bo", &["admins"]);
    let queue = new_queue();
    let path = format!("/api/queues/%2F/{queue}");

    let held = api.curl(Some(&ana), "rabbit", &path, &["-X", "DELETE"]);
    assert_eq!(held.status, 403, "{held:?}");
    let problem = held.json();
    assert_eq!(
        problem["type"],
        "https://gatehouse.dev/problems/approval-required"
    );
    let id = problem["approval_id"].as_str().unwrap().to_owned();
    assert!(
        problem["approve_with"]
            .as_str()
            .unwrap()
            .contains("gatehouse approvals approve"),
        "{problem}"
    );
    assert_eq!(rabbit("GET", &path, "").0, 200, "held, so not sent");

    let approved = api.gateway.cli_as(&bo, &["approvals", "approve", &id]);
    assert!(approved.status.success(), "{approved:?}");
    let ran = api.curl(Some(&ana), "rabbit", &path, &["-X", "DELETE"]);
    assert_eq!(ran.status, 204, "{ran:?}");
    assert_eq!(rabbit("GET", &path, "").0, 404, "deleted once approved");

    // The approval is spent: the same request asks for a new one.
    let again = api.curl(Some(&ana), "rabbit", &path, &["-X", "DELETE"]);
    assert_eq!(again.status, 403, "{again:?}");
    assert_ne!(again.json()["approval_id"], id.as_str());
}

#[test]
fn the_client_never_sees_the_injected_credential_nor_does_the_target_see_the_token() {
    let api = Api::start(&http_policy(), "");
    let ana = api.gateway.key("ana", &["admins"]);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{SERVICE_USER}:{SERVICE_PASSWORD}"));

    // RabbitMQ: gatehouse logs in as its service user; the client sees neither secret.
    let whoami = api.curl(Some(&ana), "rabbit", "/api/whoami", &[]);
    assert_eq!(whoami.status, 200, "{whoami:?}");
    assert_eq!(whoami.json()["name"], SERVICE_USER);
    let overview = api.curl(Some(&ana), "rabbit", "/api/overview", &[]);
    assert_eq!(overview.status, 200, "{overview:?}");
    let missing = api.curl(Some(&ana), "rabbit", "/api/queues/%2F/no-such-queue", &[]);
    assert_eq!(missing.status, 404, "{missing:?}");
    for answer in [&whoami, &overview, &missing] {
        let all = format!("{}{}", answer.headers, answer.body);
        assert!(
            !all.contains(SERVICE_PASSWORD) && !all.contains(&basic),
            "{all}"
        );
    }

    // A target that echoes the request's headers, in its body and in a header.
    let echoed = api.curl(Some(&ana), "echo", "/echo", &[]);
    assert_eq!(echoed.status, 200, "{echoed:?}");
    let all = format!("{}{}", echoed.headers, echoed.body);
    assert!(!all.contains(ECHO_TOKEN), "{all}");
    assert!(all.contains("[gatehouse:credential]"), "{all}");
    // ...and that quotes it in an error page.
    let failed = api.curl(Some(&ana), "echo", "/error", &[]);
    assert_eq!(failed.status, 500, "{failed:?}");
    assert!(!failed.body.contains(ECHO_TOKEN), "{failed:?}");
    assert!(failed.body.contains("[gatehouse:credential]"), "{failed:?}");
    // ...or in a redirect.
    let redirected = api.curl(
        Some(&ana),
        "echo",
        &format!(
            "/redirect?to=http://127.0.0.1:{}/next%3Ftoken%3D{ECHO_TOKEN}",
            api.echo_port
        ),
        &[],
    );
    assert_eq!(redirected.status, 302, "{redirected:?}");
    let location = redirected.header("location").unwrap();
    assert!(location.starts_with("/c/echo/next"), "{location}");
    assert!(!location.contains(ECHO_TOKEN), "{location}");

    // What reached the target: its own credential, never the client's gatehouse token.
    let requests = api.echo_requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(
            request["headers"]["authorization"],
            format!("Bearer {ECHO_TOKEN}"),
            "{request}"
        );
        assert!(!request.to_string().contains(&ana), "{request}");
    }
}

#[test]
fn a_redirect_off_the_gateway_passes_only_to_listed_hosts() {
    let api = Api::start(&http_policy(), "");
    let ana = api.gateway.key("ana", &["admins"]);
    let listed = api.curl(
        Some(&ana),
        "echo",
        "/redirect?to=https://docs.example/guide",
        &[],
    );
    assert_eq!(listed.status, 302, "{listed:?}");
    assert_eq!(
        listed.header("location").as_deref(),
        Some("https://docs.example/guide")
    );
    let unlisted = api.curl(
        Some(&ana),
        "echo",
        "/redirect?to=https://evil.example/x",
        &[],
    );
    assert_eq!(unlisted.status, 502, "{unlisted:?}");
    assert!(
        unlisted.json()["detail"]
            .as_str()
            .unwrap()
            .contains("redirect_hosts"),
        "{unlisted:?}"
    );
}

#[test]
fn messages_read_back_through_the_api_are_masked_for_automation_and_raw_for_admins() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let ana = api.gateway.key("ana", &["admins"]);
    let queue = new_queue();
    let payload = "card 4111 1111 1111 1111, mail ana@example.com, key AKIAIOSFODNN7EXAMPLE";
    let publish = serde_json::json!({
        "properties": {},
        "routing_key": queue,
        "payload": payload,
        "payload_encoding": "string",
    });
    for _ in 0..2 {
        let (status, body) = rabbit(
            "POST",
            "/api/exchanges/%2F/amq.default/publish",
            &publish.to_string(),
        );
        assert_eq!(status, 200, "{body}");
    }
    let get = r#"{"count":2,"ackmode":"ack_requeue_true","encoding":"auto"}"#;
    let path = format!("/api/queues/%2F/{queue}/get");
    let args = [
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        get,
    ];

    let masked = api.curl(Some(&bot), "rabbit", &path, &args);
    assert_eq!(masked.status, 200, "{masked:?}");
    let messages = masked.json();
    assert_eq!(messages.as_array().unwrap().len(), 2, "{masked:?}");
    let text = messages[0]["payload"].as_str().unwrap();
    assert!(!text.contains("4111 1111 1111 1111"), "{text}");
    assert!(!text.contains("ana@example.com"), "{text}");
    assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
    assert!(text.starts_with("card "), "the rest stays: {text}");

    let raw = api.curl(Some(&ana), "rabbit", &path, &args);
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.json()[0]["payload"], payload);

    // The audit outcome says what was masked (the admin's, the last one, masked nothing).
    let events = api.gateway.audit_events();
    let bots_post = events
        .iter()
        .find(|e| e["action"] == "http:post" && e["identity"]["subject"] == "queue-bot")
        .unwrap();
    let outcome = events
        .iter()
        .find(|e| e["kind"] == "outcome" && e["refers_to"] == bots_post["seq"])
        .unwrap_or_else(|| panic!("{events:#?}"));
    let masked_counts = outcome["outcome"]["masked"].as_object().unwrap();
    assert!(
        masked_counts.values().any(|n| n.as_u64() >= Some(2)),
        "{outcome:#?}"
    );
    let admins = api.gateway.outcome_of("http:post", &format!("{queue}/get"));
    assert_eq!(admins["command_tag"], "200 OK", "{admins:#?}");
    assert!(
        admins
            .get("masked")
            .is_none_or(|m| m.as_object().unwrap().is_empty()),
        "{admins:#?}"
    );
    rabbit("DELETE", &format!("/api/queues/%2F/{queue}"), "");
}

#[test]
fn json_path_rules_mask_what_detectors_cannot_know_and_unmaskable_answers_are_refused() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let people = api.curl(Some(&bot), "echo", "/people", &[]);
    assert_eq!(people.status, 200, "{people:?}");
    let person = &people.json()["items"][0];
    assert_eq!(person["name"], "Ana");
    assert_eq!(person["password"], "[REDACTED]", "{people:?}");
    assert_ne!(person["email"], "ana@example.com", "{people:?}");

    let binary = api.curl(Some(&bot), "echo", "/binary", &[]);
    assert_eq!(binary.status, 502, "{binary:?}");
    assert!(
        binary.json()["detail"]
            .as_str()
            .unwrap()
            .contains("passthrough_content_types"),
        "{binary:?}"
    );
    // The session recording (curl's first connection) replays the exchange, with what was
    // masked, and keeps the request's headers without the gatehouse token.
    let listed = api.gateway.cli(&["sessions", "list", "--output", "json"]);
    let sessions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["connection"] == "echo")
        .unwrap()["session"]
        .as_str()
        .unwrap()
        .to_owned();
    let replay = api.gateway.cli(&["sessions", "replay", &id]);
    let timeline = String::from_utf8_lossy(&replay.stdout);
    assert!(timeline.contains("→ 200 GET /people"), "{timeline}");
    assert!(timeline.contains("masked "), "{timeline}");
    assert!(timeline.contains("http request"), "{timeline}");
    assert!(!timeline.contains(&bot), "{timeline}");
}

#[test]
fn httpx_over_http2_and_http1_reads_through_the_gateway() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let script = r#"
import os, httpx
headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
for http2 in (True, False):
    with httpx.Client(verify=os.environ["CA"], http2=http2, headers=headers) as client:
        answer = client.get(os.environ["BASE"] + "/api/overview")
        answer.raise_for_status()
        print(answer.http_version, answer.json()["management_version"] != "")
        refused = client.delete(os.environ["BASE"] + "/api/queues/%2F/nope")
        print(refused.status_code, refused.headers["content-type"], refused.json()["action"])
"#;
    let output = api.python(&bot, script);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        printed,
        "HTTP/2 True\n403 application/problem+json http:delete\nHTTP/1.1 True\n403 application/problem+json http:delete\n"
    );
}

#[test]
fn without_a_valid_token_nothing_is_forwarded() {
    let api = Api::start(&http_policy(), "");
    let none = api.curl(None, "echo", "/echo", &[]);
    assert_eq!(none.status, 401, "{none:?}");
    assert!(
        none.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let forged = api.curl(Some("gh_forged.token.value"), "echo", "/echo", &[]);
    assert_eq!(forged.status, 401, "{forged:?}");
    assert!(api.echo_requests().is_empty());
}

#[test]
fn method_override_headers_are_decided_as_the_method_they_claim() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    // A GET claiming DELETE is decided as a DELETE (which automation may never do).
    let claimed = api.curl(
        Some(&bot),
        "echo",
        "/echo",
        &["-H", "X-HTTP-Method-Override: DELETE"],
    );
    assert_eq!(claimed.status, 403, "{claimed:?}");
    assert_eq!(claimed.json()["action"], "http:delete");
    // A POST claiming to be a GET is refused: the target might ignore the claim and write.
    let disguised = api.curl(
        Some(&bot),
        "echo",
        "/echo",
        &["-X", "POST", "-H", "X-HTTP-Method-Override: GET"],
    );
    assert_eq!(disguised.status, 400, "{disguised:?}");
    assert!(api.echo_requests().is_empty());
}

#[test]
fn a_100_mb_answer_streams_through_the_masking_with_bounded_memory() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let before = support::proc_status_kib(api.gateway.pid, "VmHWM:");
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "300", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{size_download}", "--cacert"])
        .arg(api.gateway.ca_file())
        .args(["-H", &format!("Authorization: Bearer {bot}")])
        .arg(format!("{}/big?mb=100", api.base("echo")))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let (status, size) = printed.split_once(' ').unwrap();
    assert_eq!(status, "200", "{output:?}");
    let size: u64 = size.parse().unwrap();
    assert!(size > 100_000_000, "{size} bytes came through");
    let after = support::proc_status_kib(api.gateway.pid, "VmHWM:");
    assert!(
        after - before < 64 * 1024,
        "the gateway's peak memory grew by {} KiB while streaming {size} bytes",
        after - before
    );
    // Every item's email was masked as it streamed: the outcome counts them.
    let outcome = api.gateway.outcome_of("http:get", "/big?mb=100");
    assert!(
        outcome["masked"]["email"].as_u64().unwrap() > 100_000,
        "{outcome:#?}"
    );
    assert_eq!(
        outcome["response_bytes"].as_u64(),
        Some(size),
        "{outcome:#?}"
    );
    assert_eq!(outcome["request_bytes"], 0, "{outcome:#?}");
}

#[test]
fn gatehouse_connect_serves_a_plain_local_endpoint_that_adds_the_token() {
    let api = Api::start(&http_policy(), "");
    let ana = api.gateway.key("ana", &["admins"]);
    let (mut connect, listen) = api.connect_http("echo", &ana);

    let output = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-H",
            "Authorization: Bearer not-mine",
        ])
        .arg(format!("http://{listen}/echo?via=connect"))
        .output()
        .unwrap();
    let _ = connect.kill();
    let _ = connect.wait();
    assert!(output.status.success(), "{output:?}");
    let echoed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(echoed["method"], "GET", "{echoed}");
    let requests = api.echo_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0]["path"], "/echo?via=connect");
    // The gateway decided as the token's identity, whatever the local client claimed.
    let gets = api.audited("http:get");
    assert_eq!(gets[0]["identity"]["subject"], "ana", "{gets:#?}");
}

/// A WebSocket client written out by hand (no library negotiates less than it asks for):
/// opens `/c/echo/ws` as the holder of TOKEN, asking for permessage-deflate, sends one text
/// message, prints the status, the answer and the close.
const WEBSOCKET_CLIENT: &str = r#"
import base64, os, socket, ssl
host, port = os.environ["ADDR"].rsplit(":", 1)
context = ssl.create_default_context(cafile=os.environ["CA"])
sock = context.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall((f"GET /c/echo/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
              f"Sec-WebSocket-Extensions: permessage-deflate\r\n"
              f"Authorization: Bearer {os.environ['TOKEN']}\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(1)
print(head.split()[1].decode())
def exactly(n):
    data = b""
    while len(data) < n:
        data += sock.recv(n - len(data))
    return data
def send(opcode, data):
    mask = os.urandom(4)
    sock.sendall(bytes([0x80 | opcode, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))
def receive():
    first, second = exactly(2)
    return first & 0x0F, exactly(second & 0x7F)
if head.split()[1] == b"101":
    print("extensions" if b"sec-websocket-extensions" in head.lower() else "no extensions")
    send(1, b"hello gatehouse")
    print(receive())
    send(8, b"\x03\xe8")
    print(receive()[0])
"#;

#[test]
fn a_websocket_opens_only_when_policy_permits_and_its_frames_are_recorded() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let ana = api.gateway.key("ana", &["admins"]);
    let run = |token: &str| {
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(WEBSOCKET_CLIENT)
            .env("ADDR", api.address())
            .env("CA", api.gateway.ca_file())
            .env("TOKEN", token)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(run(&bot), "403\n");
    assert!(api.echo_requests().is_empty());
    assert_eq!(
        run(&ana),
        "101\nno extensions\n(1, b'echo: hello gatehouse')\n8\n"
    );
    assert_eq!(api.audited("http:websocket").len(), 2);

    let listed = api.gateway.cli(&["sessions", "list", "--output", "json"]);
    let sessions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let recorded: Vec<serde_json::Value> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["connection"] == "echo")
        .flat_map(|s| {
            let id = s["session"].as_str().unwrap();
            let replay = api
                .gateway
                .cli(&["sessions", "replay", id, "--output", "json"]);
            String::from_utf8_lossy(&replay.stdout)
                .lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let frames: Vec<(String, String)> = recorded
        .iter()
        .filter(|event| event["name"] == "websocket_frame")
        .map(|event| {
            (
                event["data"]["direction"].as_str().unwrap().to_owned(),
                event["data"]["payload"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        frames.contains(&("to_target".to_owned(), "hello gatehouse".to_owned()))
            && frames.contains(&("to_client".to_owned(), "echo: hello gatehouse".to_owned())),
        "{recorded:#?}"
    );
}

#[test]
fn rabbitmqs_own_rabbitmqadmin_works_through_gatehouse_connect() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let queue = new_queue();
    // The official CLI, as the management plugin itself serves it.
    let (status, script) = rabbit("GET", "/cli/rabbitmqadmin", "");
    assert_eq!(status, 200);
    let cli = api.gateway.dir.path().join("rabbitmqadmin");
    std::fs::write(&cli, script).unwrap();

    let (mut connect, listen) = api.connect_http("rabbit", &bot);
    let port = listen.rsplit_once(':').unwrap().1.to_owned();
    // rabbitmqadmin sends its own basic credentials (guest/guest by default): the local
    // endpoint replaces them with the bot's token, and gatehouse with the service user's.
    let admin = |args: &[&str]| {
        std::process::Command::new("python3")
            .arg(&cli)
            .args(["-H", "127.0.0.1", "-P", &port])
            .args(args)
            .output()
            .unwrap()
    };
    let listed = admin(&["list", "queues", "name"]);
    let deleted = admin(&["delete", "queue", &format!("name={queue}")]);
    let _ = connect.kill();
    let _ = connect.wait();
    assert!(listed.status.success(), "{listed:?}");
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&queue),
        "{listed:?}"
    );
    assert!(!deleted.status.success(), "{deleted:?}");
    assert_eq!(
        rabbit("GET", &format!("/api/queues/%2F/{queue}"), "").0,
        200
    );
    let deletes = api.audited("http:delete");
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    assert_eq!(deletes[0]["decision"], "deny");
    assert_eq!(deletes[0]["identity"]["subject"], "queue-bot");
    rabbit("DELETE", &format!("/api/queues/%2F/{queue}"), "");
}

#[test]
fn policy_check_decides_an_http_request_offline_as_the_gateway_would() {
    let api = Api::start(&http_policy(), "");
    let check = |args: &[&str]| {
        let mut all = vec![
            "policy",
            "check",
            "--identity",
            "queue-bot",
            "--groups",
            "automation",
            "--kind",
            "machine",
            "--connection",
            "rabbit",
            "--output",
            "json",
        ];
        all.extend_from_slice(args);
        api.gateway.cli(&all)
    };
    let read = check(&["--http", "GET /api/queues/%2F/orders"]);
    assert_eq!(read.status.code(), Some(0), "{read:?}");
    let delete = check(&["--http", "DELETE /api/queues/%2F/orders"]);
    assert_eq!(delete.status.code(), Some(4), "{delete:?}");
    let decided: serde_json::Value = serde_json::from_slice(&delete.stdout).unwrap();
    assert!(
        decided.to_string().contains("automation-never-deletes"),
        "{decided}"
    );
    let overridden = check(&[
        "--http",
        "GET /api/queues/%2F/orders",
        "--header",
        "X-HTTP-Method-Override: DELETE",
    ]);
    assert_eq!(overridden.status.code(), Some(4), "{overridden:?}");
    let tricked = check(&["--http", "GET /api/%2e%2e/queues"]);
    assert!(!tricked.status.success(), "{tricked:?}");
    assert!(
        String::from_utf8_lossy(&tricked.stderr).contains("the gateway would refuse this request"),
        "{tricked:?}"
    );
}

#[test]
fn server_sent_events_stream_through_as_they_come_masked_line_by_line() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    // The target sends its second event only once the client has read the first through the
    // gateway: an answer held back anywhere would get "never reached" instead.
    let script = r#"
import os, pathlib, httpx
headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
with httpx.Client(verify=os.environ["CA"], headers=headers, timeout=60) as client:
    with client.stream("GET", os.environ["ECHO_BASE"] + "/events") as answer:
        print(answer.status_code, answer.headers["content-type"])
        for line in answer.iter_lines():
            if line:
                print(line)
            if line == "data: first event":
                pathlib.Path(os.environ["RELEASE"]).touch()
"#;
    let output = api.python(&bot, script);
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[0], "200 text/event-stream", "{printed}");
    assert_eq!(lines[1], "data: first event", "{printed}");
    assert!(lines[2].starts_with("data: mail "), "{printed}");
    assert!(!lines[2].contains("bob@example.com"), "masked: {printed}");
    assert_eq!(lines.len(), 3, "{printed}");
}

#[test]
fn a_compressed_answer_is_refused_for_masked_identities_and_passed_to_others() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    let ana = api.gateway.key("ana", &["admins"]);
    let masked = api.curl(Some(&bot), "echo", "/gzip", &[]);
    assert_eq!(masked.status, 502, "{masked:?}");
    assert!(
        masked.json()["detail"]
            .as_str()
            .unwrap()
            .contains("compressed"),
        "{masked:?}"
    );
    let raw = api.curl(Some(&ana), "echo", "/gzip", &["--compressed"]);
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.json()["owner"], "ana@example.com");
    // gatehouse asked for an uncompressed answer either way.
    for request in api.echo_requests() {
        assert_eq!(
            request["headers"]["accept-encoding"], "identity",
            "{request}"
        );
    }
}

#[test]
fn graphql_requests_are_decided_by_the_operation_they_run() {
    let policy = r#"
@id("automation-connects")
permit (principal in Gatehouse::Group::"automation", action == Gatehouse::Action::"connect", resource);
@id("automation-runs-graphql-queries")
permit (principal in Gatehouse::Group::"automation", action == Gatehouse::Action::"http:post", resource)
when { context.path == "/graphql" && context.graphql_operation == "query" };
"#;
    let api = Api::start(policy, "");
    let bot = bot(&api);
    let post = |body: &str| {
        api.curl(
            Some(&bot),
            "echo",
            "/graphql",
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    };
    let query = post(r#"{"query":"query Items { items { id name } }"}"#);
    assert_eq!(query.status, 200, "{query:?}");
    let mutation = post(r#"{"query":"mutation Drop { deleteItem(id: 1) { id } }"}"#);
    assert_eq!(mutation.status, 403, "{mutation:?}");
    // The operation the server runs is the one operationName picks.
    let picked = post(
        r#"{"query":"query Look { items { id } } mutation Drop { deleteItem(id: 1) { id } }","operationName":"Drop"}"#,
    );
    assert_eq!(picked.status, 403, "{picked:?}");
    let ambiguous = post(r#"{"query":"query Look { a } mutation Drop { b }"}"#);
    assert_eq!(ambiguous.status, 400, "{ambiguous:?}");
    let posted: Vec<_> = api
        .echo_requests()
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .collect();
    assert_eq!(
        posted.len(),
        1,
        "only the query reached the target: {posted:#?}"
    );
    let decided = api.audited("http:post");
    assert!(
        decided.iter().any(|e| e["decision"] == "deny"
            && e["statement"]
                .as_str()
                .unwrap_or_default()
                .starts_with("POST /graphql")),
        "{decided:#?}"
    );
}

#[test]
fn the_quickstart_policy_gives_each_group_its_http_share() {
    let api = Api::start(&support::quickstart_policy(), "");
    let reader = api.gateway.key("rita", &["readers"]);
    let writer = api.gateway.key("wes", &["writers"]);
    let admin = api.gateway.key("ana", &["admins"]);
    let status = |token: &str, method: &str| {
        api.curl(Some(token), "echo", "/echo", &["-X", method])
            .status
    };
    assert_eq!(status(&reader, "GET"), 200);
    assert_eq!(status(&reader, "POST"), 403);
    assert_eq!(status(&writer, "POST"), 200);
    let held = api.curl(Some(&writer), "echo", "/echo", &["-X", "DELETE"]);
    assert_eq!(held.status, 403, "{held:?}");
    assert!(held.json()["approval_id"].is_string(), "{held:?}");
    assert_eq!(status(&admin, "DELETE"), 200);
}

#[test]
fn revoking_the_identity_ends_its_open_event_stream() {
    let api = Api::start(&http_policy(), "");
    let bot = bot(&api);
    // The stream stays open after its first event (the target waits for a release that never
    // comes); the identity is revoked while the client reads it.
    let script = r#"
import os, subprocess, httpx
headers = {"Authorization": "Bearer " + os.environ["TOKEN"]}
try:
    with httpx.Client(verify=os.environ["CA"], headers=headers, timeout=60) as client:
        with client.stream("GET", os.environ["ECHO_BASE"] + "/events") as answer:
            for line in answer.iter_lines():
                if line:
                    print(line, flush=True)
                if line == "data: first event":
                    revoked = subprocess.run(os.environ["REVOKE"].split("\x1f"), capture_output=True)
                    print("revoked", revoked.returncode, flush=True)
    print("ended cleanly")
except httpx.HTTPError as error:
    print("cut:", type(error).__name__)
"#;
    let revoke = [
        support::binary().to_owned(),
        "--config".to_owned(),
        api.gateway.config_path().display().to_string(),
        "--data-dir".to_owned(),
        api.gateway.data_dir().display().to_string(),
        "identities".to_owned(),
        "revoke".to_owned(),
        "queue-bot".to_owned(),
    ]
    .join("\x1f");
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("ECHO_BASE", api.base("echo"))
        .env("CA", api.gateway.ca_file())
        .env("TOKEN", &bot)
        .env("REVOKE", revoke)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.starts_with("data: first event\nrevoked 0\n"),
        "{printed}"
    );
    assert!(printed.contains("cut: "), "the stream was cut: {printed}");
    assert!(!printed.contains("never reached"), "{printed}");
    // And the token is refused from then on.
    let after = api.curl(Some(&bot), "echo", "/echo", &[]);
    assert_eq!(after.status, 401, "{after:?}");
}

#[test]
fn with_the_gateways_config_gatehouse_connect_knows_an_http_connection_and_where_it_listens() {
    let api = Api::start(&http_policy(), "");
    let ana = api.gateway.key("ana", &["admins"]);
    let config = api.gateway.config_path();
    let data = api.gateway.data_dir();
    let (mut connect, announced) = api.connect(
        &[
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "connect",
            "echo",
        ],
        &ana,
    );
    assert_eq!(announced["gateway"], api.address().as_str(), "{announced}");
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!(
            "http://{}/echo",
            announced["listen"].as_str().unwrap()
        ))
        .output()
        .unwrap();
    let _ = connect.kill();
    let _ = connect.wait();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(api.echo_requests().len(), 1);
}

#[test]
fn an_approval_runs_only_the_exact_request_it_was_given_for_body_included() {
    let policy = r#"
@id("operators-connect")
permit (principal in Gatehouse::Group::"operators", action == Gatehouse::Action::"connect", resource);
@id("operators-post-after-approval")
@approval("admins")
permit (principal in Gatehouse::Group::"operators", action == Gatehouse::Action::"http:post", resource);
"#;
    let api = Api::start(policy, "");
    let ops = api.gateway.key("olga", &["operators"]);
    let admin = api.gateway.key("ana", &["admins"]);
    let post = |body: &str| {
        api.curl(
            Some(&ops),
            "echo",
            "/echo",
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ],
        )
    };
    let held = post(r#"{"restart":"web"}"#);
    assert_eq!(held.status, 403, "{held:?}");
    let id = held.json()["approval_id"].as_str().unwrap().to_owned();
    let approved = api.gateway.cli_as(&admin, &["approvals", "approve", &id]);
    assert!(approved.status.success(), "{approved:?}");

    // Another body is another request: held anew, and the approval stays unspent.
    let other = post(r#"{"restart":"db"}"#);
    assert_eq!(other.status, 403, "{other:?}");
    assert_ne!(other.json()["approval_id"], id.as_str());
    assert!(api.echo_requests().is_empty());
    // The approved one runs once.
    let ran = post(r#"{"restart":"web"}"#);
    assert_eq!(ran.status, 200, "{ran:?}");
    let forwarded = api.echo_requests();
    assert_eq!(forwarded.len(), 1, "{forwarded:#?}");
    assert_eq!(forwarded[0]["body"], r#"{"restart":"web"}"#);
}
