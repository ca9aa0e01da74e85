//! A `gatehouse agent` process serving Kubernetes connections for a [`Cluster`]'s gateway:
//! enrolled with a one-time token, its config holding the cluster's address, CA and token
//! (the gateway's holds none of them).

use super::{Cluster, ClusterFiles};
use crate::support;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The gateway config of a cluster whose `cluster` connection is served by agent `dc1`
/// (`connection_extra` added to it), for [`Cluster::start_config`].
pub fn gateway_config(connection_extra: &str) -> String {
    format!(
        "[agents]\nlisten = \"127.0.0.1:0\"\n\n[kubernetes]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n\n\
         [[connections]]\nname = \"cluster\"\nkind = \"kubernetes\"\nagents = [\"dc1\"]\n{connection_extra}\n"
    )
}

/// An agent's directory (config, state, log) and its process.
pub struct KubeAgent {
    pub name: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl KubeAgent {
    /// Agent `name`, created on the gateway and started with `connections` as its
    /// `[[connections]]` entries (see [`kubernetes_connection`]); waits until it is connected.
    pub fn start(cluster: &Cluster, name: &str, connections: &str) -> KubeAgent {
        let created = cluster
            .gateway
            .cli(&["agents", "create", name, "--output", "json"]);
        assert!(created.status.success(), "{}", super::shown(&created));
        let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
        let token = created["enrolment_token"].as_str().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let listeners: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(cluster.gateway.data_dir().join("listeners.json")).unwrap(),
        )
        .unwrap();
        let config = format!(
            "name = \"{name}\"\ngateway = \"{}\"\nca_file = \"{}\"\nstate_dir = \"state\"\n\
             enrolment_token_env = \"GATEHOUSE_ENROLMENT_TOKEN\"\n\n{connections}",
            listeners["agents"].as_str().unwrap(),
            cluster.gateway.ca_file().display()
        );
        std::fs::write(dir.path().join("agent.toml"), config).unwrap();
        let mut agent = KubeAgent {
            name: name.to_owned(),
            dir,
            child: None,
        };
        agent.run(Some(&token));
        agent.wait_connected(cluster);
        agent
    }

    /// Start the process (again: once enrolled it needs no token).
    pub fn run(&mut self, enrolment_token: Option<&str>) {
        let log = std::fs::File::create(self.log()).unwrap();
        let mut command = Command::new(support::binary());
        command
            .arg("agent")
            .arg("--config")
            .arg(self.dir.path().join("agent.toml"))
            .env("RUST_LOG", "info")
            .env_remove("GATEHOUSE_ENROLMENT_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(token) = enrolment_token {
            command.env("GATEHOUSE_ENROLMENT_TOKEN", token);
        }
        self.child = Some(command.spawn().unwrap());
    }

    /// Stop the process (SIGTERM, bounded wait).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            support::terminate(&mut child, Duration::from_secs(15), "the agent");
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// How many times the gateway logged this agent connected, and disconnected.
    fn tunnels(&self, cluster: &Cluster) -> (usize, usize) {
        let log = cluster.gateway.log();
        let field = format!("agent={}", self.name);
        let count = |message: &str| {
            log.lines()
                .filter(|line| line.contains(message) && line.contains(&field))
                .count()
        };
        (count("agent connected"), count("agent disconnected"))
    }

    /// Wait (bounded) until the gateway can route sessions through this agent.
    pub fn wait_connected(&self, cluster: &Cluster) {
        self.wait_until(cluster, "connect", |(up, down)| up > down);
    }

    /// Wait (bounded) until the gateway has seen this agent's tunnels all go.
    pub fn wait_disconnected(&self, cluster: &Cluster) {
        self.wait_until(cluster, "disconnect", |(up, down)| up > 0 && up == down);
    }

    fn wait_until(&self, cluster: &Cluster, what: &str, done: impl Fn((usize, usize)) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self.tunnels(cluster)) {
            assert!(
                Instant::now() < deadline,
                "agent `{}` did not {what}; its log:\n{}\ngateway log:\n{}",
                self.name,
                self.log_text(),
                cluster.gateway.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for KubeAgent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An agent's `[[connections]]` entry for Kubernetes connection `name`, reaching the test API
/// server with its token.
pub fn kubernetes_connection(name: &str, files: &ClusterFiles) -> String {
    format!(
        "[[connections]]\nname = \"{name}\"\nkind = \"kubernetes\"\n{}\n",
        files.connection_keys()
    )
}
