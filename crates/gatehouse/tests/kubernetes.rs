//! Kubernetes through gatehouse, with real kubectl against the repository's test API server
//! (no kube-apiserver can run here; `gatehouse-kube-testserver` serves real Kubernetes JSON and
//! records what reached it). The example policy (`policies/kubernetes.cedar`): automation may
//! read and patch deployments but never delete; admins delete after another admin approves;
//! Secrets are masked for everyone without `data:unmasked`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod kube;
mod support;

use base64::Engine;
use kube::{CLUSTER_TOKEN, Cluster, kubernetes_policy, shown, versioned_kubectls};
use std::time::{Duration, Instant};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn automation_patches_a_deployment_and_its_delete_is_refused_before_reaching_the_cluster() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);

    let pods = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(pods.status.success(), "{}", shown(&pods));
    assert!(stdout(&pods).contains("web-0"), "{}", shown(&pods));

    let patched = cluster.kubectl(
        &bot,
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
        ],
    );
    assert!(patched.status.success(), "{}", shown(&patched));
    assert!(
        stdout(&patched).contains("deployment.apps/web patched"),
        "{}",
        shown(&patched)
    );
    let web = cluster
        .server
        .object("deployments", "default", "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 3);

    let deleted = cluster.kubectl(&bot, &["delete", "deployment", "web"]);
    assert!(!deleted.status.success(), "{}", shown(&deleted));
    assert!(
        stderr(&deleted).contains("Error from server (Forbidden): gatehouse:")
            && stderr(&deleted).contains("k8s:delete")
            && stderr(&deleted).contains("automation-never-deletes"),
        "kubectl prints gatehouse's refusal naming the action and policy: {}",
        shown(&deleted)
    );
    assert_eq!(
        cluster.server.count("DELETE", "/"),
        0,
        "no DELETE reached the cluster"
    );
    assert!(
        cluster
            .server
            .object("deployments", "default", "web")
            .is_some()
    );

    // A patch beyond replicas and images is refused too (`containsAll` on the patch paths).
    let labelled = cluster.kubectl(
        &bot,
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"metadata":{"labels":{"owner":"bot"}}}"#,
        ],
    );
    assert!(!labelled.status.success(), "{}", shown(&labelled));

    // The cluster saw gatehouse's credential on every request, never the client's token.
    let seen = cluster.server.requests();
    assert!(!seen.is_empty());
    for request in &seen {
        assert_eq!(
            request.authorization.as_deref(),
            Some(format!("Bearer {CLUSTER_TOKEN}").as_str()),
            "{} {}",
            request.method,
            request.path
        );
    }

    let patches = cluster.audited("k8s:patch");
    assert!(
        patches.iter().any(|e| e["decision"] == "allow"
            && e["statement"]
                .as_str()
                .unwrap_or_default()
                .contains("/apis/apps/v1/namespaces/default/deployments/web")),
        "{patches:#?}"
    );
    let deletes = cluster.audited("k8s:delete");
    assert!(
        deletes.iter().all(|e| e["decision"] == "deny"),
        "{deletes:#?}"
    );
    assert!(!deletes.is_empty());
}

#[test]
fn secrets_come_back_masked_for_automation_and_as_they_are_for_admins() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let admin = cluster.gateway.key("ana", &["admins"]);
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(gatehouse_kube_testserver::DB_PASSWORD);

    let masked = cluster.kubectl(&bot, &["get", "secret", "db-credentials", "-o", "json"]);
    assert!(masked.status.success(), "{}", shown(&masked));
    let secret: serde_json::Value = serde_json::from_slice(&masked.stdout).unwrap();
    assert!(!stdout(&masked).contains(&encoded), "{}", shown(&masked));
    let shown_password = secret["data"]["password"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(shown_password)
        .unwrap();
    assert_eq!(
        decoded, b"gatehouse:masked",
        "the placeholder stays valid base64"
    );

    let listed = cluster.kubectl(&bot, &["get", "secrets", "-o", "yaml"]);
    assert!(listed.status.success(), "{}", shown(&listed));
    assert!(!stdout(&listed).contains(&encoded), "{}", shown(&listed));

    let raw = cluster.kubectl(&admin, &["get", "secret", "db-credentials", "-o", "yaml"]);
    assert!(raw.status.success(), "{}", shown(&raw));
    assert!(stdout(&raw).contains(&encoded), "{}", shown(&raw));
}

#[test]
fn an_admins_delete_is_held_then_runs_once_after_another_admin_approves() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let ana = cluster.gateway.key("ana", &["admins"]);
    let bo = cluster.gateway.key("bo", &["admins"]);

    let held = cluster.kubectl(&ana, &["delete", "deployment", "web"]);
    assert!(!held.status.success(), "{}", shown(&held));
    let message = stderr(&held);
    assert!(
        message.contains("Error from server (Forbidden)"),
        "{}",
        shown(&held)
    );
    let id = message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|word| word.starts_with("ap-"))
        .unwrap_or_else(|| panic!("the refusal names the approval: {message}"))
        .to_owned();
    assert!(message.contains("gatehouse approvals approve"), "{message}");
    assert_eq!(cluster.server.count("DELETE", "/"), 0);

    let approved = cluster.gateway.cli_as(&bo, &["approvals", "approve", &id]);
    assert!(approved.status.success(), "{}", shown(&approved));

    let ran = cluster.kubectl(&ana, &["delete", "deployment", "web"]);
    assert!(ran.status.success(), "{}", shown(&ran));
    assert!(stdout(&ran).contains("deleted"), "{}", shown(&ran));
    assert_eq!(
        cluster
            .server
            .count("DELETE", "/apis/apps/v1/namespaces/default/deployments/web"),
        1
    );
    assert!(
        cluster
            .server
            .object("deployments", "default", "web")
            .is_none()
    );

    // The approval was spent: the same request again is held anew, and nothing is sent.
    let again = cluster.kubectl(&ana, &["delete", "deployment", "web"]);
    assert!(!again.status.success(), "{}", shown(&again));
    assert!(!stderr(&again).contains(&id), "{}", shown(&again));
    assert_eq!(cluster.server.count("DELETE", "/"), 1);
}

#[test]
fn revoking_the_identity_ends_a_running_watch_within_seconds() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let mut watch = cluster
        .kubectl_command("kubectl", &bot, &["get", "pods", "-w"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while cluster
        .server
        .count("GET", "/api/v1/namespaces/default/pods")
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the watch never reached the cluster"
        );
        assert!(
            watch.try_wait().unwrap().is_none(),
            "kubectl get -w ended on its own"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let revoked = cluster.gateway.cli(&["identities", "revoke", "deploy-bot"]);
    assert!(revoked.status.success(), "{}", shown(&revoked));
    assert!(
        support::wait_or_kill(&mut watch, Duration::from_secs(5)).is_some(),
        "kubectl get -w still running 5 s after the revocation"
    );
    let ended_by_revocation = |events: &[serde_json::Value]| {
        events.iter().any(|e| {
            e["kind"] == "disconnect"
                && e["connection"] == "cluster"
                && e["detail"].as_str().unwrap_or_default().contains("revoked")
        })
    };
    let waited = Instant::now();
    let mut events = cluster.gateway.audit_events();
    while !ended_by_revocation(&events) && waited.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
        events = cluster.gateway.audit_events();
    }
    assert!(
        ended_by_revocation(&events),
        "the session's end names the revocation: {events:#?}"
    );
}

#[test]
fn every_installed_kubectl_version_reads_patches_and_is_refused_a_delete() {
    let versions = versioned_kubectls();
    assert!(
        !versions.is_empty() || std::env::var_os("CI").is_none(),
        "CI has kubectl.1.27 … kubectl.1.33 beside gcloud"
    );
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    for (replicas, kubectl) in (2..).zip(&versions) {
        let program = kubectl.to_str().unwrap();
        let pods = cluster.kubectl_version(program, &bot, &["get", "pods"]);
        assert!(
            stdout(&pods).contains("web-1"),
            "{program}: {}",
            shown(&pods)
        );
        let patch = format!(r#"{{"spec":{{"replicas":{replicas}}}}}"#);
        let patched =
            cluster.kubectl_version(program, &bot, &["patch", "deployment", "web", "-p", &patch]);
        assert!(patched.status.success(), "{program}: {}", shown(&patched));
        let deleted = cluster.kubectl_version(program, &bot, &["delete", "deployment", "web"]);
        assert!(
            stderr(&deleted).contains("Error from server (Forbidden): gatehouse:"),
            "{program}: {}",
            shown(&deleted)
        );
    }
    assert_eq!(cluster.server.count("DELETE", "/"), 0);
}

/// A request head for the raw exchanges: `Connection: close` so the answer ends the stream.
fn head(method: &str, path: &str, token: &str, extra: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n{extra}"
    )
}

#[tokio::test]
async fn bad_requests_get_a_clear_status_and_nothing_reaches_the_cluster() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let admin = cluster.gateway.key("ana", &["admins"]);
    let configmaps = "/c/cluster/api/v1/namespaces/default/configmaps";

    // Request smuggling: Content-Length and Transfer-Encoding together.
    let smuggled = format!(
        "{}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /c/cluster/api/v1/namespaces/default/secrets HTTP/1.1\r\nHost: x\r\n\r\n",
        head("POST", configmaps, &admin, "")
    );
    let (status, answer) = kube::raw_exchange(&cluster, smuggled.as_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("smuggling"), "{answer}");

    // A body over the 3 MiB limit.
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
        "a".repeat(4 << 20)
    );
    let oversized = format!(
        "{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        head("POST", configmaps, &admin, ""),
        body.len()
    );
    let (status, answer) = kube::raw_exchange(&cluster, oversized.as_bytes()).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer.contains("\"kind\":\"Status\"") && answer.contains("larger than"),
        "{answer}"
    );

    // A patch that is not JSON.
    let malformed = "{\"spec\": {\"replicas\": ";
    let patch = format!(
        "{}Content-Type: application/merge-patch+json\r\nContent-Length: {}\r\n\r\n{malformed}",
        head(
            "PATCH",
            "/c/cluster/apis/apps/v1/namespaces/default/deployments/web",
            &admin,
            ""
        ),
        malformed.len()
    );
    let (status, answer) = kube::raw_exchange(&cluster, patch.as_bytes()).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("refused patch"), "{answer}");

    // Path tricks: dot segments (raw or encoded), an encoded slash, a backslash.
    for path in [
        "/c/cluster/api/v1/namespaces/default/pods/../secrets",
        "/c/cluster/api/v1/namespaces/default/pods/%2e%2e/secrets",
        "/c/cluster/api/v1/namespaces/default%2Fsecrets",
        "/c/cluster/api/v1/namespaces/default/pods/a%5Cb",
    ] {
        let (status, answer) = kube::raw_exchange(
            &cluster,
            format!("{}\r\n", head("GET", path, &admin, "")).as_bytes(),
        )
        .await;
        assert_eq!(status, 400, "{path}: {answer}");
    }

    // No token, a forged token, a client's own impersonation, an unknown connection.
    let (status, _) = kube::raw_exchange(
        &cluster,
        b"GET /c/cluster/api HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 401);
    let forged = "gh_0123456789ab_forgedforgedforgedforgedforged";
    let (status, _) = kube::raw_exchange(
        &cluster,
        format!("{}\r\n", head("GET", "/c/cluster/api", forged, "")).as_bytes(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, answer) = kube::raw_exchange(
        &cluster,
        format!(
            "{}\r\n",
            head(
                "GET",
                "/c/cluster/api/v1/namespaces/default/secrets",
                &admin,
                "Impersonate-User: system:admin\r\nImpersonate-Group: system:masters\r\n"
            )
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = kube::raw_exchange(
        &cluster,
        format!("{}\r\n", head("GET", "/c/elsewhere/api", &admin, "")).as_bytes(),
    )
    .await;
    assert_eq!(status, 404, "{answer}");

    // A header flood: far more header bytes than `max_header_bytes`.
    let flood: String = (0..400)
        .map(|i| format!("X-Flood-{i}: {}\r\n", "f".repeat(500)))
        .collect();
    let flooded = format!("{}{flood}\r\n", head("GET", "/c/cluster/api", &admin, ""));
    let (status, answer) = kube::raw_exchange(&cluster, flooded.as_bytes()).await;
    assert!(
        status == 431 || status == 0,
        "refused or closed: {status} {}",
        answer.lines().next().unwrap_or_default()
    );
    let seen = cluster.server.requests();
    assert!(
        seen.is_empty(),
        "nothing reached the cluster: {:?}",
        seen.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );

    // The same listener still serves a good request, and `//` collapses as decided.
    let (status, answer) = kube::raw_exchange(
        &cluster,
        format!(
            "{}\r\n",
            head(
                "GET",
                "/c/cluster/api//v1/namespaces/default/pods",
                &admin,
                ""
            )
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        cluster
            .server
            .count("GET", "/api/v1/namespaces/default/pods"),
        1
    );
}

#[test]
fn impersonation_shows_the_cluster_the_identity_with_prefixed_groups() {
    let cluster = Cluster::start(
        &kubernetes_policy(),
        "[connections.impersonate]\ngroups = { admins = \"platform-admins\" }\n",
    );
    let admin = cluster
        .gateway
        .key_with("ana", &["admins", "system:masters"], &[]);
    let pods = cluster.kubectl(&admin, &["get", "pods"]);
    assert!(pods.status.success(), "{}", shown(&pods));
    let seen = cluster.server.requests();
    let last = seen.last().unwrap();
    assert_eq!(last.impersonate_user.as_deref(), Some("ana"));
    let mut groups = last.impersonate_groups.clone();
    groups.sort();
    assert_eq!(
        groups,
        ["gatehouse:system:masters", "platform-admins"],
        "an IdP group named system:masters never becomes one"
    );
}

#[test]
fn the_python_client_lists_patches_and_is_refused_a_delete() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let Some(answer) = kube::python_client(&cluster, &bot) else {
        return;
    };
    assert_eq!(answer["pods"], serde_json::json!(["web-0", "web-1"]));
    assert_eq!(answer["replicas"], 4);
    assert_eq!(answer["delete"]["status"], 403);
    assert_eq!(answer["delete"]["body"]["kind"], "Status");
    assert!(
        answer["delete"]["body"]["message"]
            .as_str()
            .unwrap()
            .starts_with("gatehouse: "),
        "{answer}"
    );
    assert_eq!(cluster.server.count("DELETE", "/"), 0);
    assert!(cluster.server.requests().iter().all(|r| r.authorization.as_deref() == Some(format!("Bearer {CLUSTER_TOKEN}").as_str())));
}

#[test]
fn the_quickstart_policy_gives_each_group_its_kubernetes_share() {
    let cluster = Cluster::start(&support::quickstart_policy(), "");
    let reader = cluster.gateway.key("rita", &["readers"]);
    let writer = cluster.gateway.key("wes", &["writers"]);
    let patch = [
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ];

    let read = cluster.kubectl(&reader, &["get", "deployments"]);
    assert!(stdout(&read).contains("web"), "{}", shown(&read));
    let refused = cluster.kubectl(&reader, &patch);
    assert!(
        stderr(&refused).contains("Forbidden"),
        "{}",
        shown(&refused)
    );

    let patched = cluster.kubectl(&writer, &patch);
    assert!(patched.status.success(), "{}", shown(&patched));
    let held = cluster.kubectl(&writer, &["delete", "deployment", "web"]);
    assert!(
        stderr(&held).contains("Forbidden") && stderr(&held).contains("ap-"),
        "a writer's delete waits for an admin: {}",
        shown(&held)
    );
    assert_eq!(cluster.server.count("PATCH", "/"), 1);
    assert_eq!(cluster.server.count("DELETE", "/"), 0);
}

#[test]
fn in_wait_mode_a_held_delete_runs_as_soon_as_it_is_approved() {
    let cluster = Cluster::start_with_listener(&kubernetes_policy(), "wait_for_approval = true\n");
    let ana = cluster.gateway.key("ana", &["admins"]);
    let bo = cluster.gateway.key("bo", &["admins"]);
    let waiting = cluster
        .kubectl_command("kubectl", &ana, &["delete", "deployment", "web"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let id = loop {
        let listed = cluster
            .gateway
            .cli_as(&bo, &["approvals", "list", "--output", "json"]);
        let approvals: serde_json::Value =
            serde_json::from_slice(&listed.stdout).unwrap_or_default();
        if let Some(id) = approvals
            .as_array()
            .and_then(|all| all.iter().find(|a| a["state"] == "pending"))
            .and_then(|a| a["id"].as_str())
        {
            break id.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no pending approval appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        cluster.server.count("DELETE", "/"),
        0,
        "nothing is sent while it waits"
    );
    let approved = cluster.gateway.cli_as(&bo, &["approvals", "approve", &id]);
    assert!(approved.status.success(), "{}", shown(&approved));
    let finished = waiting.wait_with_output().unwrap();
    assert!(finished.status.success(), "{}", shown(&finished));
    assert!(
        stdout(&finished).contains("deleted"),
        "{}",
        shown(&finished)
    );
    assert_eq!(
        cluster
            .server
            .count("DELETE", "/apis/apps/v1/namespaces/default/deployments/web"),
        1
    );
}

#[tokio::test]
async fn an_http2_rapid_reset_flood_ends_that_connection_and_the_listener_keeps_serving() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let admin = cluster.gateway.key("ana", &["admins"]);
    let mut send = kube::h2_connection(&cluster).await;
    let mut refused = None;
    for sent in 0..5_000 {
        let request = http::Request::get(format!(
            "https://{}/c/cluster/api/v1/namespaces/default/pods",
            cluster.address()
        ))
        .header("authorization", format!("Bearer {admin}"))
        .body(())
        .unwrap();
        let ready = match send.clone().ready().await {
            Ok(ready) => ready,
            Err(error) => {
                refused = Some((sent, error));
                break;
            }
        };
        send = ready;
        match send.send_request(request, false) {
            Ok((_, mut stream)) => stream.send_reset(h2::Reason::CANCEL),
            Err(error) => {
                refused = Some((sent, error));
                break;
            }
        }
    }
    // The client may have sent its last resets before it heard the connection was cut: one
    // more request on the same connection must fail.
    let refused = match refused {
        Some(refused) => refused,
        None => {
            let request =
                http::Request::get(format!("https://{}/c/cluster/api", cluster.address()))
                    .header("authorization", format!("Bearer {admin}"))
                    .body(())
                    .unwrap();
            let answered = tokio::time::timeout(Duration::from_secs(5), async {
                let mut ready = send.ready().await?;
                let (answer, _) = ready.send_request(request, true)?;
                answer.await
            })
            .await
            .expect("the connection neither answered nor ended");
            (
                5_000,
                answered.expect_err("the flooding connection still answers"),
            )
        }
    };
    let (sent, error) = refused;
    assert!(
        error.is_go_away() || error.is_io() || error.reason().is_some(),
        "after {sent} streams: {error}"
    );
    // Far fewer requests than were opened ever reached the cluster, and a new connection works.
    assert!(
        cluster.server.requests().len() < sent,
        "{} of {sent}",
        cluster.server.requests().len()
    );
    let mut fresh = kube::h2_connection(&cluster).await;
    let request = http::Request::get(format!("https://{}/c/cluster/api", cluster.address()))
        .header("authorization", format!("Bearer {admin}"))
        .body(())
        .unwrap();
    let (answer, _) = fresh.send_request(request, true).unwrap();
    assert_eq!(answer.await.unwrap().status(), 200);
}

#[tokio::test]
async fn http2_header_floods_are_refused_and_nothing_reaches_the_cluster() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let admin = cluster.gateway.key("ana", &["admins"]);
    let flood = |fields: usize| (0..fields).map(|i| (format!("x-flood-{i}"), "f".repeat(500)));

    // A complete header block four times the listener's 64 KiB: 431, and the stream refused.
    let send = kube::h2_connection(&cluster).await;
    let mut request = http::Request::get(format!(
        "https://{}/c/cluster/api/v1/namespaces/default/pods",
        cluster.address()
    ))
    .header("authorization", format!("Bearer {admin}"));
    for (name, value) in flood(512) {
        request = request.header(name, value);
    }
    let answered = tokio::time::timeout(Duration::from_secs(10), async {
        let mut ready = send.clone().ready().await?;
        let (answer, _) = ready.send_request(request.body(()).unwrap(), true)?;
        answer.await
    })
    .await
    .expect("the oversized header block was neither answered nor refused");
    match answered {
        Ok(answer) => assert_eq!(answer.status(), 431),
        Err(error) => assert!(error.reason().is_some() || error.is_go_away(), "{error}"),
    }

    // A header block that never ends: CONTINUATION frames without END_HEADERS, far past the
    // limit. The gateway sends GOAWAY (or closes) long before the client runs out of frames.
    let mut raw = support::raw_h2::RawH2::over(kube::h2_tls(&cluster).await).await;
    let block = support::raw_h2::request_block(&cluster.address(), "/c/cluster/api", &admin);
    raw.frame(support::raw_h2::HEADERS, 0, 1, &block)
        .await
        .unwrap();
    let continuation: Vec<u8> = flood(30)
        .flat_map(|(name, value)| support::raw_h2::literal(&name, &value))
        .collect();
    let mut sent = 0;
    while sent < 2_000
        && raw
            .frame(support::raw_h2::CONTINUATION, 0, 1, &continuation)
            .await
            .is_ok()
    {
        sent += 1;
    }
    let frames = raw.frames_until_closed(Duration::from_secs(10)).await;
    assert!(
        sent < 2_000
            || frames
                .iter()
                .any(|(kind, ..)| *kind == support::raw_h2::GOAWAY),
        "the gateway took {sent} CONTINUATION frames ({} KiB) and did not go away",
        sent * continuation.len() / 1024
    );
    assert!(
        !frames
            .iter()
            .any(|(kind, stream, _)| *kind == support::raw_h2::HEADERS && *stream == 1),
        "the endless header block was answered as a request"
    );

    let seen = cluster.server.requests();
    assert!(
        seen.is_empty(),
        "nothing reached the cluster: {:?}",
        seen.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    // The listener still serves a well-formed request.
    let mut fresh = kube::h2_connection(&cluster).await;
    let request = http::Request::get(format!("https://{}/c/cluster/api", cluster.address()))
        .header("authorization", format!("Bearer {admin}"))
        .body(())
        .unwrap();
    let (answer, _) = fresh.send_request(request, true).unwrap();
    assert_eq!(answer.await.unwrap().status(), 200);
}

#[tokio::test]
async fn requests_abandoned_while_the_gateway_works_on_them_get_the_connection_cut() {
    // Each delete waits for an approval inside the gateway (wait mode): resetting it after the
    // gateway took it up abandons work the gateway started. A client doing that without end
    // has its connection cut.
    let cluster = Cluster::start_with_listener(&kubernetes_policy(), "wait_for_approval = true\n");
    let admin = cluster.gateway.key("ana", &["admins"]);
    let mut send = kube::h2_connection(&cluster).await;
    let target = format!(
        "https://{}/c/cluster/apis/apps/v1/namespaces/default/deployments/web",
        cluster.address()
    );
    let mut cut_after = None;
    for sent in 0..300 {
        let request = http::Request::delete(target.as_str())
            .header("authorization", format!("Bearer {admin}"))
            .body(())
            .unwrap();
        let Ok(ready) = send.clone().ready().await else {
            cut_after = Some(sent);
            break;
        };
        send = ready;
        let Ok((_, mut stream)) = send.send_request(request, true) else {
            cut_after = Some(sent);
            break;
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        stream.send_reset(h2::Reason::CANCEL);
    }
    let sent = cut_after.expect("the connection is cut before 300 abandoned requests");
    assert!(
        sent > 100,
        "the first 100 abandoned requests are tolerated: cut after {sent}"
    );
    assert!(
        cluster
            .gateway
            .log()
            .contains("abandoned too many requests"),
        "the operator is told why"
    );
    assert_eq!(cluster.server.count("DELETE", "/"), 0);
}

#[tokio::test]
async fn a_list_of_ten_thousand_secrets_is_masked_as_it_streams() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let value = base64::engine::general_purpose::STANDARD.encode("s3cr3t-".repeat(100));
    for n in 0..10_000 {
        cluster
            .server
            .put_object(serde_json::json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": format!("bulk-{n}"), "namespace": "default"},
                "type": "Opaque",
                "data": {"token": value, "n": base64::engine::general_purpose::STANDARD.encode(n.to_string())}
            }))
            .unwrap();
    }
    let before = support::proc_status_kib(cluster.gateway.pid, "VmHWM:");
    let request = format!(
        "{}\r\n",
        head(
            "GET",
            "/c/cluster/api/v1/namespaces/default/secrets",
            &bot,
            ""
        )
    );
    let (status, answer) = kube::raw_exchange(&cluster, request.as_bytes()).await;
    assert_eq!(status, 200);
    let answer = kube::body_of(&answer);
    assert!(!answer.contains(&value), "no Secret value passes");
    let list: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 10_001, "the seeded secret and the 10,000");
    let placeholder = base64::engine::general_purpose::STANDARD.encode("gatehouse:masked");
    assert!(
        items.iter().all(|item| item["data"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v == &serde_json::Value::String(placeholder.clone()))),
        "every value is the placeholder"
    );
    let grown_kib = support::proc_status_kib(cluster.gateway.pid, "VmHWM:").saturating_sub(before);
    assert!(
        grown_kib < 8 * 1024,
        "the gateway's peak memory grew by {grown_kib} KiB for a list of over 10 MB"
    );
}

#[test]
fn configmap_values_the_detectors_find_are_masked_for_automation() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    cluster
        .server
        .put_object(serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "contacts", "namespace": "default"},
            "data": {"oncall": "ana.lopez@example.com", "replicas": "3"}
        }))
        .unwrap();
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let admin = cluster.gateway.key("ana", &["admins"]);
    let masked = cluster.kubectl(&bot, &["get", "configmap", "contacts", "-o", "json"]);
    assert!(masked.status.success(), "{}", shown(&masked));
    let map: serde_json::Value = serde_json::from_slice(&masked.stdout).unwrap();
    assert_ne!(map["data"]["oncall"], "ana.lopez@example.com");
    assert_eq!(map["data"]["replicas"], "3");
    let raw = cluster.kubectl(&admin, &["get", "configmap", "contacts", "-o", "json"]);
    assert!(
        stdout(&raw).contains("ana.lopez@example.com"),
        "{}",
        shown(&raw)
    );
}

#[test]
fn everyday_kubectl_commands_work_through_gatehouse() {
    use std::io::{BufRead, BufReader};
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let admin = cluster.gateway.key("ana", &["admins"]);

    let described = cluster.kubectl(&admin, &["describe", "deployment", "web"]);
    assert!(described.status.success(), "{}", shown(&described));
    assert!(
        stdout(&described).contains("Replicas:"),
        "{}",
        shown(&described)
    );

    let manifest = cluster.gateway.dir.path().join("applied.yaml");
    let apply = |level: &str| {
        std::fs::write(
            &manifest,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  level: {level}\n"),
        )
        .unwrap();
        let output = cluster.kubectl(&admin, &["apply", "-f", manifest.to_str().unwrap()]);
        assert!(output.status.success(), "{}", shown(&output));
        stdout(&output).trim().to_owned()
    };
    assert_eq!(apply("info"), "configmap/applied created");
    assert_eq!(apply("debug"), "configmap/applied configured");
    assert_eq!(apply("debug"), "configmap/applied unchanged");

    let scaled = cluster.kubectl(&admin, &["scale", "deployment", "web", "--replicas=2"]);
    assert_eq!(
        stdout(&scaled).trim(),
        "deployment.apps/web scaled",
        "{}",
        shown(&scaled)
    );
    assert_eq!(
        cluster
            .server
            .object("deployments", "default", "web")
            .unwrap()["spec"]["replicas"],
        2
    );

    let logs = cluster.kubectl(&admin, &["logs", "web-0"]);
    assert!(
        stdout(&logs).starts_with("web-0/web: starting"),
        "{}",
        shown(&logs)
    );

    // `logs -f` streams through without buffering: lines arrive while the request is open.
    let mut follow = cluster
        .kubectl_command("kubectl", &admin, &["logs", "-f", "web-1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let ticked = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("tick 2"));
    assert!(ticked && started.elapsed() < Duration::from_secs(30));
    let _ = follow.kill();
    let _ = follow.wait();

    // `get -w` sees a pod created while it watches.
    let mut watch = cluster
        .kubectl_command("kubectl", &admin, &["get", "pods", "-w", "--no-headers"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().starts_with("web-"));
    cluster
        .server
        .put_object(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "watched-1", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}
        }))
        .unwrap();
    let seen = lines
        .map_while(Result::ok)
        .any(|line| line.starts_with("watched-1"));
    assert!(seen);
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn policy_check_decides_a_kubernetes_request_offline_as_the_gateway_would() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let check = |args: &[&str]| {
        let mut all = vec![
            "policy",
            "check",
            "--identity",
            "bot",
            "--groups",
            "automation",
            "--connection",
            "cluster",
            "--output",
            "json",
        ];
        all.extend_from_slice(args);
        let output = cluster.gateway.cli(&all);
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        (output.status.code(), value, stderr(&output))
    };
    let (code, value, _) = check(&[
        "--k8s",
        "DELETE /apis/apps/v1/namespaces/default/deployments/web",
    ]);
    assert_eq!(code, Some(4));
    assert_eq!(value["requests"][0]["action"], "k8s:delete");
    assert_eq!(
        value["requests"][0]["policies"],
        serde_json::json!(["automation-never-deletes"])
    );
    let (code, value, _) = check(&[
        "--k8s",
        "PATCH /apis/apps/v1/namespaces/default/deployments/web",
        "--patch",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    assert_eq!(code, Some(0), "{value}");
    assert_eq!(
        value["requests"][0]["statement"],
        "PATCH /apis/apps/v1/namespaces/default/deployments/web"
    );
    let (code, _, message) = check(&[
        "--k8s",
        "GET /api/v1/namespaces/default/pods/%2e%2e/secrets",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        message.contains("the gateway would refuse this request"),
        "{message}"
    );
    assert!(
        cluster.server.requests().is_empty(),
        "policy check never talks to the cluster"
    );
}

#[test]
fn an_issued_client_certificate_is_masked_for_automation_and_shown_to_admins() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let admin = cluster.gateway.key("ana", &["admins"]);
    let issued = base64::engine::general_purpose::STANDARD
        .encode("-----BEGIN CERTIFICATE-----\nMIIBissuedtoana\n-----END CERTIFICATE-----\n");
    cluster
        .server
        .put_object(serde_json::json!({
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": "ana-client"},
            "spec": {
                "request": "UkVRVUVTVA==",
                "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["client auth"]
            },
            "status": {"certificate": issued}
        }))
        .unwrap();

    let masked = cluster.kubectl(&bot, &["get", "csr", "ana-client", "-o", "json"]);
    assert!(masked.status.success(), "{}", shown(&masked));
    assert!(!stdout(&masked).contains(&issued), "{}", shown(&masked));
    let csr: serde_json::Value = serde_json::from_slice(&masked.stdout).unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(csr["status"]["certificate"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, b"gatehouse:masked", "still valid base64");
    assert_eq!(
        csr["spec"]["request"], "UkVRVUVTVA==",
        "the request is public"
    );

    for listing in [&["get", "csr", "-o", "yaml"][..], &["get", "csr"][..]] {
        let listed = cluster.kubectl(&bot, listing);
        assert!(listed.status.success(), "{}", shown(&listed));
        assert!(!stdout(&listed).contains(&issued), "{}", shown(&listed));
    }

    let raw = cluster.kubectl(&admin, &["get", "csr", "ana-client", "-o", "json"]);
    assert!(raw.status.success(), "{}", shown(&raw));
    assert!(stdout(&raw).contains(&issued), "{}", shown(&raw));
}

#[test]
fn the_audit_outcome_counts_the_objects_an_answer_carried() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let admin = cluster.gateway.key("ana", &["admins"]);
    for index in 0..7 {
        cluster
            .server
            .put_object(serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": format!("worker-{index}"), "namespace": "counted"},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]}
            }))
            .unwrap();
    }

    // kubectl asks for a Table; masked (pods go through the detectors for automation) or not.
    for (token, who) in [(&bot, "masked"), (&admin, "unmasked")] {
        let listed = cluster.kubectl(token, &["get", "pods", "-n", "counted"]);
        assert!(listed.status.success(), "{}", shown(&listed));
        assert!(stdout(&listed).contains("worker-6"), "{}", shown(&listed));
        let outcome = cluster
            .gateway
            .outcome_of("k8s:list", "/api/v1/namespaces/counted/pods");
        assert_eq!(outcome["rows"], 7, "{who}: {outcome:#?}");
        assert_eq!(outcome["command_tag"], "200 OK");
    }

    let listed = cluster.kubectl(&bot, &["get", "deployments", "-n", "counted", "-o", "json"]);
    assert!(listed.status.success(), "{}", shown(&listed));
    let outcome = cluster
        .gateway
        .outcome_of("k8s:list", "/apis/apps/v1/namespaces/counted/deployments");
    assert_eq!(outcome["rows"], 0, "an empty list: {outcome:#?}");

    let one = cluster.kubectl(
        &bot,
        &["get", "pod", "worker-3", "-n", "counted", "-o", "json"],
    );
    assert!(one.status.success(), "{}", shown(&one));
    let outcome = cluster
        .gateway
        .outcome_of("k8s:get", "/api/v1/namespaces/counted/pods/worker-3");
    assert_eq!(outcome["rows"], 1, "{outcome:#?}");

    // What was masked is counted too (per path rule and detector, never values).
    for n in 0..3 {
        cluster
            .server
            .put_object(serde_json::json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": format!("key-{n}"), "namespace": "counted"},
                "type": "Opaque",
                "data": {"token": "czNjcjN0", "user": "YW5h"}
            }))
            .unwrap();
    }
    for (token, masked) in [
        (&bot, serde_json::json!({"path:**.data": 6})),
        (&admin, serde_json::Value::Null),
    ] {
        let listed = cluster.kubectl(token, &["get", "secrets", "-n", "counted", "-o", "json"]);
        assert!(listed.status.success(), "{}", shown(&listed));
        let outcome = cluster
            .gateway
            .outcome_of("k8s:list", "/api/v1/namespaces/counted/secrets");
        assert_eq!(outcome["rows"], 3, "{outcome:#?}");
        assert_eq!(outcome["masked"], masked, "{outcome:#?}");
    }

    let missing = cluster.kubectl(&bot, &["get", "pod", "nobody", "-n", "counted"]);
    assert!(!missing.status.success());
    let outcome = cluster
        .gateway
        .outcome_of("k8s:get", "/api/v1/namespaces/counted/pods/nobody");
    assert!(
        outcome["rows"].is_null(),
        "an error counts nothing: {outcome:#?}"
    );
    assert_eq!(outcome["error"], "404 Not Found");
}
