//! The machine's real kubectl against the test API server over HTTPS with the server's CA and
//! token: each command's output, and what the server recorded of it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_kube_testserver::{DB_PASSWORD, Options, TestApiServer};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Kubectl, TOKEN, default_kubectl, versioned_kubectls, wait_for_line, wait_until};

/// A fresh server and the default kubectl pointed at it; `None` when kubectl is missing.
fn setup() -> Option<(TestApiServer, Kubectl)> {
    let binary = default_kubectl()?;
    let server = TestApiServer::start(Options::new(TOKEN)).unwrap();
    let kubectl = Kubectl::new(binary, &server);
    Some((server, kubectl))
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn get_pods_prints_the_servers_table() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let out = kubectl.ok(&["get", "pods"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        words(lines[0]),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{out}"
    );
    assert_eq!(words(lines[1])[..4], ["web-0", "1/1", "Running", "0"]);
    assert_eq!(words(lines[2])[0], "web-1");

    let list = server
        .requests()
        .into_iter()
        .find(|r| r.is("GET", "/api/v1/namespaces/default/pods"))
        .expect("the list reached the server");
    assert!(list.accept.as_deref().unwrap().contains("as=Table"));
    assert_eq!(
        list.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(list.authenticated);
    assert_eq!(list.status, 200);
    // Discovery came first, in the legacy form although kubectl asked for the aggregated one.
    assert!(server.count("GET", "/api") >= 2 && server.count("GET", "/apis") >= 1);
}

#[test]
fn get_deployment_as_json_and_secret_as_yaml() {
    let Some((_server, kubectl)) = setup() else {
        return;
    };
    let deployment: Value =
        serde_json::from_str(&kubectl.ok(&["get", "deployment", "web", "-o", "json"])).unwrap();
    assert_eq!(deployment["apiVersion"], "apps/v1");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.25"
    );

    let yaml = kubectl.ok(&["get", "secret", "db-credentials", "-o", "yaml"]);
    assert!(
        yaml.contains(&format!("password: {}", STANDARD.encode(DB_PASSWORD))),
        "{yaml}"
    );
    assert!(yaml.contains("type: Opaque"), "{yaml}");
}

#[test]
fn describe_deployment_reads_its_events_and_replica_sets() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let out = kubectl.ok(&["describe", "deployment", "web"]);
    for expected in [
        "Name:",
        "web",
        "Replicas:",
        "1 desired",
        "Image:",
        "nginx:1.25",
        "Events:",
    ] {
        assert!(out.contains(expected), "{expected} missing from:\n{out}");
    }
    let events = server
        .requests()
        .into_iter()
        .find(|r| r.is("GET", "/api/v1/namespaces/default/events"))
        .expect("describe lists events");
    assert!(
        events
            .query_param("fieldSelector")
            .unwrap()
            .contains("involvedObject.name=web")
    );
    assert_eq!(
        server.count("GET", "/apis/apps/v1/namespaces/default/replicasets"),
        1
    );
}

#[test]
fn patch_scale_and_set_image_change_the_deployment() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let out = kubectl.ok(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"replicas":3}}"#,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let table = kubectl.ok(&["get", "deployment", "web"]);
    assert_eq!(
        words(table.lines().nth(1).unwrap())[..4],
        ["web", "3/3", "3", "3"],
        "{table}"
    );
    let patch = server
        .requests()
        .into_iter()
        .find(|r| r.is("PATCH", "/apis/apps/v1/namespaces/default/deployments/web"))
        .unwrap();
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(patch.json(), Some(json!({"spec": {"replicas": 3}})));

    assert_eq!(
        kubectl
            .ok(&["scale", "deployment", "web", "--replicas=2"])
            .trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(
        server.object("deployments", "default", "web").unwrap()["spec"]["replicas"],
        2
    );
    assert_eq!(
        server.count(
            "PATCH",
            "/apis/apps/v1/namespaces/default/deployments/web/scale"
        ),
        1
    );

    kubectl.ok(&["set", "image", "deployment/web", "web=nginx:1.27"]);
    let web = server.object("deployments", "default", "web").unwrap();
    let containers = web["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(
        containers[0]["ports"][0]["containerPort"], 80,
        "merged by name, not replaced"
    );

    kubectl.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#,
    ]);
    kubectl.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"tier":"front"}}}"#,
    ]);
    let web = server.object("deployments", "default", "web").unwrap();
    assert_eq!(
        (
            web["spec"]["replicas"].clone(),
            web["metadata"]["labels"]["tier"].clone()
        ),
        (json!(4), json!("front"))
    );
}

#[test]
fn apply_creates_then_patches_a_configmap() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let manifest = kubectl.path("settings.yaml");
    let write = |value: &str| {
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  level: {value}\n"
        );
        std::fs::write(&manifest, text).unwrap();
    };
    let file = manifest.to_str().unwrap();
    write("info");
    assert_eq!(
        kubectl.ok(&["apply", "-f", file]).trim(),
        "configmap/applied created"
    );
    write("debug");
    assert_eq!(
        kubectl.ok(&["apply", "-f", file]).trim(),
        "configmap/applied configured"
    );
    assert_eq!(
        kubectl.ok(&["apply", "-f", file]).trim(),
        "configmap/applied unchanged"
    );

    assert_eq!(
        server.object("configmaps", "default", "applied").unwrap()["data"]["level"],
        "debug"
    );
    let requests = server.requests();
    let create = requests
        .iter()
        .find(|r| r.is("POST", "/api/v1/namespaces/default/configmaps"))
        .unwrap();
    assert_eq!(
        create.query_param("fieldValidation").as_deref(),
        Some("Strict")
    );
    let patches: Vec<_> = requests
        .iter()
        .filter(|r| r.is("PATCH", "/api/v1/namespaces/default/configmaps/applied"))
        .collect();
    assert_eq!(patches.len(), 1, "the unchanged apply sends no patch");
    assert_eq!(
        patches[0].json().unwrap()["data"],
        json!({"level": "debug"})
    );
    assert!(server.count("GET", "/openapi/v3") >= 1);
}

#[test]
fn delete_removes_the_deployment_and_a_dry_run_does_not() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    kubectl.ok(&["delete", "deployment", "web", "--dry-run=server"]);
    assert!(server.object("deployments", "default", "web").is_some());

    let out = kubectl.ok(&["delete", "deployment", "web"]);
    assert_eq!(out.trim(), r#"deployment.apps "web" deleted"#);
    assert!(server.object("deployments", "default", "web").is_none());
    assert_eq!(
        server.count("DELETE", "/apis/apps/v1/namespaces/default/deployments/web"),
        2
    );

    let missing = kubectl.fails(&["get", "deployment", "web"]);
    assert!(
        missing.contains(r#"deployments.apps "web" not found"#),
        "{missing}"
    );
}

#[test]
fn create_of_an_existing_name_is_refused() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let manifest = kubectl.path("settings.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    )
    .unwrap();
    let error = kubectl.fails(&["create", "-f", manifest.to_str().unwrap()]);
    assert!(
        error.contains("AlreadyExists")
            && error.contains(r#"configmaps "settings" already exists"#),
        "{error}"
    );
    let post = server
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        (post.status, post.content_type.as_deref()),
        (409, Some("application/json"))
    );

    // kubectl's generators (`create configmap NAME`) send protobuf, which this server refuses.
    server.clear_requests();
    let error = kubectl.fails(&["create", "configmap", "other", "--from-literal=a=b"]);
    assert!(error.contains("unknown format"), "{error}");
    let post = server
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert_eq!(
        (post.status, post.content_type.as_deref()),
        (415, Some("application/vnd.kubernetes.protobuf"))
    );
}

#[test]
fn logs_and_followed_logs() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let out = kubectl.ok(&["logs", "web-0"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.starts_with("web-0/web: starting"), "{out}");

    let (_running, lines) = kubectl.stream(&["logs", "-f", "web-1"]);
    wait_for_line(&lines, Duration::from_secs(30), |l| l.contains("tick 2"));
    let follow = server
        .requests()
        .into_iter()
        .find(|r| r.query_param("follow").is_some())
        .unwrap();
    assert_eq!(follow.path, "/api/v1/namespaces/default/pods/web-1/log");
}

#[test]
fn get_pods_watch_sees_a_pod_the_test_creates() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let (_running, lines) = kubectl.stream(&["get", "pods", "-w"]);
    wait_for_line(&lines, Duration::from_secs(30), |l| l.starts_with("web-1"));
    wait_until(Duration::from_secs(30), "the watch request", || {
        server
            .requests()
            .iter()
            .any(|r| r.query_param("watch").as_deref() == Some("true"))
    });
    server
        .put_object(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "late", "labels": {"app": "late"}},
            "spec": {"containers": [{"name": "late", "image": "busybox"}]}}))
        .unwrap();
    let line = wait_for_line(&lines, Duration::from_secs(30), |l| l.starts_with("late"));
    assert_eq!(words(&line)[..3], ["late", "0/1", "Pending"]);
    assert_eq!(server.objects("pods", Some("default")).len(), 3);
    // kubectl prints a row for a deletion too.
    server.delete_object("pods", "default", "late").unwrap();
    wait_for_line(&lines, Duration::from_secs(30), |l| l.starts_with("late"));
    assert_eq!(server.objects("pods", None).len(), 2);
    let watch = server
        .requests()
        .into_iter()
        .find(|r| r.query_param("watch").is_some())
        .unwrap();
    assert!(watch.accept.as_deref().unwrap().contains("as=Table"));
    assert!(
        watch.query_param("resourceVersion").is_some(),
        "kubectl watches from its list's version"
    );
}

#[test]
fn a_wrong_token_is_refused_and_impersonation_is_recorded() {
    let Some((server, kubectl)) = setup() else {
        return;
    };
    let error = kubectl.fails(&["get", "pods", "--token=not-the-token"]);
    assert!(
        error.contains("You must be logged in to the server"),
        "{error}"
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.authenticated && r.status == 401)
    );

    server.clear_requests();
    kubectl.ok(&[
        "get",
        "pods",
        "--as=alice",
        "--as-group=devs",
        "--as-group=ops",
    ]);
    let list = server
        .requests()
        .into_iter()
        .find(|r| r.is("GET", "/api/v1/namespaces/default/pods"))
        .unwrap();
    assert_eq!(list.impersonate_user.as_deref(), Some("alice"));
    assert_eq!(list.impersonate_groups, ["devs", "ops"]);
}

/// `get pods` and `apply` (which reads OpenAPI v2 in 1.27 and 1.28, v3 in all) with every
/// versioned kubectl there is.
#[test]
fn every_versioned_kubectl_gets_pods_and_applies() {
    let Some(default) = default_kubectl() else {
        return;
    };
    let versions = versioned_kubectls(&default);
    if versions.is_empty() {
        eprintln!(
            "SKIPPED: no versioned kubectl (kubectl.1.NN) beside {}",
            default.display()
        );
        return;
    }
    for (version, binary) in versions {
        let server = TestApiServer::start(Options::new(TOKEN)).unwrap();
        let kubectl = Kubectl::new(binary, &server);
        let out = kubectl.ok(&["get", "pods"]);
        assert!(
            out.lines()
                .any(|l| words(l)[..3] == ["web-0", "1/1", "Running"]),
            "kubectl {version}:\n{out}"
        );
        let agent = server
            .requests()
            .into_iter()
            .find(|r| r.is("GET", "/api/v1/namespaces/default/pods"))
            .and_then(|r| r.user_agent)
            .unwrap();
        assert!(
            agent.contains(&format!("/v{version}.")),
            "kubectl {version} sent {agent}"
        );

        let manifest = kubectl.path("applied.yaml");
        std::fs::write(
            &manifest,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: b\n",
        )
        .unwrap();
        let out = kubectl.ok(&["apply", "-f", manifest.to_str().unwrap()]);
        assert_eq!(out.trim(), "configmap/applied created", "kubectl {version}");
    }
}
