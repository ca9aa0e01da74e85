//! The network-resident agent, end to end with real processes and real clients: a gateway
//! whose connection `prod` names agents and holds nothing of the target, a throwaway
//! PostgreSQL cluster that demands SCRAM with a password only the agent's config has, and
//! `gatehouse agent` processes that enrol with a one-time token and dial out to the gateway.
//! psql through the gateway works, and afterwards the password is nowhere on the gateway's
//! side (data directory, store, audit log, logs, config); a stopped agent fails sessions at
//! once with an error naming it, and a restarted one serves again without a gateway restart;
//! with two agents, losing one keeps sessions flowing through the other; bad credentials,
//! spent or expired enrolment tokens, revoked agents and connections the gateway does not
//! route to an agent are refused, the agent says why and stops, and the gateway audits it.
//! Server login levels: the gateway names the level, the agent logs in with its own
//! credentials for it, and a level the agent has no login for is refused, named.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use support::cluster::Cluster;
use support::{Gateway, Options};

/// A gateway whose `prod` connection is served by `agents`, and nothing else about it.
fn gateway_for(agents: &[&str]) -> Gateway {
    gateway_with(agents, "")
}

/// [`gateway_for`] with more top-level config.
fn gateway_with(agents: &[&str], more: &str) -> Gateway {
    let names = agents
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    Gateway::start_with(
        "test",
        Options {
            extra: format!(
                "[agents]\nlisten = \"127.0.0.1:0\"\n\n[[connections]]\nname = \"prod\"\nkind = \"postgres\"\nagents = [{names}]\n\n{more}"
            ),
            ..Options::default()
        },
    )
}

fn agent_listener(gateway: &Gateway) -> String {
    let text = std::fs::read_to_string(gateway.data_dir().join("listeners.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["agents"].as_str().unwrap().to_owned()
}

fn enrolment_token(gateway: &Gateway, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["agents", "create", name, "--output", "json"];
    args.extend(extra);
    let output = gateway.cli(&args);
    assert!(
        output.status.success(),
        "agents create failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    value["enrolment_token"].as_str().unwrap().to_owned()
}

/// An agent's directory: its config, the target password file, its state.
struct AgentDir {
    dir: tempfile::TempDir,
    name: String,
}

impl AgentDir {
    fn new(gateway: &Gateway, name: &str, cluster: &Cluster, connections: &[&str]) -> AgentDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("prod.password"),
            &cluster.superuser_password,
        )
        .unwrap();
        let mut config = format!(
            "name = \"{name}\"\ngateway = \"{}\"\nca_file = \"{}\"\nstate_dir = \"state\"\nenrolment_token_env = \"GATEHOUSE_ENROLMENT_TOKEN\"\n",
            agent_listener(gateway),
            gateway.ca_file().display()
        );
        for connection in connections {
            config.push_str(&format!(
                "\n[[connections]]\nname = \"{connection}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase = \"postgres\"\nuser = \"postgres\"\npassword_file = \"prod.password\"\n",
                cluster.port
            ));
        }
        std::fs::write(dir.path().join("agent.toml"), config).unwrap();
        AgentDir {
            dir,
            name: name.to_owned(),
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    /// Authenticate with the workload token in this agent's `workload.jwt` instead.
    fn use_workload_token(&self, token: &str) {
        std::fs::write(self.dir.path().join("workload.jwt"), token).unwrap();
        let config = self.dir.path().join("agent.toml");
        let text = std::fs::read_to_string(&config).unwrap().replacen(
            "enrolment_token_env = \"GATEHOUSE_ENROLMENT_TOKEN\"\n",
            "workload_token_file = \"workload.jwt\"\n",
            1,
        );
        std::fs::write(config, text).unwrap();
    }

    fn start(&self, enrolment_token: Option<&str>) -> Agent {
        let mut command = support::agent_process::agent_command(
            &self.dir.path().join("agent.toml"),
            &self.log(),
            enrolment_token,
        );
        Agent {
            child: Some(command.spawn().unwrap()),
        }
    }

    /// Start the agent and see it refused by the gateway: it exits non-zero, saying `says`.
    fn expect_refused(&self, token: Option<&str>, says: &str) {
        let mut agent = self.start(token);
        let status = agent.exited_within(Duration::from_secs(15));
        assert!(!status.success());
        let log = self.log_text();
        assert!(
            log.contains("the gateway refused this agent") && log.contains(says),
            "expected a refusal saying `{says}`, the agent said:\n{log}"
        );
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

struct Agent {
    child: Option<Child>,
}

impl Agent {
    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then wait (bounded) for the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        support::terminate(&mut child, Duration::from_secs(15), "the agent")
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Wait (bounded) for the agent to exit by itself; its exit status.
    fn exited_within(&mut self, within: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        support::wait_exit(&mut child, within, "the agent")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

fn agents_list(gateway: &Gateway) -> Vec<serde_json::Value> {
    let output = gateway.cli(&["agents", "list", "--output", "json"]);
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Whether the gateway's log shows a live tunnel of `agent`: the store notes an agent
/// connected when it admits it, a moment before the hub can route sessions through it, and
/// the hub logs "agent connected" once it can.
fn routable(gateway: &Gateway, agent: &str) -> bool {
    let log = gateway.log();
    let field = format!("agent={agent}");
    let count = |message: &str| {
        log.lines()
            .filter(|line| line.contains(message) && line.contains(&field))
            .count()
    };
    count("agent connected") > count("agent disconnected")
}

/// Wait (bounded) until the gateway lists agent `name` as connected and can route to it.
fn wait_connected(gateway: &Gateway, agent: &AgentDir) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if agents_list(gateway)
            .iter()
            .any(|a| a["name"] == agent.name.as_str() && a["connected"] == true)
            && routable(gateway, &agent.name)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "agent `{}` did not connect; its log:\n{}\ngateway log:\n{}",
            agent.name,
            agent.log_text(),
            gateway.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `prod` served by agent `dc1` alone, enrolled and connected; `ana` is a reader.
struct OneAgent {
    gateway: Gateway,
    ana: String,
    token: String,
    dir: AgentDir,
    agent: Agent,
}

fn one_agent(cluster: &Cluster) -> OneAgent {
    let gateway = gateway_for(&["dc1"]);
    let ana = gateway.key("ana", &["readers"]);
    let token = enrolment_token(&gateway, "dc1", &[]);
    let dir = AgentDir::new(&gateway, "dc1", cluster, &["prod"]);
    let agent = dir.start(Some(&token));
    wait_connected(&gateway, &dir);
    OneAgent {
        gateway,
        ana,
        token,
        dir,
        agent,
    }
}

fn psql_prod(gateway: &Gateway, token: &str, sql: &str) -> (bool, String, String) {
    let output = Command::new("psql")
        .arg(gateway.psql_conninfo("ana", "prod"))
        .args(["-X", "-A", "-t", "-c", sql])
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

fn vm_rss_kib(pid: u32) -> u64 {
    support::proc_status_kib(pid, "VmRSS:")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_the_targets_password_serves_it_through_an_agent() {
    let cluster = Cluster::start(false).await;
    let OneAgent {
        gateway,
        ana,
        token,
        dir,
        mut agent,
    } = one_agent(&cluster);

    let (ok, stdout, stderr) = psql_prod(&gateway, &ana, "SELECT current_user, inet_server_port()");
    assert!(
        ok,
        "psql through the agent failed: {stderr}\nagent log:\n{}",
        dir.log_text()
    );
    assert_eq!(stdout.trim(), format!("postgres|{}", cluster.port));
    // Policy is still the gateway's: a reader cannot write.
    let (_, _, stderr) = psql_prod(&gateway, &ana, "CREATE TABLE nope (id int)");
    assert!(stderr.contains("permission denied"), "{stderr}");

    let listed = agents_list(&gateway);
    let dc1 = listed.iter().find(|a| a["name"] == "dc1").unwrap();
    assert_eq!(dc1["state"], "enrolled");
    assert_eq!(dc1["connections"], serde_json::json!(["prod"]));
    assert_eq!(dc1["version"], env!("CARGO_PKG_VERSION"));
    let credential = dir.dir.path().join("state").join("agent.credential");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credential).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the agent's credential is private");
    }
    assert!(
        std::fs::read_to_string(&credential)
            .unwrap()
            .starts_with("gha_")
    );

    // The target password is nowhere on the gateway's side; nor are the agent's secrets.
    let password = cluster.superuser_password.as_bytes();
    let agent_credential = std::fs::read(&credential).unwrap();
    let events = gateway.audit_events();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "agent" && e["action"] == "agent:enrol")
    );
    let exported = serde_json::to_vec(&events).unwrap();
    let mut haystacks = vec![
        ("audit log".to_owned(), exported),
        ("gateway log".to_owned(), gateway.log().into_bytes()),
        (
            "gateway config".to_owned(),
            std::fs::read(gateway.config_path()).unwrap(),
        ),
    ];
    for file in files_under(&gateway.data_dir()) {
        haystacks.push((file.display().to_string(), std::fs::read(&file).unwrap()));
    }
    for (what, bytes) in &haystacks {
        assert!(
            !contains(bytes, password),
            "the target password is in {what}"
        );
        assert!(
            !contains(bytes, agent_credential.trim_ascii()),
            "the agent's credential is in {what}"
        );
        assert!(
            !contains(bytes, token.as_bytes()),
            "the enrolment token is in {what}"
        );
    }

    // SIGTERM stops the agent in order (GOAWAY to the gateway, exit 0), and the gateway
    // notices at once.
    assert!(agent.terminate().success(), "{}", dir.log_text());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gateway.log().contains("agent disconnected") {
        assert!(
            Instant::now() < deadline,
            "the gateway did not notice: {}",
            gateway.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agent_fails_sessions_at_once_and_a_restarted_one_serves_again() {
    let cluster = Cluster::start(false).await;
    let OneAgent {
        gateway,
        ana,
        dir,
        mut agent,
        ..
    } = one_agent(&cluster);

    // A session open through the agent when it dies ends with an error, not a hang.
    let (client, connection) = gateway
        .client_config("ana", &ana, "prod")
        .connect(gateway.tls())
        .await
        .unwrap();
    let ended = tokio::spawn(connection);
    client.simple_query("SELECT 1").await.unwrap();

    agent.kill();
    let outcome = tokio::time::timeout(Duration::from_secs(5), ended)
        .await
        .expect("the session through the dead agent ended within 5 s")
        .unwrap();
    let error = outcome.expect_err("the session ended with an error");
    assert!(
        support::message(&error).contains("agent `dc1`"),
        "the error names the agent that went away: {error:?}"
    );
    assert!(client.simple_query("SELECT 1").await.is_err());

    let started = Instant::now();
    let (ok, _, stderr) = psql_prod(&gateway, &ana, "SELECT 1");
    assert!(!ok);
    assert!(
        stderr.contains("connection `prod` is served by agent `dc1`, which is not connected"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the refusal took {:?}",
        started.elapsed()
    );

    // Restarted (now with its stored credential, no token): works without a gateway restart.
    let credential_file = dir.dir.path().join("state/agent.credential");
    let enrolled_with = std::fs::read_to_string(&credential_file).unwrap();
    let mut agent = dir.start(None);
    wait_connected(&gateway, &dir);
    let (ok, stdout, stderr) = psql_prod(&gateway, &ana, "SELECT 'back'");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "back");

    // Each connection rotated the credential: a copy taken before is dead once the agent has
    // connected again.
    let rotated = std::fs::read_to_string(&credential_file).unwrap();
    assert_ne!(
        rotated, enrolled_with,
        "the credential rotates on connecting"
    );
    agent.kill();
    let _agent = dir.start(None);
    wait_connected(&gateway, &dir);
    let thief = AgentDir::new(&gateway, "dc1", &cluster, &["prod"]);
    std::fs::create_dir_all(thief.dir.path().join("state")).unwrap();
    std::fs::write(
        thief.dir.path().join("state/agent.credential"),
        &enrolled_with,
    )
    .unwrap();
    thief.expect_refused(None, "the credential agent `dc1` presented is not valid");
    let (ok, _, stderr) = psql_prod(&gateway, &ana, "SELECT 1");
    assert!(ok, "the real agent still serves: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_an_agent_cancel_reaches_the_target_and_a_client_that_stops_reading_holds_back_the_target()
 {
    let cluster = Cluster::start(false).await;
    let OneAgent {
        gateway,
        ana,
        agent,
        ..
    } = one_agent(&cluster);

    // Cancel: relayed gateway → agent → target.
    let (client, connection) = gateway
        .client_config("ana", &ana, "prod")
        .connect(gateway.tls())
        .await
        .unwrap();
    tokio::spawn(connection);
    let cancel = client.cancel_token();
    let sleeping = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    cancel.cancel_query(gateway.tls()).await.unwrap();
    let error = sleeping.await.unwrap().unwrap_err();
    assert_eq!(
        support::sqlstate(&error).as_deref(),
        Some("57014"),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // A client that reads a little of a ~200 MB result and stops: back-pressure reaches the
    // target through the tunnel, and neither the agent nor the gateway buffers the rest.
    let application = "agent-stalled-reader";
    let mut config = gateway.client_config("ana", &ana, "prod");
    config.application_name(application);
    let (client, connection) = config.connect(gateway.tls()).await.unwrap();
    tokio::spawn(connection);
    client.simple_query("SELECT 1").await.unwrap();
    let (agent_before, gateway_before) = (vm_rss_kib(agent.pid()), vm_rss_kib(gateway.pid));
    let rows = client
        .query_raw(
            "SELECT repeat('x', 1000) FROM generate_series(1, 200000)",
            std::iter::empty::<i32>(),
        )
        .await
        .unwrap();
    let mut rows = Box::pin(rows);
    for _ in 0..100 {
        futures_util::StreamExt::next(&mut rows)
            .await
            .unwrap()
            .unwrap();
    }
    let (mut agent_peak, mut gateway_peak) = (agent_before, gateway_before);
    let sampling = Instant::now();
    while sampling.elapsed() < Duration::from_secs(4) {
        agent_peak = agent_peak.max(vm_rss_kib(agent.pid()));
        gateway_peak = gateway_peak.max(vm_rss_kib(gateway.pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waiting = support::backend_states(&cluster.admin().await, application).await;
    println!(
        "stalled reader: agent VmRSS {agent_before} -> {agent_peak} KiB, gateway VmRSS {gateway_before} -> {gateway_peak} KiB"
    );
    assert_eq!(
        waiting,
        [("active".to_owned(), Some("ClientWrite".to_owned()))],
        "the target's backend should be blocked sending to the agent"
    );
    assert!(
        agent_peak - agent_before < 64 * 1024,
        "the agent buffered the result"
    );
    assert!(
        gateway_peak - gateway_before < 64 * 1024,
        "the gateway buffered the result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_agents_for_a_connection_losing_one_keeps_sessions_flowing() {
    let cluster = Cluster::start(false).await;
    let gateway = gateway_for(&["dc1", "dc2"]);
    let ana = gateway.key("ana", &["readers"]);
    let first = AgentDir::new(&gateway, "dc1", &cluster, &["prod"]);
    let second = AgentDir::new(&gateway, "dc2", &cluster, &["prod"]);
    let mut dc1 = first.start(Some(&enrolment_token(&gateway, "dc1", &[])));
    let _dc2 = second.start(Some(&enrolment_token(&gateway, "dc2", &[])));
    wait_connected(&gateway, &first);
    wait_connected(&gateway, &second);

    for _ in 0..4 {
        let (ok, _, stderr) = psql_prod(&gateway, &ana, "SELECT 1");
        assert!(ok, "{stderr}");
    }
    // Sessions were spread over both agents.
    for dir in [&first, &second] {
        assert!(
            dir.log_text().contains("session opened for the gateway"),
            "agent `{}` served no session:\n{}",
            dir.name,
            dir.log_text()
        );
    }
    dc1.kill();
    for _ in 0..4 {
        let (ok, _, stderr) = psql_prod(&gateway, &ana, "SELECT 1");
        assert!(ok, "a session failed after one agent was lost: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_with_bad_credentials_or_unrouted_connections_are_refused_told_why_and_audited() {
    let cluster = Cluster::start(false).await;
    // `dc3` is routed but never created.
    let gateway = gateway_for(&["dc1", "dc2", "dc3"]);

    // An agent the gateway routes to but that was never created.
    let ghost = AgentDir::new(&gateway, "dc3", &cluster, &["prod"]);
    ghost.expect_refused(Some("ghe_made_up"), "there is no agent named `dc3`");
    // An agent the gateway does not route to at all.
    let stranger = AgentDir::new(&gateway, "stranger", &cluster, &["prod"]);
    stranger.expect_refused(Some("ghe_made_up"), "does not route to it");

    // Garbage credential.
    let token = enrolment_token(&gateway, "dc1", &[]);
    let forged = AgentDir::new(&gateway, "dc1", &cluster, &["prod"]);
    std::fs::create_dir_all(forged.dir.path().join("state")).unwrap();
    std::fs::write(
        forged.dir.path().join("state/agent.credential"),
        "gha_garbage",
    )
    .unwrap();
    forged.expect_refused(None, "the credential agent `dc1` presented is not valid");

    // A connection the gateway does not route to this agent.
    let greedy = AgentDir::new(&gateway, "dc1", &cluster, &["prod", "payroll"]);
    greedy.expect_refused(Some(&token), "announces connection `payroll`");

    // The real enrolment, then the spent token presented again by another instance.
    let real = AgentDir::new(&gateway, "dc1", &cluster, &["prod"]);
    let mut enrolled = real.start(Some(&token));
    wait_connected(&gateway, &real);
    let replay = AgentDir::new(&gateway, "dc1", &cluster, &["prod"]);
    replay.expect_refused(Some(&token), "enrolment token is spent");

    // An expired enrolment token.
    let short = enrolment_token(&gateway, "dc2", &["--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let late = AgentDir::new(&gateway, "dc2", &cluster, &["prod"]);
    late.expect_refused(Some(&short), "expired");

    // Revoking an agent closes its tunnel within seconds; it is refused when it dials again.
    let revoked = gateway.cli(&["agents", "revoke", "dc1"]);
    assert!(revoked.status.success());
    let status = enrolled.exited_within(Duration::from_secs(15));
    assert!(!status.success());
    assert!(
        real.log_text().contains("agent `dc1` was revoked"),
        "{}",
        real.log_text()
    );

    let events = gateway.audit_events();
    let refusals: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "agent" && e["action"] == "agent:refuse")
        .map(|e| e["detail"].as_str().unwrap_or_default())
        .collect();
    for says in [
        "no agent named `dc3`",
        "agent `stranger` announces connection `prod`",
        "credential agent `dc1` presented is not valid",
        "announces connection `payroll`",
        "spent",
        "expired",
        "revoked",
    ] {
        assert!(
            refusals.iter().any(|d| d.contains(says)),
            "no audited refusal saying `{says}` in {refusals:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_bound_to_a_workload_identity_connects_with_its_platform_token_alone() {
    let Some(idp) = support::oidc::RealIdp::start() else {
        return;
    };
    let cluster = Cluster::start(false).await;
    let gateway = gateway_with(
        &["dc1", "dc2"],
        &format!(
            "[[identity_providers]]\nname = \"corp-idp\"\nissuer = \"{}\"\naudiences = [\"urn:gatehouse\"]\n",
            idp.issuer
        ),
    );
    let ana = gateway.key("ana", &["readers"]);
    let bind = |name: &str, subject: &str| {
        let output = gateway.cli(&[
            "agents",
            "create",
            name,
            "--workload-provider",
            "corp-idp",
            "--workload-subject",
            subject,
            "--output",
            "json",
        ]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            created["enrolment_token"].is_null(),
            "no enrolment token for a bound agent"
        );
        assert_eq!(created["workload"], format!("corp-idp:{subject}"));
    };
    bind("dc1", "ci-job");
    bind("dc2", "ci-writer");
    let platform_token = idp.machine_token("ci-job").await;

    let dir = AgentDir::new(&gateway, "dc1", &cluster, &["prod"]);
    dir.use_workload_token(&platform_token);
    let _agent = dir.start(None);
    wait_connected(&gateway, &dir);
    let (ok, stdout, stderr) = psql_prod(&gateway, &ana, "SELECT 'via workload identity'");
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "via workload identity");
    assert!(
        !dir.dir.path().join("state/agent.credential").exists(),
        "a workload-bound agent keeps no credential of its own"
    );

    // Another agent's platform token, and a garbage one, are refused.
    let impostor = AgentDir::new(&gateway, "dc2", &cluster, &["prod"]);
    impostor.use_workload_token(&platform_token);
    impostor.expect_refused(
        None,
        "agent `dc2` is bound to subject `ci-writer` of identity provider `corp-idp`",
    );
    std::fs::write(
        impostor.dir.path().join("workload.jwt"),
        "garbage.token.here",
    )
    .unwrap();
    impostor.expect_refused(None, "agent `dc2`'s workload token is refused");
}

/// The first column of the first row `sql` returns through the gateway on `prod`, as the
/// holder of `token`, or the error's message.
async fn first_value(
    gateway: &Gateway,
    user: &str,
    token: &str,
    sql: &str,
) -> Result<String, String> {
    let (client, connection) = gateway
        .client_config(user, token, "prod")
        .connect(gateway.tls())
        .await
        .map_err(|error| support::message(&error))?;
    tokio::spawn(connection);
    let row = client
        .query_one(sql, &[])
        .await
        .map_err(|error| support::message(&error))?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_an_agent_each_level_logs_in_with_the_agents_own_credentials_for_it() {
    let cluster = Cluster::start(false).await;
    // The gateway names levels and groups only; `audit` is a level the agent has no login for.
    let gateway = gateway_with(
        &["dc1"],
        "default_level = \"read\"\n\
         [[connections.logins]]\nlevel = \"admin\"\ngroups = [\"admins\"]\n\
         [[connections.logins]]\nlevel = \"audit\"\ngroups = [\"auditors\"]\n\
         [[connections.logins]]\nlevel = \"read\"\ngroups = [\"readers\"]\n",
    );
    let token = enrolment_token(&gateway, "dc1", &[]);
    let dir = AgentDir::new(&gateway, "dc1", &cluster, &["prod"]);
    // The agent maps `read` to a login of its own, which db-roles creates where the agent runs
    // (the cluster demands SCRAM: the password that db-roles writes is the one that works).
    let config = dir.dir.path().join("agent.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[[connections.logins]]\nlevel = \"read\"\nuser = \"gatehouse_prod_read\"\npassword_file = \"read.password\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let applied = Command::new(support::binary())
        .args(["db-roles", "prod", "--agent-config"])
        .arg(&config)
        .args(["--apply", "--output", "json"])
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let read_password = std::fs::read_to_string(dir.dir.path().join("read.password")).unwrap();
    let _agent = dir.start(Some(&token));
    wait_connected(&gateway, &dir);

    let ana = gateway.key("ana", &["readers"]);
    let reader = first_value(&gateway, "ana", &ana, "SELECT current_user::text").await;
    assert_eq!(
        reader.as_deref(),
        Ok("gatehouse_prod_read"),
        "{}",
        dir.log_text()
    );
    let ada = gateway.key("ada", &["admins"]);
    let admin = first_value(&gateway, "ada", &ada, "SELECT current_user::text").await;
    assert_eq!(admin.as_deref(), Ok("postgres"));
    let otto = gateway.key("otto", &["auditors", "readers"]);
    let refused = first_value(&gateway, "otto", &otto, "SELECT 1::text")
        .await
        .unwrap_err();
    assert!(
        refused.contains("no server login of level `audit`")
            && refused.contains("level = \"audit\""),
        "{refused}"
    );

    let events = gateway.audit_events();
    let connect = events
        .iter()
        .find(|e| e["action"] == "connect" && e["identity"]["subject"] == "ana")
        .unwrap();
    assert_eq!(connect["detail"], "server login level `read`");
    // The read login's password is the agent's alone.
    let password = read_password.trim().as_bytes();
    assert!(!contains(gateway.log().as_bytes(), password));
    assert!(!contains(&serde_json::to_vec(&events).unwrap(), password));
    for file in files_under(&gateway.data_dir()) {
        assert!(
            !contains(&std::fs::read(&file).unwrap(), password),
            "{}",
            file.display()
        );
    }
}

#[test]
fn gateway_configs_that_would_hold_an_agent_served_targets_secrets_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        "[[connections]]\nname = \"prod\"\nkind = \"postgres\"\nagents = [\"dc1\"]\nhost = \"10.0.0.5\"\npassword_env = \"PROD_PASSWORD\"\n",
    )
    .unwrap();
    let output = Command::new(support::binary())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["agents", "list"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "connection `prod` is served by agents, so `host` belongs in the agents' own config"
        ),
        "{stderr}"
    );
}
