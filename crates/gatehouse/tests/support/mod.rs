//! Test harness shared by the end-to-end tests: a throwaway database on the machine's real
//! PostgreSQL, the real `gatehouse` binary started on port 0 with its own data directory, and
//! real clients (tokio-postgres over verified TLS, psql, the CLI) pointed at it.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod agent_process;
pub mod cluster;
pub mod oidc;
pub mod raw;
pub mod raw_h2;
pub mod raw_pg;

use rand::RngCore;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The machine's PostgreSQL, reached directly (never through the gateway).
pub const DIRECT: &str = "host=127.0.0.1 port=5432 user=postgres dbname=postgres";

pub fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A database of the test's own, dropped when the test ends.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub async fn create() -> TestDb {
        let name = format!("gh_test_{}", random_suffix());
        let admin = direct_client("postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        TestDb { name }
    }

    /// A client connected straight to this database (to set up and to check the truth).
    pub async fn direct(&self) -> tokio_postgres::Client {
        direct_client(&self.name).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

pub async fn direct_client(database: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port=5432 user=postgres dbname={database}"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect directly to PostgreSQL");
    tokio::spawn(connection);
    client
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn quickstart_policy() -> String {
    std::fs::read_to_string(repo_root().join("policies/quickstart.cedar")).unwrap()
}

/// What to start a gateway with.
#[derive(Default)]
pub struct Options {
    /// Cedar policy text (default: the quickstart policy).
    pub policy: Option<String>,
    /// Top-level TOML put before every table (keys such as `worker_threads`).
    pub top_level: String,
    /// Extra TOML inside `[postgres]`.
    pub postgres_extra: String,
    /// Extra top-level TOML appended at the end (e.g. more `[[connections]]`).
    pub extra: String,
    /// TOML lines added to the `demo` connection.
    pub demo_extra: String,
    /// Environment for the gateway process.
    pub env: Vec<(String, String)>,
    /// The data directory (say, on a volume the test mounted); default: `data` in the
    /// gateway's temporary directory.
    pub data_dir: Option<PathBuf>,
}

impl Options {
    /// Plaintext allowed on loopback (for the raw wire client) and held statements answered
    /// as pending after 1 s: what the tests that replay attacks and approvals through raw
    /// messages start with.
    pub fn raw_wire_with_short_approval_wait() -> Options {
        Options {
            postgres_extra: "allow_plaintext = true".into(),
            extra: "[approvals]\nwait = \"1s\"\n".into(),
            ..Default::default()
        }
    }
}

/// A running `gatehouse serve` process.
pub struct Gateway {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub pg_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub pid: u32,
    env: Vec<(String, String)>,
    data_dir: PathBuf,
}

/// Run `gatehouse serve` in `dir` and wait until it says where it listens.
fn launch(
    dir: &Path,
    data_dir: &Path,
    config_path: &Path,
    env: &[(String, String)],
) -> (Child, SocketAddr, SocketAddr) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("serve.log"))
        .unwrap();
    let mut command = Command::new(binary());
    command
        .arg("--config")
        .arg(config_path)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("serve")
        .env("GATEHOUSE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn gatehouse serve");
    let listeners = data_dir.join("listeners.json");
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&listeners) {
            let value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let pg = value["postgres"].as_str().unwrap().parse().unwrap();
            let admin = value["admin"].as_str().unwrap().parse().unwrap();
            return (child, pg, admin);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            panic!("gatehouse serve exited with {status} before listening:\n{log}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "gatehouse serve did not start in 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a CLI command a test runs may take before the test fails naming it.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// `command.output()`, but a command still running after [`CLI_TIMEOUT`] is killed and the
/// test fails naming it (`args`) and what it printed, instead of the test hanging until nextest
/// ends it without a word (an http_api test hung so once, in a CLI call, and could not be
/// reproduced).
fn output_within(mut command: Command, args: &[&str]) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run gatehouse");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(CLI_TIMEOUT) {
        Ok(output) => output.expect("run gatehouse"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            let output = finished.recv().ok().and_then(Result::ok);
            let printed = output.map_or_else(String::new, |output| {
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                )
            });
            panic!(
                "`gatehouse {}` did not end within {CLI_TIMEOUT:?}; it printed:\n{printed}",
                args.join(" ")
            );
        }
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_gatehouse")
}

impl Gateway {
    /// A gateway whose `demo` connection points at `database` on the local PostgreSQL.
    pub fn start(database: &str) -> Gateway {
        Gateway::start_with(database, Options::default())
    }

    pub fn start_with(database: &str, options: Options) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let policy_path = dir.path().join("policy.cedar");
        std::fs::write(
            &policy_path,
            options.policy.clone().unwrap_or_else(quickstart_policy),
        )
        .unwrap();
        let config = format!(
            r#"
{top_level}

[policy]
files = ["{policy}"]

[postgres]
listen = "127.0.0.1:0"
shutdown_grace = "2s"
{postgres_extra}

[admin]
listen = "127.0.0.1:0"

[[connections]]
name = "demo"
kind = "postgres"
host = "127.0.0.1"
port = 5432
database = "{database}"
user = "postgres"
{demo_extra}

{extra}
"#,
            top_level = options.top_level,
            policy = policy_path.display(),
            postgres_extra = options.postgres_extra,
            demo_extra = options.demo_extra,
            extra = options.extra,
        );
        let config_path = dir.path().join("gatehouse.toml");
        std::fs::write(&config_path, config).unwrap();
        let data_dir = options.data_dir.unwrap_or_else(|| dir.path().join("data"));
        Gateway::spawn(dir, data_dir, &config_path, &options.env)
    }

    fn spawn(
        dir: tempfile::TempDir,
        data_dir: PathBuf,
        config_path: &Path,
        env: &[(String, String)],
    ) -> Gateway {
        let (child, pg_addr, admin_addr) = launch(dir.path(), &data_dir, config_path, env);
        Gateway {
            data_dir,
            pid: child.id(),
            child: Some(child),
            dir,
            pg_addr,
            admin_addr,
            env: env.to_vec(),
        }
    }

    /// Kill the process with SIGKILL: no shutdown, no flush, no final checkpoint.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("gateway still running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Start the gateway again on the same configuration and data directory (after
    /// `terminate` or `kill9`); the listeners get new ports.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "stop the gateway before restarting it"
        );
        let _ = std::fs::remove_file(self.data_dir().join("listeners.json"));
        let (child, pg_addr, admin_addr) = launch(
            self.dir.path(),
            &self.data_dir,
            &self.config_path(),
            &self.env,
        );
        self.pid = child.id();
        self.child = Some(child);
        self.pg_addr = pg_addr;
        self.admin_addr = admin_addr;
    }

    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("gatehouse.toml")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Run the CLI against this gateway's config and data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut command = self.cli_command(args);
        command.env_remove("GATEHOUSE_TOKEN");
        output_within(command, args)
    }

    /// `gatehouse <args>` against this gateway's config and data directory, not yet run.
    fn cli_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(self.config_path())
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args);
        command
    }

    /// `gatehouse audit verify` passes on this gateway's log (what it printed otherwise).
    pub fn assert_audit_verifies(&self) {
        let verify = self.cli(&["audit", "verify"]);
        assert!(
            verify.status.success(),
            "{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }

    /// Run the CLI against this gateway as the holder of `token` (in GATEHOUSE_TOKEN).
    pub fn cli_as(&self, token: &str, args: &[&str]) -> Output {
        let mut command = self.cli_command(args);
        command.env("GATEHOUSE_TOKEN", token);
        output_within(command, args)
    }

    /// Every audit event, through `gatehouse audit export` (one JSON object per line).
    pub fn audit_events(&self) -> Vec<serde_json::Value> {
        let output = self.cli(&["audit", "export"]);
        assert!(
            output.status.success(),
            "audit export failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("each exported line is a JSON object"))
            .collect()
    }

    /// The outcome of the last `action` whose request text contains `target`, once recorded
    /// (for HTTP-speaking protocols, when the answer's body has ended).
    pub fn outcome_of(&self, action: &str, target: &str) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let events = self.audit_events();
            let request = events
                .iter()
                .rfind(|e| {
                    e["action"] == action
                        && e["statement"].as_str().unwrap_or_default().contains(target)
                })
                .unwrap_or_else(|| panic!("no {action} of {target}: {events:#?}"))
                .clone();
            if let Some(outcome) = events
                .iter()
                .find(|e| e["kind"] == "outcome" && e["refers_to"] == request["seq"])
            {
                return outcome["outcome"].clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no outcome for {request:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Create a key and return its token.
    pub fn key(&self, identity: &str, groups: &[&str]) -> String {
        self.key_with(identity, groups, &[])
    }

    pub fn key_with(&self, identity: &str, groups: &[&str], extra: &[&str]) -> String {
        let groups = groups.join(",");
        let mut args = vec!["keys", "create", "--identity", identity, "--output", "json"];
        if !groups.is_empty() {
            args.extend(["--groups", groups.as_str()]);
        }
        args.extend(extra);
        let output = self.cli(&args);
        assert!(
            output.status.success(),
            "keys create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        value["token"].as_str().unwrap().to_owned()
    }

    pub fn ca_file(&self) -> PathBuf {
        self.data_dir().join("tls").join("server.crt")
    }

    /// tokio-postgres config for this gateway (TLS required, token as password).
    pub fn client_config(
        &self,
        user: &str,
        token: &str,
        connection: &str,
    ) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(self.pg_addr.ip().to_string())
            .port(self.pg_addr.port())
            .dbname(connection)
            .user(user)
            .password(token)
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// A TLS client configuration that trusts this gateway's certificate.
    pub fn tls_client_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(self.ca_file()).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
    }

    pub fn tls(&self) -> tokio_postgres_rustls::MakeRustlsConnect {
        tokio_postgres_rustls::MakeRustlsConnect::new(self.tls_client_config())
    }

    /// Connect through the gateway as `user` with `token` to connection `demo`.
    pub async fn connect(
        &self,
        user: &str,
        token: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = self
            .client_config(user, token, "demo")
            .connect(self.tls())
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// A libpq connection string for `user` on `dbname`, verifying the gateway's certificate.
    pub fn psql_conninfo(&self, user: &str, dbname: &str) -> String {
        format!(
            "host={} port={} dbname={dbname} user={user} sslmode=verify-full sslrootcert={}",
            self.pg_addr.ip(),
            self.pg_addr.port(),
            self.ca_file().display()
        )
    }

    /// Run psql through the gateway; returns (success, stdout, stderr).
    pub fn psql(&self, user: &str, token: &str, sql: &str) -> (bool, String, String) {
        let conninfo = self.psql_conninfo(user, "demo");
        let output = Command::new("psql")
            .arg(conninfo)
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=0", "-c", sql])
            .env("PGPASSWORD", token)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("run psql");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Send SIGTERM and wait for the process to exit; returns its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("gateway still running");
        terminate(&mut child, Duration::from_secs(20), "the gateway")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The SQLSTATE of a tokio-postgres error, if the server (or gateway) sent one.
pub fn sqlstate(error: &tokio_postgres::Error) -> Option<String> {
    error.as_db_error().map(|db| db.code().code().to_owned())
}

/// The message of a tokio-postgres database error.
pub fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|db| db.message().to_owned())
        .unwrap_or_else(|| error.to_string())
}

/// Count rows of a table, directly on the database.
pub async fn count(db: &tokio_postgres::Client, table: &str) -> i64 {
    db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// The table most tests use: `items (id int PRIMARY KEY, name text)` holding (1, 'one') and
/// (2, 'two'), in a database of the test's own, with a gateway in front of it. Returns the
/// database guard, the gateway and a direct client to check the truth with.
pub async fn items_behind_gateway(options: Options) -> (TestDb, Gateway, tokio_postgres::Client) {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two');",
        )
        .await
        .expect("create the items table");
    let gateway = Gateway::start_with(&db.name, options);
    (db, gateway, direct)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Wait (bounded) for `child` to exit; past `within` it is killed and the test fails, naming
/// `what`.
pub fn wait_exit(child: &mut Child, within: Duration, what: &str) -> std::process::ExitStatus {
    wait_or_kill(child, within)
        .unwrap_or_else(|| panic!("{what} was still running after {within:?}"))
}

/// Wait (bounded) for `child` to exit: its status, or `None` when it was still running after
/// `within` and was killed.
pub fn wait_or_kill(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM `child`, then [`wait_exit`].
pub fn terminate(child: &mut Child, within: Duration, what: &str) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    wait_exit(child, within, what)
}

/// `(state, wait_event)` of the server backends whose `application_name` is `application`.
pub async fn backend_states(
    server: &tokio_postgres::Client,
    application: &str,
) -> Vec<(String, Option<String>)> {
    server
        .query(
            "SELECT state, wait_event FROM pg_stat_activity WHERE application_name = $1",
            &[&application],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// An HTTP answer as [`http`] read it.
pub struct HttpAnswer {
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    pub body: String,
}

impl HttpAnswer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head.lines().find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix(&prefix)
                .map(|value| value.trim().to_owned())
        })
    }
}

/// One HTTP/1.1 request over a fresh TCP connection to `addr` (`host:port`), as a client
/// that does nothing clever would send it: `headers` are whole `Name: value\r\n` lines.
pub async fn http(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> HttpAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    HttpAnswer {
        status: text[9..12].parse().unwrap(),
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
