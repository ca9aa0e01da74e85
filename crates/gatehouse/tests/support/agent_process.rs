//! A `gatehouse agent` process serving a gateway's connections (PostgreSQL, Kubernetes, HTTP
//! APIs): created on the gateway, enrolled with its one-time token, its config holding the
//! targets' addresses and credentials (the gateway's holds none of them).

use super::Gateway;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An agent's directory (config, state, log) and its process.
pub struct AgentProcess {
    pub name: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl AgentProcess {
    /// Agent `name`, created on the gateway and started with `connections` as its
    /// `[[connections]]` entries (see [`kubernetes_connection`]); waits until it is connected.
    pub fn start(gateway: &Gateway, name: &str, connections: &str) -> AgentProcess {
        let created = gateway.cli(&["agents", "create", name, "--output", "json"]);
        assert!(created.status.success(), "{created:?}");
        let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
        let token = created["enrolment_token"].as_str().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let listeners: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(gateway.data_dir().join("listeners.json")).unwrap(),
        )
        .unwrap();
        let config = format!(
            "name = \"{name}\"\ngateway = \"{}\"\nca_file = \"{}\"\nstate_dir = \"state\"\n\
             enrolment_token_env = \"GATEHOUSE_ENROLMENT_TOKEN\"\n\n{connections}",
            listeners["agents"].as_str().unwrap(),
            gateway.ca_file().display()
        );
        std::fs::write(dir.path().join("agent.toml"), config).unwrap();
        let mut agent = AgentProcess {
            name: name.to_owned(),
            dir,
            child: None,
        };
        agent.run(Some(&token));
        agent.wait_connected(gateway);
        agent
    }

    /// Start the process (again: once enrolled it needs no token).
    pub fn run(&mut self, enrolment_token: Option<&str>) {
        let mut command = agent_command(
            &self.dir.path().join("agent.toml"),
            &self.log(),
            enrolment_token,
        );
        self.child = Some(command.spawn().unwrap());
    }

    /// Stop the process (SIGTERM, bounded wait).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::terminate(&mut child, Duration::from_secs(15), "the agent");
        }
    }

    /// The agent's config file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("agent.toml")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// How many times the gateway logged this agent connected, and disconnected.
    fn tunnels(&self, gateway: &Gateway) -> (usize, usize) {
        let log = gateway.log();
        let field = format!("agent={}", self.name);
        let count = |message: &str| {
            log.lines()
                .filter(|line| line.contains(message) && line.contains(&field))
                .count()
        };
        (count("agent connected"), count("agent disconnected"))
    }

    /// Wait (bounded) until the gateway can route sessions through this agent.
    pub fn wait_connected(&self, gateway: &Gateway) {
        self.wait_until(gateway, "connect", |(up, down)| up > down);
    }

    /// Wait (bounded) until the gateway has seen this agent's tunnels all go.
    pub fn wait_disconnected(&self, gateway: &Gateway) {
        self.wait_until(gateway, "disconnect", |(up, down)| up > 0 && up == down);
    }

    fn wait_until(&self, gateway: &Gateway, what: &str, done: impl Fn((usize, usize)) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self.tunnels(gateway)) {
            assert!(
                Instant::now() < deadline,
                "agent `{}` did not {what}; its log:\n{}\ngateway log:\n{}",
                self.name,
                self.log_text(),
                gateway.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `gatehouse agent --config CONFIG`, its log to `log`, enrolling with `enrolment_token` if
/// given (never one from the test's own environment).
pub fn agent_command(config: &Path, log: &Path, enrolment_token: Option<&str>) -> Command {
    let log = std::fs::File::create(log).unwrap();
    let mut command = Command::new(super::binary());
    command
        .arg("agent")
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .env_remove("GATEHOUSE_ENROLMENT_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(token) = enrolment_token {
        command.env("GATEHOUSE_ENROLMENT_TOKEN", token);
    }
    command
}
