//! A Kubernetes connection served by an agent: the gateway's config names agent `dc1` and
//! holds nothing of the cluster; `gatehouse agent` holds the API server's address, CA and
//! token and dials out to the gateway. Real kubectl (and the Python client) go through the
//! gateway, which decides, audits and records, and through the agent's tunnel to the test API
//! server, which sees the agent's token and nothing else. A stopped agent is a Kubernetes
//! `Status` 503 naming the connection, with nothing sent on or retried; an agent that has no
//! such Kubernetes connection is refused clearly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod kube;
mod support;

use kube::agent::{gateway_config, kubernetes_connection};
use kube::{CLUSTER_TOKEN, Cluster, kubernetes_policy, shown};
use support::agent_process::AgentProcess;

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A cluster behind a gateway whose `cluster` connection agent `dc1` serves, and the agent.
fn served_by_agent(policy: &str, connection_extra: &str) -> (Cluster, AgentProcess) {
    let cluster = Cluster::start_config(policy, |_, _| gateway_config(connection_extra));
    let agent = AgentProcess::start(
        &cluster.gateway,
        "dc1",
        &kubernetes_connection("cluster", &cluster.files()),
    );
    (cluster, agent)
}

/// Every request the cluster saw carried the agent's token, and there was at least one.
fn only_the_agents_token_reached(cluster: &Cluster) {
    let seen = cluster.server.requests();
    assert!(!seen.is_empty());
    let agent_token = format!("Bearer {CLUSTER_TOKEN}");
    for request in &seen {
        assert_eq!(
            request.authorization.as_deref(),
            Some(agent_token.as_str()),
            "{} {} reached the cluster with another credential",
            request.method,
            request.path
        );
    }
}

#[test]
fn kubectl_reads_patches_and_is_refused_a_delete_through_an_agent_that_alone_holds_the_token() {
    let (cluster, _agent) = served_by_agent(
        &kubernetes_policy(),
        "[connections.impersonate]\ngroups = { automation = \"bots\" }\n",
    );
    let config = std::fs::read_to_string(cluster.gateway.config_path()).unwrap();
    assert!(
        !config.contains(&cluster.server.url()) && !config.contains("cluster.token"),
        "the gateway's config names neither the API server nor its token:\n{config}"
    );
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
    let web = cluster
        .server
        .object("deployments", "default", "web")
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 3);

    let deleted = cluster.kubectl(&bot, &["delete", "deployment", "web"]);
    assert!(!deleted.status.success(), "{}", shown(&deleted));
    assert!(
        stderr(&deleted).contains("Error from server (Forbidden): gatehouse:")
            && stderr(&deleted).contains("automation-never-deletes"),
        "{}",
        shown(&deleted)
    );
    assert_eq!(cluster.server.count("DELETE", "/"), 0);
    assert!(
        cluster
            .server
            .object("deployments", "default", "web")
            .is_some()
    );

    only_the_agents_token_reached(&cluster);
    let patch = cluster
        .server
        .requests()
        .into_iter()
        .find(|r| r.is("PATCH", "/apis/apps/v1/namespaces/default/deployments/web"))
        .unwrap();
    assert_eq!(
        patch.impersonate_user.as_deref(),
        Some("deploy-bot"),
        "the gateway's impersonation passes through the agent as it is"
    );
    assert_eq!(patch.impersonate_groups, ["bots"]);
    assert_eq!(cluster.audited("k8s:patch")[0]["decision"], "allow");
    assert_eq!(cluster.audited("k8s:delete")[0]["decision"], "deny");
    assert!(
        !cluster.gateway.log().contains(CLUSTER_TOKEN),
        "the cluster's token never reaches the gateway"
    );
}

#[test]
fn the_python_client_works_through_an_agent() {
    let (cluster, _agent) = served_by_agent(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let Some(answer) = kube::python_client(&cluster, &bot) else {
        return;
    };
    assert_eq!(answer["pods"], serde_json::json!(["web-0", "web-1"]));
    assert_eq!(answer["replicas"], 4);
    assert_eq!(answer["delete"]["status"], 403);
    assert_eq!(cluster.server.count("DELETE", "/"), 0);
    only_the_agents_token_reached(&cluster);
}

/// Admins may exec `sh`; nobody else may exec at all.
const EXEC_POLICY: &str = r#"
@id("admins-work")
permit (principal in Gatehouse::Group::"admins", action in [
  Gatehouse::Action::"connect", Gatehouse::Action::"k8s:read"
], resource);

@id("admins-exec-sh")
permit (principal in Gatehouse::Group::"admins", action == Gatehouse::Action::"k8s:exec", resource)
when { context.program == "sh" };
"#;

#[test]
fn exec_is_relayed_through_the_agent_and_recorded_at_the_gateway() {
    let (cluster, _agent) = served_by_agent(EXEC_POLICY, "");
    let admin = cluster.gateway.key("ana", &["admins"]);

    kube::exec_over_websocket_and_spdy(&cluster, &admin);

    let refused = cluster.kubectl(&admin, &["exec", "web-0", "--", "id"]);
    assert!(!refused.status.success(), "{}", shown(&refused));
    assert!(stderr(&refused).contains("k8s:exec"), "{}", shown(&refused));

    let sessions = cluster.server.sessions();
    assert_eq!(
        sessions.len(),
        2,
        "only the permitted execs ran: {sessions:#?}"
    );
    only_the_agents_token_reached(&cluster);

    let listed = cluster
        .gateway
        .cli(&["sessions", "list", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let timelines: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["connection"] == "cluster")
        .map(|s| {
            let id = s["session"].as_str().unwrap();
            stdout(&cluster.gateway.cli(&["sessions", "replay", id]))
        })
        .collect();
    assert!(
        timelines
            .iter()
            .any(|t| t.contains("k8s:exec") && t.contains("out") && t.contains("err")),
        "the exec's streams are recorded at the gateway: {timelines:#?}"
    );
}

#[test]
fn a_stopped_agent_is_a_503_naming_the_connection_and_nothing_is_sent_or_retried() {
    let (cluster, mut agent) = served_by_agent(&kubernetes_policy(), "");
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);
    let admin = cluster.gateway.key("ana", &["admins"]);
    for token in [&bot, &admin] {
        // kubectl caches discovery, so later commands go straight to their request.
        let pods = cluster.kubectl(token, &["get", "pods"]);
        assert!(pods.status.success(), "{}", shown(&pods));
    }

    agent.stop();
    agent.wait_disconnected(&cluster.gateway);
    cluster.server.clear_requests();

    let pods = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(!pods.status.success(), "{}", shown(&pods));
    assert!(
        stderr(&pods).contains("Error from server (ServiceUnavailable): gatehouse: connection `cluster` is served by agent `dc1`, which is not connected"),
        "kubectl prints why: {}",
        shown(&pods)
    );
    // A write (kubectl sends a create without reading first) is refused the same way, once.
    let created = cluster.kubectl(
        &admin,
        &[
            "create",
            "configmap",
            "while-down",
            "--from-literal=mode=on",
        ],
    );
    assert!(!created.status.success(), "{}", shown(&created));
    assert!(
        stderr(&created).contains(
            "gatehouse: connection `cluster` is served by agent `dc1`, which is not connected"
        ),
        "{}",
        shown(&created)
    );
    let creates = cluster.audited("k8s:create");
    assert_eq!(creates.len(), 1, "the create was tried once: {creates:#?}");
    let outcome = cluster
        .gateway
        .audit_events()
        .into_iter()
        .find(|e| e["kind"] == "outcome" && e["refers_to"] == creates[0]["seq"])
        .unwrap();
    assert_eq!(
        outcome["outcome"]["error"], "gatehouse: 503 Service Unavailable",
        "{outcome:#}"
    );

    // Back: the same gateway serves through the restarted agent, and the refused create was
    // never sent late.
    agent.run(None);
    agent.wait_connected(&cluster.gateway);
    let pods = cluster.kubectl(&bot, &["get", "pods"]);
    assert!(pods.status.success(), "{}", shown(&pods));
    assert_eq!(cluster.server.count("POST", "/"), 0);
    assert!(
        cluster
            .server
            .object("configmaps", "default", "while-down")
            .is_none()
    );
}

#[test]
fn an_agent_without_that_kubernetes_connection_is_refused_clearly_and_nothing_is_sent() {
    // The agent serves `cluster` as a PostgreSQL connection and `other` as a Kubernetes one:
    // it announces both kinds, so the gateway asks it for a Kubernetes session of `cluster`,
    // which it does not have.
    let cluster = Cluster::start_config(&kubernetes_policy(), |_, _| {
        format!(
            "{}\n[[connections]]\nname = \"other\"\nkind = \"kubernetes\"\nagents = [\"dc1\"]\n",
            gateway_config("")
        )
    });
    let connections = format!(
        "[[connections]]\nname = \"cluster\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 9\n\
         database = \"postgres\"\nuser = \"postgres\"\n\n{}",
        kubernetes_connection("other", &cluster.files())
    );
    let _agent = AgentProcess::start(&cluster.gateway, "dc1", &connections);
    let bot = cluster.gateway.key("deploy-bot", &["automation"]);

    let other = cluster.write_kubeconfig("other");
    let pods = cluster.kubectl_with(&other, &bot, &["get", "pods"]);
    assert!(pods.status.success(), "{}", shown(&pods));
    cluster.server.clear_requests();

    // Nothing answers discovery for `cluster`, so ask for the pods without it (a raw path
    // replaces the server URL's path, so it names the connection itself).
    let pods = cluster.kubectl(
        &bot,
        &["get", "--raw", "/c/cluster/api/v1/namespaces/default/pods"],
    );
    assert!(!pods.status.success(), "{}", shown(&pods));
    assert!(
        stderr(&pods).contains("(ServiceUnavailable)")
            && stderr(&pods).contains(
                "agent `dc1` could not open connection `cluster`: this agent serves no Kubernetes connection `cluster`"
            ),
        "{}",
        shown(&pods)
    );
    assert!(cluster.server.requests().is_empty());
}
