//! The server's HTTP API without kubectl, in plaintext mode: what kubectl does not exercise
//! (paging, preconditions, dry runs, JSON patch failures, raw watches) and the record.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_kube_testserver::{Options, TestApiServer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const TOKEN: &str = "plain-token";

fn server() -> TestApiServer {
    TestApiServer::start(Options::new(TOKEN).plaintext()).unwrap()
}

/// Send one request (`Connection: close`) and return the status and the body as JSON
/// (`Value::Null` when it is not JSON).
fn call(
    server: &TestApiServer,
    method: &str,
    target: &str,
    headers: &str,
    body: &str,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn auth() -> String {
    format!("Authorization: Bearer {TOKEN}\r\n")
}

fn json_call(
    server: &TestApiServer,
    method: &str,
    target: &str,
    content_type: &str,
    body: &Value,
) -> (u16, Value) {
    let headers = format!("{}Content-Type: {content_type}\r\n", auth());
    call(server, method, target, &headers, &body.to_string())
}

#[test]
fn no_token_is_401_and_recorded() {
    let server = server();
    let (status, body) = call(
        &server,
        "DELETE",
        "/apis/apps/v1/namespaces/default/deployments/web",
        "",
        "",
    );
    assert_eq!(
        (status, body["reason"].as_str()),
        (401, Some("Unauthorized"))
    );
    assert_eq!(body["kind"], "Status");
    assert!(server.object("deployments", "default", "web").is_some());
    let seen = &server.requests()[0];
    assert_eq!(
        (
            seen.method.as_str(),
            seen.authenticated,
            seen.authorization.as_deref()
        ),
        ("DELETE", false, None)
    );
    assert_eq!(server.count("delete", "/apis/apps"), 1);
    assert!(server.url().starts_with("http://") && server.ca_pem().is_none());
}

#[test]
fn lists_page_with_limit_and_continue() {
    let server = server();
    let (_, first) = call(
        &server,
        "GET",
        "/api/v1/namespaces/default/pods?limit=1",
        &auth(),
        "",
    );
    assert_eq!(first["kind"], "PodList");
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["metadata"]["remainingItemCount"], 1);
    let next = first["metadata"]["continue"].as_str().unwrap();
    let (_, second) = call(
        &server,
        "GET",
        &format!("/api/v1/namespaces/default/pods?limit=1&continue={next}"),
        &auth(),
        "",
    );
    assert_eq!(second["items"][0]["metadata"]["name"], "web-1");
    assert!(second["metadata"].get("continue").is_none());
    let (_, selected) = call(
        &server,
        "GET",
        "/api/v1/pods?labelSelector=app%3Dweb&fieldSelector=metadata.name%3Dweb-1",
        &auth(),
        "",
    );
    assert_eq!(selected["items"].as_array().unwrap().len(), 1);
}

#[test]
fn writes_check_names_versions_and_dry_runs() {
    let server = server();
    let pods = "/api/v1/namespaces/default/pods";
    let pod =
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let (status, _) = json_call(
        &server,
        "POST",
        &format!("{pods}?dryRun=All"),
        "application/json",
        &pod,
    );
    assert_eq!(status, 201);
    assert!(server.object("pods", "default", "p").is_none());
    let (status, created) = json_call(&server, "POST", pods, "application/json", &pod);
    assert_eq!((status, created["kind"].as_str()), (201, Some("Pod")));
    let (status, again) = json_call(&server, "POST", pods, "application/json", &pod);
    assert_eq!(
        (status, again["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );

    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let (status, conflict) = json_call(
        &server,
        "PUT",
        &format!("{pods}/p"),
        "application/json",
        &stale,
    );
    assert_eq!(
        (status, conflict["reason"].as_str()),
        (409, Some("Conflict"))
    );
    let mut fresh = created.clone();
    fresh["metadata"]["labels"] = json!({"x": "y"});
    let (status, updated) = json_call(
        &server,
        "PUT",
        &format!("{pods}/p"),
        "application/json",
        &fresh,
    );
    assert_eq!(
        (status, updated["metadata"]["labels"]["x"].as_str()),
        (200, Some("y"))
    );
    let before: u64 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let after: u64 = updated["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(after > before);

    let (status, missing) = call(&server, "GET", &format!("{pods}/nope"), &auth(), "");
    assert_eq!(
        (status, missing["message"].as_str()),
        (404, Some(r#"pods "nope" not found"#))
    );
    let (status, _) = call(&server, "GET", "/api/v1/widgets", &auth(), "");
    assert_eq!(status, 404);
}

#[test]
fn a_failing_json_patch_changes_nothing() {
    let server = server();
    let web = "/apis/apps/v1/namespaces/default/deployments/web";
    let ops = json!([{"op": "replace", "path": "/spec/replicas", "value": 5}, {"op": "remove", "path": "/spec/missing"}]);
    let (status, _) = json_call(&server, "PATCH", web, "application/json-patch+json", &ops);
    assert_eq!(status, 422);
    assert_eq!(
        server.object("deployments", "default", "web").unwrap()["spec"]["replicas"],
        1
    );
    let (status, _) = json_call(
        &server,
        "PATCH",
        web,
        "application/apply-patch+yaml",
        &json!({}),
    );
    assert_eq!(status, 415);
    let (status, scale) = call(&server, "GET", &format!("{web}/scale"), &auth(), "");
    assert_eq!(
        (
            status,
            scale["kind"].as_str(),
            scale["spec"]["replicas"].as_u64()
        ),
        (200, Some("Scale"), Some(1))
    );
}

#[test]
fn exec_without_an_upgrade_is_refused_with_a_status() {
    let server = server();
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/namespaces/default/pods/web-0/exec?command=ls&stdout=true",
        &auth(),
        "",
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Upgrade request required"))
    );
    assert!(server.sessions().is_empty());
}

#[test]
fn a_raw_watch_streams_existing_objects_then_changes_until_the_server_stops() {
    let server = server();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/namespaces/default/configmaps?watch=1 HTTP/1.1\r\nHost: x\r\n{}\r\n",
        auth()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut events = Vec::new();
    let mut line = String::new();
    while events.len() < 2 {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the watch ended early"
        );
        // Chunk sizes come between the events; only the events are JSON objects.
        if let Ok(event @ Value::Object(_)) = serde_json::from_str::<Value>(line.trim()) {
            events.push(event);
            if events.len() == 1 {
                server.put_object(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}})).unwrap();
            }
        }
    }
    assert_eq!(
        (
            events[0]["type"].as_str(),
            events[0]["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("settings"))
    );
    assert_eq!(
        (
            events[1]["type"].as_str(),
            events[1]["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("new"))
    );
    drop(server);
    let mut rest = String::new();
    let closed = reader.read_to_string(&mut rest);
    assert!(
        closed.is_ok(),
        "stopping the server ends the watch: {closed:?}"
    );
    assert!(
        !rest.contains("\"type\""),
        "no events after the stop: {rest}"
    );
}

/// Async tests (gatehouse's are tokio tests) start and drop the server the same way: it runs on
/// a thread and runtime of its own.
#[tokio::test]
async fn starts_and_stops_inside_an_async_test() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server();
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{}\r\n",
        auth()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") && response.contains("gitVersion"),
        "{response}"
    );
    drop(server);
}
