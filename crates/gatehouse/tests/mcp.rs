//! `gatehouse mcp` driven by the official Python MCP SDK (PyPI `mcp`) over stdio, against a
//! real gateway: tools listed with schemas; a reader's query runs through the gateway and comes
//! back masked; a reader's DELETE is denied naming the policy; a writer's DELETE is held, an
//! admin approves it from the CLI in another process while the agent long-polls
//! `approval_status`, and `run_approved` runs exactly that statement; `request_access` files a
//! grant request; a revoked key is refused; away from the gateway's data directory only the
//! store-backed tools are unavailable. The same tools over Streamable HTTP at `/mcp` need a valid
//! bearer token (401 otherwise) and do not hold up the gateway's shutdown.
//!
//! Needs `python3` with `pip install mcp` (the client script is `tests/mcp_client/drive.py`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;
use support::{Gateway, Options, count, items_behind_gateway};

/// The Python MCP client, running `gatehouse mcp` as its stdio server.
struct Agent {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Agent {
    /// `gatehouse mcp` on stdio, spawned by the client.
    fn start(gateway: &Gateway, token: &str) -> Agent {
        let mut args: Vec<std::ffi::OsString> = vec![support::binary().into()];
        args.extend([
            "--config".into(),
            gateway.config_path().into(),
            "--data-dir".into(),
            gateway.data_dir().into(),
            "mcp".into(),
            "--gateway".into(),
            gateway.pg_addr.to_string().into(),
            "--ca-file".into(),
            gateway.ca_file().into(),
        ]);
        Agent::spawn(&args, token)
    }

    /// The gateway's own `/mcp` over Streamable HTTP, with `token` as bearer.
    fn http(gateway: &Gateway, token: &str) -> Agent {
        let url = format!("http://{}/mcp", gateway.admin_addr);
        Agent::spawn(&["--http".into(), url.into()], token)
    }

    fn spawn(args: &[std::ffi::OsString], token: &str) -> Agent {
        let script = support::repo_root().join("crates/gatehouse/tests/mcp_client/drive.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .env("GATEHOUSE_TOKEN", token)
            .env("GATEHOUSE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run python3 (is the `mcp` package installed? pip install mcp)");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let mut agent = Agent {
            child,
            stdin,
            lines,
        };
        let init = agent.next();
        assert_eq!(
            init["initialized"]["serverInfo"]["name"], "gatehouse",
            "{init}"
        );
        agent
    }

    fn next(&mut self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(90))
            .expect("the MCP client answered within 90 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    fn send(&mut self, command: Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn tools(&mut self) -> Vec<Value> {
        self.send(json!({"op": "list_tools"}));
        let answer = self.next();
        answer["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .clone()
    }

    /// Call a tool; returns the whole CallToolResult.
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.send(json!({"op": "call", "tool": tool, "arguments": arguments}));
        let answer = self.next();
        assert!(answer.get("error").is_none(), "{tool}: {answer}");
        answer
    }

    /// Call a tool that must succeed; returns its structured result.
    fn ok(&mut self, tool: &str, arguments: Value) -> Value {
        let answer = self.call(tool, arguments);
        assert_ne!(answer["isError"], true, "{tool} failed: {answer}");
        answer["structuredContent"].clone()
    }

    /// Call a tool that must fail; returns its error text.
    fn error(&mut self, tool: &str, arguments: Value) -> String {
        let answer = self.call(tool, arguments);
        assert_eq!(answer["isError"], true, "{tool} should fail: {answer}");
        answer["content"][0]["text"].as_str().unwrap().to_owned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn masked_items() -> (support::TestDb, Gateway, tokio_postgres::Client) {
    let (db, gateway, direct) = items_behind_gateway(Options {
        demo_extra: "[connections.masking]\n".into(),
        ..Options::default()
    })
    .await;
    direct
        .batch_execute("INSERT INTO items VALUES (3, 'jane.doe@example.com')")
        .await
        .unwrap();
    (db, gateway, direct)
}

#[tokio::test]
async fn an_agent_reads_masked_rows_and_is_denied_what_policy_forbids() {
    let (_db, gateway, _direct) = masked_items().await;
    let reader = gateway.key("rae-agent", &["readers"]);
    let mut agent = Agent::start(&gateway, &reader);

    let tools = agent.tools();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for expected in [
        "list_connections",
        "describe_connection",
        "query",
        "approval_status",
        "run_approved",
        "request_access",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    let query_tool = tools.iter().find(|t| t["name"] == "query").unwrap();
    assert_eq!(
        query_tool["inputSchema"]["required"],
        json!(["connection", "sql"])
    );
    assert!(query_tool["outputSchema"]["properties"]["status"].is_object());

    let listed = agent.ok("list_connections", json!({}));
    assert_eq!(listed["connections"][0]["name"], "demo", "{listed}");
    assert_eq!(listed["connections"][0]["kind"], "postgres", "{listed}");

    let answer = agent.call(
        "query",
        json!({"connection": "demo", "sql": "SELECT id, name FROM items ORDER BY id"}),
    );
    assert!(
        !answer.to_string().contains("jane.doe@example.com"),
        "the email came back unmasked: {answer}"
    );
    let rows = &answer["structuredContent"];
    assert_eq!(rows["status"], "ok", "{answer}");
    assert_eq!(rows["columns"], json!(["id", "name"]));
    assert_eq!(rows["row_count"], 3);
    assert_eq!(rows["truncated"], false);
    assert_eq!(rows["rows"][0], json!(["1", "one"]));
    assert_ne!(rows["rows"][2][1], "jane.doe@example.com");

    let limited = agent.ok(
        "query",
        json!({"connection": "demo", "sql": "SELECT id FROM items ORDER BY id", "max_rows": 2}),
    );
    assert_eq!(limited["truncated"], true, "{limited}");
    assert_eq!(limited["rows"], json!([["1"], ["2"]]));

    let denied = agent.ok(
        "query",
        json!({"connection": "demo", "sql": "DELETE FROM items WHERE id = 1"}),
    );
    assert_eq!(denied["status"], "denied", "{denied}");
    assert!(
        denied["policy"].as_str().is_some_and(|p| !p.is_empty()),
        "{denied}"
    );
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains("request_access"),
        "{denied}"
    );

    let described = agent.ok("describe_connection", json!({"connection": "demo"}));
    let items = described["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "items")
        .unwrap_or_else(|| panic!("{described}"));
    assert_eq!(items["columns"][1]["name"], "name");

    let unknown = agent.error("query", json!({"connection": "nope", "sql": "SELECT 1"}));
    assert!(unknown.contains("no connection `nope`"), "{unknown}");
    let bad = agent.error("query", json!({"connection": "demo"}));
    assert!(bad.contains("invalid arguments"), "{bad}");

    let asked = agent.ok(
        "request_access",
        json!({"connection": "demo", "group": "writers", "duration": "30m", "reason": "fix item 2"}),
    );
    assert_eq!(asked["status"], "pending", "{asked}");
    let grant = asked["approval_id"].as_str().unwrap();
    let status = agent.ok("approval_status", json!({"approval_id": grant}));
    assert_eq!(status["state"], "pending", "{status}");

    let events = gateway.audit_events();
    assert!(
        events
            .iter()
            .any(|e| e["identity"]["subject"] == "rae-agent" && e["decision"] == "deny"),
        "the denial is audited under the agent's identity"
    );
    // Every tool call is an event of its own, naming the tool, never the results.
    let calls: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["kind"] == "tool_call" && e["identity"]["subject"] == "rae-agent")
        .collect();
    for tool in ["mcp:list_connections", "mcp:query", "mcp:approval_status"] {
        assert!(
            calls.iter().any(|e| e["action"] == tool),
            "{tool} missing: {calls:?}"
        );
    }
    assert!(
        calls.iter().any(|e| e["action"] == "mcp:query"
            && e["connection"] == "demo"
            && e["statement"].is_string()),
        "{calls:?}"
    );
    let exported = serde_json::to_string(&events).unwrap();
    assert!(
        !exported.contains("email:"),
        "no result data in the audit log"
    );
}

#[tokio::test]
async fn a_held_delete_runs_once_an_admin_approves_it() {
    let (_db, gateway, direct) = masked_items().await;
    let writer = gateway.key("wes-agent", &["writers"]);
    let agent = Agent::start(&gateway, &writer);
    held_delete_runs_once_approved(&gateway, &direct, agent, Agent::start).await;
}

/// A writer's DELETE is held; an admin approves it from the CLI while the agent long-polls
/// `approval_status`; a reader cannot see it; `run_approved` runs it, once.
async fn held_delete_runs_once_approved(
    gateway: &Gateway,
    direct: &tokio_postgres::Client,
    mut agent: Agent,
    connect: fn(&Gateway, &str) -> Agent,
) {
    let admin = gateway.key("ada", &["admins"]);
    let reader = gateway.key("rae", &["readers"]);
    let held = agent.ok(
        "query",
        json!({"connection": "demo", "sql": "DELETE FROM items WHERE id = 2"}),
    );
    assert_eq!(held["status"], "pending", "{held}");
    let id = held["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(
        held["approve_with"],
        format!("gatehouse approvals approve {id}")
    );
    assert!(held["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(count(direct, "items").await, 3, "held, not forwarded");

    let early = agent.error("run_approved", json!({"approval_id": id}));
    assert!(early.contains("still pending"), "{early}");

    // The agent waits; an admin approves from the CLI in another process meanwhile.
    agent.send(json!({"op": "call", "tool": "approval_status",
        "arguments": {"approval_id": id, "wait_seconds": 40}}));
    std::thread::sleep(Duration::from_millis(500));
    let approved = gateway.cli_as(&admin, &["approvals", "approve", &id]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let status = agent.next();
    assert_eq!(status["structuredContent"]["state"], "approved", "{status}");

    // Others cannot see it or run it.
    let mut other = connect(gateway, &reader);
    let hidden = other.error("approval_status", json!({"approval_id": id}));
    assert!(hidden.contains("no approval"), "{hidden}");
    drop(other);

    let ran = agent.ok("run_approved", json!({"approval_id": id}));
    assert_eq!(ran["status"], "ok", "{ran}");
    assert_eq!(ran["row_count"], 1, "{ran}");
    assert_eq!(count(direct, "items").await, 2);
    let left = direct
        .query("SELECT id FROM items WHERE id = 2", &[])
        .await
        .unwrap();
    assert!(left.is_empty(), "row 2 is gone");

    let spent = agent.ok("approval_status", json!({"approval_id": id}));
    assert_eq!(spent["state"], "executed", "{spent}");
    let again = agent.error("run_approved", json!({"approval_id": id}));
    assert!(again.contains("executed"), "{again}");
}

#[tokio::test]
async fn a_revoked_key_is_refused_and_queries_need_no_local_store() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let token = gateway.key("gone-agent", &["readers"]);
    let mut agent = Agent::start(&gateway, &token);
    let before = agent.ok("query", json!({"connection": "demo", "sql": "SELECT 1"}));
    assert_eq!(before["status"], "ok", "{before}");

    // Away from the gateway's data directory (only --gateway and --ca-file), queries still run
    // and the tools that need the store say what to do, without creating one.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut remote = Agent::spawn(
        &[
            support::binary().into(),
            "--config".into(),
            gateway.config_path().into(),
            "--data-dir".into(),
            elsewhere.path().into(),
            "mcp".into(),
            "--gateway".into(),
            gateway.pg_addr.to_string().into(),
            "--ca-file".into(),
            gateway.ca_file().into(),
        ],
        &token,
    );
    let remote_rows = remote.ok("query", json!({"connection": "demo", "sql": "SELECT 1"}));
    assert_eq!(remote_rows["status"], "ok", "{remote_rows}");
    let needs_store = remote.error(
        "approval_status",
        json!({"approval_id": "ap-0123456789abcdef"}),
    );
    assert!(needs_store.contains("--data-dir"), "{needs_store}");
    drop(remote);
    assert!(!elsewhere.path().join("gatehouse.db").exists());

    let id = token
        .strip_prefix("gh_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id.to_owned())
        .unwrap();
    let revoked = gateway.cli(&["keys", "revoke", &id]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    for (tool, arguments) in [
        ("list_connections", json!({})),
        ("query", json!({"connection": "demo", "sql": "SELECT 1"})),
    ] {
        let refused = agent.error(tool, arguments);
        assert!(refused.contains("token was refused"), "{tool}: {refused}");
    }
}

/// Send `request` to the admin listener and return the status code.
fn http_status(gateway: &Gateway, request: &str) -> u16 {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(gateway.admin_addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {response:?}"))
}

fn initialize_request(gateway: &Gateway, authorization: Option<&str>) -> String {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}})
    .to_string();
    let authorization = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{authorization}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        gateway.admin_addr,
        body.len()
    )
}

#[tokio::test]
async fn the_same_tools_over_http_need_a_valid_bearer_token() {
    let (_db, gateway, direct) = masked_items().await;
    let reader = gateway.key("rae-agent", &["readers"]);
    assert_eq!(
        http_status(&gateway, &initialize_request(&gateway, None)),
        401
    );
    assert_eq!(
        http_status(
            &gateway,
            &initialize_request(&gateway, Some("Bearer gh_0123456789ab_nope"))
        ),
        401
    );
    assert_eq!(
        http_status(
            &gateway,
            &initialize_request(&gateway, Some(&format!("Basic {reader}")))
        ),
        401
    );

    let refused = gateway
        .audit_events()
        .into_iter()
        .filter(|e| e["kind"] == "auth_failure" && e["action"] == "api:/mcp")
        .map(|e| e.to_string())
        .collect::<Vec<_>>();
    assert!(
        refused
            .iter()
            .any(|e| e.contains("the token is not a gatehouse token")),
        "the refused bearer token is audited: {refused:?}"
    );
    assert!(!refused.iter().any(|e| e.contains("gh_0123456789ab_nope")));

    let mut agent = Agent::http(&gateway, &reader);
    assert_eq!(agent.tools().len(), 6);
    let answer = agent.call(
        "query",
        json!({"connection": "demo", "sql": "SELECT name FROM items WHERE id = 3"}),
    );
    assert_eq!(answer["structuredContent"]["status"], "ok", "{answer}");
    assert!(
        !answer.to_string().contains("jane.doe@example.com"),
        "the email came back unmasked: {answer}"
    );
    let denied = agent.ok(
        "query",
        json!({"connection": "demo", "sql": "DELETE FROM items WHERE id = 1"}),
    );
    assert_eq!(denied["status"], "denied", "{denied}");
    drop(agent);

    let writer = gateway.key("wes-agent", &["writers"]);
    let agent = Agent::http(&gateway, &writer);
    held_delete_runs_once_approved(&gateway, &direct, agent, Agent::http).await;

    // An agent still connected does not hold up the gateway's shutdown... after a revoked key
    // is refused at the door.
    let writer_agent = Agent::http(&gateway, &writer);
    let id = reader
        .strip_prefix("gh_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id.to_owned())
        .unwrap();
    assert!(gateway.cli(&["keys", "revoke", &id]).status.success());
    assert_eq!(
        http_status(
            &gateway,
            &initialize_request(&gateway, Some(&format!("Bearer {reader}")))
        ),
        401
    );
    let mut gateway = gateway;
    assert!(gateway.terminate().success());
    drop(writer_agent);
}
