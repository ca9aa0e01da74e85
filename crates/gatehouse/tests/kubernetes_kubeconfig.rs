//! Kubeconfigs, both ways: a connection whose API server and credential come from a
//! kubeconfig's context (a token user, an exec credential plugin), driven with real kubectl
//! through the gateway; kubeconfigs gatehouse cannot honour refused at startup with the file,
//! context and key named; and `gatehouse kubeconfig` editing a user's YAML kubeconfig in place.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod kube;
mod support;

use kube::{CLUSTER_TOKEN, Cluster, kubernetes_policy, shown};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The test API server's own kubeconfig (context `test`, a token user) in `dir`.
fn server_kubeconfig(server: &gatehouse_kube_testserver::TestApiServer, dir: &Path) -> String {
    let file = dir.join("cluster.yaml");
    std::fs::write(&file, server.kubeconfig()).unwrap();
    format!("kubeconfig = \"{}\"\n", file.display())
}

/// A kubeconfig for the test API server whose user is `plugin.sh` in `dir` (relative to the
/// kubeconfig, as kubectl resolves it), a shell script running `script`.
fn exec_kubeconfig(
    server: &gatehouse_kube_testserver::TestApiServer,
    dir: &Path,
    script: &str,
) -> String {
    let plugin = dir.join("plugin.sh");
    std::fs::write(&plugin, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = server.kubeconfig().replace(
        &format!("    token: \"{CLUSTER_TOKEN}\"\n"),
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./plugin.sh\n      args: [\"--cluster\", \"test\"]\n      interactiveMode: Never\n",
    );
    assert!(text.contains("exec:"), "{text}");
    let file = dir.join("exec.yaml");
    std::fs::write(&file, text).unwrap();
    format!("kubeconfig = \"{}\"\ncontext = \"test\"\n", file.display())
}

/// A plugin script: count its run in `runs`, print an ExecCredential with the token in
/// `token_file`, expiring `seconds` from now.
fn counting_plugin(dir: &Path, seconds: u32) -> String {
    format!(
        "echo \"$KUBERNETES_EXEC_INFO\" >> {runs}\n\
         expiry=$(date -u -d \"+{seconds} seconds\" +%Y-%m-%dT%H:%M:%SZ)\n\
         printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}}}' \"$(cat {token})\" \"$expiry\"",
        runs = dir.join("runs").display(),
        token = dir.join("plugin.token").display(),
    )
}

fn runs(cluster: &Cluster) -> usize {
    std::fs::read_to_string(cluster.files().dir.join("runs"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_connection_defined_by_a_kubeconfigs_token_user_serves_kubectl() {
    let cluster = Cluster::start_defined(&kubernetes_policy(), "", server_kubeconfig);
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let pods = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(pods.status.success(), "{}", shown(&pods));
    assert!(stdout(&pods).contains("web-0"), "{}", shown(&pods));
    let seen = cluster.server.requests();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {CLUSTER_TOKEN}"))),
        "the kubeconfig's token reached the API server, never the client's"
    );
}

#[test]
fn an_exec_plugin_runs_once_per_expiry_not_per_request() {
    let cluster = Cluster::start_defined(&kubernetes_policy(), "", |server, dir| {
        std::fs::write(dir.join("plugin.token"), CLUSTER_TOKEN).unwrap();
        exec_kubeconfig(server, dir, &counting_plugin(dir, 8))
    });
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    assert_eq!(runs(&cluster), 0, "the plugin runs when a request needs it");
    let first = cluster.kubectl(&bot, &["get", "pods"]);
    let first_run = Instant::now();
    assert!(first.status.success(), "{}", shown(&first));
    let second = cluster.kubectl(&bot, &["get", "deployments"]);
    assert!(second.status.success(), "{}", shown(&second));
    assert!(cluster.server.requests().len() >= 2);
    assert_eq!(
        runs(&cluster),
        1,
        "one run for every request until it expires"
    );
    let info = std::fs::read_to_string(cluster.files().dir.join("runs")).unwrap();
    let info: serde_json::Value = serde_json::from_str(info.lines().next().unwrap()).unwrap();
    assert_eq!(info["kind"], "ExecCredential");
    assert_eq!(info["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(info["spec"]["interactive"], false);

    std::thread::sleep(Duration::from_secs(9).saturating_sub(first_run.elapsed()));
    let after = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(after.status.success(), "{}", shown(&after));
    assert_eq!(runs(&cluster), 2, "expired: run again");
}

#[test]
fn a_credential_the_api_server_refuses_is_replaced_by_running_the_plugin_again() {
    let cluster = Cluster::start_defined(&kubernetes_policy(), "", |server, dir| {
        std::fs::write(dir.join("plugin.token"), "a-revoked-token").unwrap();
        exec_kubeconfig(server, dir, &counting_plugin(dir, 3600))
    });
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let refused = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(
        cluster.server.requests().iter().all(|r| !r.authenticated),
        "nothing was served with the refused token"
    );
    std::fs::write(cluster.files().dir.join("plugin.token"), CLUSTER_TOKEN).unwrap();
    let runs_before = runs(&cluster);
    let pods = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(pods.status.success(), "{}", shown(&pods));
    assert!(stdout(&pods).contains("web-0"), "{}", shown(&pods));
    assert_eq!(
        runs(&cluster),
        runs_before + 1,
        "the refused credential was forgotten, though it had not expired"
    );
}

#[tokio::test]
async fn a_failing_plugin_answers_with_a_status_naming_the_connection() {
    let cluster = Cluster::start_defined(&kubernetes_policy(), "", |server, dir| {
        exec_kubeconfig(server, dir, "echo 'please run login first' >&2\nexit 1")
    });
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let started = Instant::now();
    let failed = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(!failed.status.success(), "{}", shown(&failed));
    assert!(started.elapsed() < Duration::from_secs(15));
    let request = format!(
        "GET /c/cluster/api/v1/namespaces/default/pods HTTP/1.1\r\nHost: gatehouse\r\nAuthorization: Bearer {bot}\r\nConnection: close\r\n\r\n"
    );
    let (status, answer) = kube::raw_exchange(&cluster, request.as_bytes()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer.contains("\"kind\":\"Status\"")
            && answer.contains(
                "connection `cluster`: the exec credential plugin of its kubeconfig gave no credential"
            ),
        "{answer}"
    );
    assert!(
        cluster.server.requests().is_empty(),
        "nothing reached the API server without a credential"
    );
    assert!(
        cluster.gateway.log().contains("please run login first"),
        "the operator reads what the plugin said in gatehouse's log"
    );
}

/// `gatehouse serve` with a `cluster` connection defined by `kubeconfig` (and `context`):
/// what it printed when it refused to start.
fn startup_refusal(kubeconfig: &str, context: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kube.yaml");
    std::fs::write(&file, kubeconfig).unwrap();
    let context = context
        .map(|name| format!("context = \"{name}\"\n"))
        .unwrap_or_default();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[postgres]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [kubernetes]\nlisten = \"127.0.0.1:0\"\n\
             [[connections]]\nname = \"cluster\"\nkind = \"kubernetes\"\nkubeconfig = \"{}\"\n{context}",
            file.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(support::binary())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("gatehouse serve started with a kubeconfig it should refuse");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(message.contains("connection `cluster`"), "{message}");
    assert!(message.contains(&file.display().to_string()), "{message}");
    message
}

#[test]
fn kubeconfigs_gatehouse_cannot_honour_stop_it_at_startup_saying_why() {
    let server = gatehouse_kube_testserver::TestApiServer::start(
        gatehouse_kube_testserver::Options::new(CLUSTER_TOKEN),
    )
    .unwrap();
    let good = server.kubeconfig();
    let missing = startup_refusal(&good, Some("staging"));
    assert!(
        missing.contains("context `staging`: the file has no such context (it has: test)"),
        "{missing}"
    );
    let unknown_user =
        startup_refusal(&good.replace("    user: test\n", "    user: ghost\n"), None);
    assert!(
        unknown_user
            .contains("context `test`: `user: ghost` names a user the file does not define"),
        "{unknown_user}"
    );
    let auth_provider = startup_refusal(
        &good.replace(
            &format!("    token: \"{CLUSTER_TOKEN}\"\n"),
            "    auth-provider:\n      name: oidc\n",
        ),
        None,
    );
    assert!(
        auth_provider.contains("user `test`: `auth-provider` plugins are not supported")
            && auth_provider.contains("exec credential plugin"),
        "{auth_provider}"
    );
    let insecure = startup_refusal(
        &good.replace(
            "  cluster:\n",
            "  cluster:\n    insecure-skip-tls-verify: true\n",
        ),
        None,
    );
    assert!(
        insecure.contains("cluster `test`: `insecure-skip-tls-verify` is refused"),
        "{insecure}"
    );
    let malformed = startup_refusal("clusters:\n- name: [unclosed\n", None);
    assert!(
        malformed.contains("is not valid YAML or JSON"),
        "{malformed}"
    );
}

#[test]
fn gatehouse_kubeconfig_edits_a_yaml_kubeconfig_and_keeps_the_users_other_cluster() {
    let cluster = Cluster::start(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let file = cluster.gateway.dir.path().join("home-config");
    let own = cluster.server.kubeconfig().replace(
        "current-context: test\n",
        "current-context: test\npreferences:\n  colors: true\n",
    );
    std::fs::write(&file, own).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let written = cluster.gateway.cli(&[
        "kubeconfig",
        "cluster",
        "--kubeconfig",
        file.to_str().unwrap(),
    ]);
    assert!(written.status.success(), "{}", shown(&written));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.trim_start().starts_with('{'), "still YAML: {text}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let kubectl = |args: &[&str]| {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&file)
            .arg("--request-timeout=20s")
            .args(args)
            .env("GATEHOUSE_TOKEN", &bot)
            .env_remove("KUBECONFIG")
            .env("HOME", cluster.gateway.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let view = kubectl(&["config", "view", "-o", "json"]);
    assert!(view.status.success(), "{}", shown(&view));
    let view: serde_json::Value = serde_json::from_slice(&view.stdout).unwrap();
    assert_eq!(view["current-context"], "gatehouse-cluster");
    let names = |list: &str| -> Vec<String> {
        view[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["name"].as_str().unwrap().to_owned())
            .collect()
    };
    // kubectl lists them by name.
    assert_eq!(names("clusters"), ["gatehouse-cluster", "test"]);
    assert_eq!(names("users"), ["gatehouse-cluster", "test"]);
    assert_eq!(names("contexts"), ["gatehouse-cluster", "test"]);
    assert_eq!(view["preferences"]["colors"], true);

    let through_gatehouse = kubectl(&["get", "pods"]);
    assert!(
        through_gatehouse.status.success(),
        "{}",
        shown(&through_gatehouse)
    );
    assert!(stdout(&through_gatehouse).contains("web-0"));
    assert!(
        !cluster.audited("k8s:list").is_empty(),
        "the new current context goes through gatehouse"
    );
    let direct = kubectl(&["--context", "test", "get", "deployments"]);
    assert!(
        direct.status.success(),
        "the user's own context still works: {}",
        shown(&direct)
    );

    let again = cluster.gateway.cli(&[
        "kubeconfig",
        "cluster",
        "--kubeconfig",
        file.to_str().unwrap(),
    ]);
    assert!(again.status.success(), "{}", shown(&again));
    let view = kubectl(&["config", "view", "-o", "json"]);
    let view: serde_json::Value = serde_json::from_slice(&view.stdout).unwrap();
    assert_eq!(
        view["clusters"].as_array().unwrap().len(),
        2,
        "written again, the entries are replaced, not repeated"
    );
}
