//! The differential fuzzer of the PostgreSQL adapter: random and mutated frontend message
//! sequences from a reader, through the real `gatehouse` binary, to a throwaway PostgreSQL 15
//! cluster whose own log is the oracle (see `oracle.rs` for the rules). Each case is one
//! session, run alone so that the server's log lines, the audit events and any change to the
//! database can be attributed to it. A case that breaks a rule is minimized (steps dropped
//! while the same kind of violation remains) and written to `fuzz/corpus/pg_differential/`,
//! which every run replays first.
//!
//! Declared by `tests/differential.rs` only (with `#[path]`), so the other test binaries do not
//! compile it.

pub mod case;
pub mod generate;
pub mod oracle;

use crate::support::cluster::Cluster;
use crate::support::raw_pg::{self, Backend, Frontend, RawClient, Received};
use crate::support::{Gateway, Options, repo_root};
use case::Step;
use generate::Rng;
use oracle::{Audited, Evidence, Logged, Violation};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The database the fuzzed sessions use; recreated from `differential_template` when a case
/// changed it.
const DATABASE: &str = "differential";
const TEMPLATE: &str = "differential_template";
/// The gateway connection (and the client's `database`).
const CONNECTION: &str = "differential";
const READER: &str = "ana";

/// Server settings: every statement and every executed plan logged to a csvlog in the data
/// directory, connections and disconnections too. All are superuser-only or set at server
/// start; the oracle still checks that the session changed none of them.
const SERVER_SETTINGS: &[&str] = &[
    "logging_collector=on",
    "log_destination=csvlog",
    "log_directory=log",
    "log_filename=postgresql.log",
    "log_rotation_age=0",
    "log_rotation_size=0",
    "log_statement=all",
    "log_disconnections=on",
    "shared_preload_libraries=auto_explain",
    "auto_explain.log_min_duration=0",
    "auto_explain.log_analyze=on",
    "auto_explain.log_timing=off",
    "auto_explain.log_nested_statements=on",
];

const FIXTURES: &str = "
CREATE TABLE canary (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO canary SELECT g, 'row ' || g FROM generate_series(1, 10) g;
CREATE SEQUENCE canary_seq;
CREATE VIEW canary_view AS SELECT id, note FROM canary WHERE id <= 5;
CREATE FUNCTION purge_canary(victim integer) RETURNS integer LANGUAGE sql
    AS 'DELETE FROM canary WHERE id = victim RETURNING id';
";

/// Everything a reader must not be able to change, one `name: value` line each.
const STATE: &str = "
SELECT concat_ws(E'\\n',
  'rows: ' || (SELECT coalesce(string_agg(id || '=' || note, ',' ORDER BY id), '') FROM canary),
  'sequence: ' || (SELECT last_value || '/' || is_called FROM canary_seq),
  'relations: ' || (SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || coalesce(c.relacl::text, ''), ',' ORDER BY n.nspname, c.relname)
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'),
  'functions: ' || (SELECT coalesce(string_agg(p.oid::regprocedure::text, ',' ORDER BY p.oid), '')
                    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'),
  'roles: ' || (SELECT string_agg(rolname || ':' || rolsuper || rolcreaterole || rolcreatedb || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles),
  'role settings: ' || (SELECT count(*) FROM pg_db_role_setting),
  'databases: ' || (SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database),
  'large objects: ' || (SELECT count(*) FROM pg_largeobject_metadata),
  'prepared transactions: ' || (SELECT count(*) FROM pg_prepared_xacts),
  'settings: ' || (SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings
                   WHERE name IN ('log_statement', 'log_destination', 'logging_collector', 'log_disconnections',
                                  'log_min_messages', 'lc_messages', 'shared_preload_libraries',
                                  'auto_explain.log_min_duration', 'auto_explain.log_analyze',
                                  'auto_explain.log_nested_statements')),
  'configuration file: ' || (SELECT coalesce(string_agg(name || '=' || setting, ',' ORDER BY seqno), '')
                             FROM pg_file_settings WHERE sourcefile LIKE '%auto.conf')
)";

/// Silence that ends a wait once no ReadyForQuery is expected any more.
const QUIET: Duration = Duration::from_millis(10);
/// Silence that ends a wait while a Sync, Query or FunctionCall has not been answered (the
/// server skipped it, or it is waiting for COPY data).
const LONG_WAIT: Duration = Duration::from_millis(200);
/// Bound on things that always happen (the end marker's answer, a backend's end).
const PATIENCE: Duration = Duration::from_secs(20);

/// New bytes of a file that another process appends to.
struct Tail {
    path: PathBuf,
    offset: u64,
}

impl Tail {
    fn read_new(&mut self) -> Vec<u8> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(self.offset)).unwrap();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    }
}

/// What one run of a case produced.
pub struct Run {
    /// Backend messages received, by the index of the step they were read after
    /// (`steps.len()`: the harness's own end of the session).
    pub responses: Vec<(usize, Vec<String>)>,
    pub logged: Vec<Logged>,
    pub audited: Vec<Audited>,
    pub violations: Vec<Violation>,
}

impl Run {
    /// The kinds of finding in this run, most specific first. A state change, a blind log or
    /// a lost session counts only when nothing else explains it: a write that ran changes
    /// state, a session that switched statement logging off leaves the end marker unlogged, a
    /// COPY that ran behind the gateway's back ends the session when the client goes on.
    pub fn signatures(&self) -> Vec<String> {
        let mut kinds = Vec::new();
        for (index, violation) in self.violations.iter().enumerate() {
            let derived = matches!(
                violation,
                Violation::StateChanged { .. }
                    | Violation::LogBlinded { .. }
                    | Violation::SessionLost
            );
            let kind = violation.signature();
            if (index == 0 || !derived) && !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds
    }

    /// The case, what came back, what the server logged and what the audit log says.
    pub fn report(&self, steps: &[Step]) -> String {
        let mut out = String::from("steps (-> what the client read after the step):\n");
        for (index, step) in steps.iter().enumerate() {
            out.push_str(&format!("  {index:>3}  {step}\n"));
            for (at, messages) in &self.responses {
                if *at == index && !messages.is_empty() {
                    out.push_str(&format!("         -> {}\n", messages.join(" ")));
                }
            }
        }
        for (at, messages) in &self.responses {
            if *at == steps.len() {
                out.push_str(&format!(
                    "  end  (harness: Sync, ROLLBACK, end marker) -> {}\n",
                    messages.join(" ")
                ));
            }
        }
        out.push_str("server log of the session's backend:\n");
        for entry in &self.logged {
            match entry {
                Logged::Simple(text) => out.push_str(&format!("  statement: {text}\n")),
                Logged::Extended(text) => out.push_str(&format!("  execute: {text}\n")),
                Logged::FastPath(name) => out.push_str(&format!("  fastpath: {name}\n")),
                Logged::Plan { query, modified } if !modified.is_empty() => {
                    out.push_str(&format!("  plan {modified:?}: {query}\n"));
                }
                _ => {}
            }
        }
        out.push_str("audit log, statement events of the session:\n");
        for event in &self.audited {
            out.push_str(&format!(
                "  {} {}: {}\n",
                if event.allowed { "allow" } else { "deny " },
                event.action,
                event.text
            ));
        }
        out.push_str("violations:\n");
        for violation in &self.violations {
            out.push_str(&format!(
                "  [{}] {}\n",
                violation.signature(),
                violation.describe()
            ));
        }
        out
    }
}

/// The cluster, the gateway in front of it, and the oracle's view of both.
pub struct Harness {
    cluster: Cluster,
    gateway: Gateway,
    token: String,
    admin: tokio_postgres::Client,
    server_log: Tail,
    gateway_log: Tail,
    audit_seq: i64,
    baseline: String,
    baseline_roles: Vec<String>,
    oids: HashMap<String, u32>,
    run_id: String,
    cases: u64,
}

async fn connect_admin(cluster: &Cluster, database: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::Config::new()
        .host_path(cluster.dir.path())
        .port(cluster.port)
        .user("postgres")
        .dbname(database)
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to the throwaway cluster over its socket");
    tokio::spawn(connection);
    client
}

/// The server login readers get: made by `gatehouse db-roles`, as an operator would.
const READ_LOGIN: &str = "gatehouse_differential_read";

/// The gateway's connection to the cluster: readers log in as the least-privileged read login
/// (the server refuses what a fooled classifier would let through), the harness's own admin
/// work goes over the socket as the superuser.
fn connection_config(cluster: &Cluster, database: &str) -> String {
    format!(
        r#"
[[connections]]
name = "{CONNECTION}"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "{database}"
user = "postgres"
default_level = "read"

[[connections.logins]]
level = "read"
groups = ["readers"]
user = "{READ_LOGIN}"
"#,
        port = cluster.port
    )
}

/// Create the least-privileged logins in `database` with `gatehouse db-roles --apply`.
fn apply_db_roles(cluster: &Cluster, database: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(&config, connection_config(cluster, database)).unwrap();
    let output = std::process::Command::new(crate::support::binary())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "db-roles",
            CONNECTION,
            "--apply",
            "--schema",
            "public",
            "--password-dir",
        ])
        .arg(dir.path().join("passwords"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "gatehouse db-roles --apply failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What `db-roles` grants and revokes on the database itself, which a copy made from the
/// template does not inherit.
async fn database_grants(postgres: &tokio_postgres::Client) {
    postgres
        .batch_execute(&format!(
            "REVOKE TEMPORARY ON DATABASE {DATABASE} FROM PUBLIC; GRANT CONNECT ON DATABASE {DATABASE} TO {READ_LOGIN}"
        ))
        .await
        .unwrap();
}

impl Harness {
    pub async fn start() -> Harness {
        let cluster = Cluster::start_with(false, SERVER_SETTINGS).await;
        // The gateway's logins need no password: SCRAM's key derivation in the unoptimized
        // test build of gatehouse cost more than the rest of a case.
        std::fs::write(
            cluster.dir.path().join("data/pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        let postgres = connect_admin(&cluster, "postgres").await;
        postgres
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .unwrap();
        postgres
            .batch_execute(&format!("CREATE DATABASE {TEMPLATE}"))
            .await
            .unwrap();
        let template = connect_admin(&cluster, TEMPLATE).await;
        template.batch_execute(FIXTURES).await.unwrap();
        drop(template);
        // Grants inside the template are copied with it; those on the database are not.
        apply_db_roles(&cluster, TEMPLATE);
        // The template's session must be gone before it can be copied.
        let mut attempts = 0;
        while let Err(error) = postgres
            .batch_execute(&format!("CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}"))
            .await
        {
            attempts += 1;
            assert!(attempts < 200, "create the fuzzed database: {error}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        database_grants(&postgres).await;
        let admin = connect_admin(&cluster, DATABASE).await;
        let mut oids = HashMap::new();
        for function in generate::FUNCTIONS {
            let oid: u32 = admin
                .query_one("SELECT $1::text::regprocedure::oid", &[function])
                .await
                .unwrap()
                .get(0);
            oids.insert((*function).to_owned(), oid);
        }
        let baseline: String = admin.query_one(STATE, &[]).await.unwrap().get(0);
        let baseline_roles = admin
            .query("SELECT rolname::text FROM pg_roles", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();

        let gateway = Gateway::start_with(
            "postgres",
            Options {
                postgres_extra: "allow_plaintext = true".into(),
                extra: connection_config(&cluster, DATABASE),
                ..Options::default()
            },
        );
        let token = gateway.key(READER, &["readers"]);
        let server_log = Tail {
            path: cluster.dir.path().join("data/log/postgresql.csv"),
            offset: 0,
        };
        let gateway_log = Tail {
            path: gateway.dir.path().join("serve.log"),
            offset: 0,
        };
        let mut harness = Harness {
            cluster,
            gateway,
            token,
            admin,
            server_log,
            gateway_log,
            audit_seq: 0,
            baseline,
            baseline_roles,
            oids,
            run_id: crate::support::random_suffix(),
            cases: 0,
        };
        harness.audit_events();
        harness
    }

    /// Audit events written since the last call.
    fn audit_events(&mut self) -> Vec<serde_json::Value> {
        let after = self.audit_seq.to_string();
        let output = self
            .gateway
            .cli(&["audit", "export", "--after-seq", after.as_str()]);
        assert!(
            output.status.success(),
            "audit export failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let events: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).expect("each exported line is a JSON object"))
            .collect();
        if let Some(seq) = events.iter().filter_map(|e| e["seq"].as_i64()).max() {
            self.audit_seq = seq;
        }
        events
    }

    /// New complete records of the server's csvlog.
    fn server_records(&mut self) -> Vec<oracle::LogRecord> {
        let bytes = self.server_log.read_new();
        let (records, used) = oracle::parse_csvlog(&bytes);
        self.server_log.offset += u64::try_from(used).unwrap();
        records
    }

    fn gateway_problem(&mut self) -> Option<String> {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.gateway.pid)).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if !matches!(state, Some(s) if s != 'Z' && s != 'X') {
            return Some(format!(
                "the process is gone; its log:\n{}",
                self.gateway.log()
            ));
        }
        let bytes = self.gateway_log.read_new();
        self.gateway_log.offset += u64::try_from(bytes.len()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        text.lines()
            .find(|line| line.contains("panicked"))
            .map(str::to_owned)
    }

    /// Start `gatehouse audit verify`, to run while the harness does other work.
    fn start_verify(&self) -> std::process::Child {
        std::process::Command::new(crate::support::binary())
            .arg("--config")
            .arg(self.gateway.config_path())
            .arg("--data-dir")
            .arg(self.gateway.data_dir())
            .args(["audit", "verify"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run gatehouse audit verify")
    }

    fn chain_problem(verify: std::process::Child) -> Option<String> {
        let output = verify.wait_with_output().unwrap();
        (!output.status.success()).then(|| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }

    /// Put the database and roles back as they were after a case changed them.
    async fn restore(&mut self) {
        let postgres = connect_admin(&self.cluster, "postgres").await;
        for sql in [
            format!("DROP DATABASE {DATABASE} WITH (FORCE)"),
            format!("CREATE DATABASE {DATABASE} TEMPLATE {TEMPLATE}"),
        ] {
            postgres.batch_execute(&sql).await.unwrap();
        }
        database_grants(&postgres).await;
        let roles: Vec<String> = postgres
            .query("SELECT rolname::text FROM pg_roles", &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        for role in roles {
            if !self.baseline_roles.contains(&role) {
                postgres
                    .batch_execute(&format!("DROP ROLE \"{role}\""))
                    .await
                    .unwrap();
            }
        }
        self.admin = connect_admin(&self.cluster, DATABASE).await;
        let state: String = self.admin.query_one(STATE, &[]).await.unwrap().get(0);
        assert_eq!(
            state, self.baseline,
            "the harness could not restore the fixtures"
        );
    }

    fn frontend(&self, step: &Step) -> Option<Frontend> {
        Some(match step {
            Step::Query(sql) => Frontend::Query(sql.clone()),
            Step::Parse { name, sql, types } => Frontend::Parse {
                name: name.clone(),
                sql: sql.clone(),
                types: types.clone(),
            },
            Step::Bind {
                portal,
                statement,
                params,
            } => Frontend::Bind {
                portal: portal.clone(),
                statement: statement.clone(),
                params: params.clone(),
            },
            Step::Describe { target, name } => Frontend::Describe {
                kind: target.byte(),
                name: name.clone(),
            },
            Step::Execute { portal, max_rows } => Frontend::Execute {
                portal: portal.clone(),
                max_rows: *max_rows,
            },
            Step::Close { target, name } => Frontend::Close {
                kind: target.byte(),
                name: name.clone(),
            },
            Step::Sync => Frontend::Sync,
            Step::Flush => Frontend::Flush,
            Step::FunctionCall { function, args } => Frontend::FunctionCall {
                oid: *self
                    .oids
                    .get(function)
                    .unwrap_or_else(|| panic!("unknown function {function:?} in a case")),
                args: args.clone(),
            },
            Step::CopyData(data) => Frontend::CopyData(data.clone().into_bytes()),
            Step::CopyDone => Frontend::CopyDone,
            Step::CopyFail(message) => Frontend::CopyFail(message.clone()),
            Step::Terminate => Frontend::Terminate,
            Step::Wait | Step::Cancel => return None,
        })
    }

    /// Run one case as one session and judge it.
    pub async fn run(&mut self, steps: &[Step]) -> Run {
        let mut runs = self.run_batch(std::slice::from_ref(&steps.to_vec())).await;
        runs.pop().unwrap()
    }

    /// Run cases one after the other, each as one session, then judge them all against one
    /// export of the audit log (`gatehouse audit export` and `verify` are processes; once
    /// per batch keeps the fuzzer fast).
    pub async fn run_batch(&mut self, cases: &[Vec<Step>]) -> Vec<Run> {
        let mut executed = Vec::new();
        for steps in cases {
            executed.push(self.execute(steps).await);
        }
        let verify = self.start_verify();
        let events = self.audit_events();
        let chain = Self::chain_problem(verify);
        let outcomes: HashMap<Option<i64>, &serde_json::Value> = events
            .iter()
            .filter(|e| e["kind"] == "outcome")
            .map(|e| (e["refers_to"].as_i64(), e))
            .collect();
        let mut sessions = events
            .iter()
            .filter(|e| e["kind"] == "connect" && e["identity"]["subject"] == READER)
            .map(|e| e["session"].clone());
        executed
            .into_iter()
            .map(|case| {
                let session = if case.connected {
                    sessions.next()
                } else {
                    None
                };
                let audited: Vec<Audited> = events
                    .iter()
                    .filter(|e| e["kind"] == "statement" && Some(&e["session"]) == session.as_ref())
                    .map(|e| Audited::from_event(e, outcomes.get(&e["seq"].as_i64()).copied()))
                    .collect();
                let mut violations = case.violations;
                if session.is_none() && case.connected {
                    violations.push(Violation::GatewayFailed {
                        detail: "the session has no connect event in the audit log".to_owned(),
                    });
                }
                if let Some(detail) = &chain {
                    violations.push(Violation::ChainBroken {
                        detail: detail.clone(),
                    });
                }
                violations.extend(oracle::judge(&Evidence {
                    logged: &case.logged,
                    audited: &audited,
                    answered_markers: &case.answered,
                    before: &self.baseline,
                    after: &case.after,
                }));
                oracle::sort(&mut violations);
                Run {
                    responses: case.responses,
                    logged: case.logged,
                    audited,
                    violations,
                }
            })
            .collect()
    }

    /// Run one case's session and gather what the server and the database say about it;
    /// restore the fixtures if it changed them.
    async fn execute(&mut self, steps: &[Step]) -> Executed {
        self.cases += 1;
        let start = format!("gh-diff {} start {}", self.run_id, self.cases);
        let end = format!("gh-diff {} end {}", self.run_id, self.cases);
        let mut records = self.server_records();
        records.clear();
        let mut responses = Vec::new();
        let mut answered = Vec::new();
        let mut violations = Vec::new();

        let connected = RawClient::connect(
            self.gateway.pg_addr,
            &[
                ("user", READER),
                ("database", CONNECTION),
                ("application_name", "gh-diff"),
            ],
            &self.token,
        )
        .await;
        let was_connected = connected.is_ok();
        match connected {
            Ok(client) => {
                let mut session = Session {
                    client,
                    alive: true,
                    expect_ready: 0,
                    extended_since_sync: false,
                    read: Vec::new(),
                };
                session.round_trip(&start).await;
                if session.alive {
                    answered.push(start.clone());
                }
                session.read.clear();
                for (index, step) in steps.iter().enumerate() {
                    if !session.alive {
                        break;
                    }
                    match step {
                        Step::Wait => session.wait().await,
                        Step::Cancel => {
                            if let Some(key) = session.client.key.clone() {
                                raw_pg::cancel(self.gateway.pg_addr, &key).await;
                            }
                        }
                        Step::Terminate => {
                            session.send(&Frontend::Terminate).await;
                            session.alive = false;
                        }
                        other => {
                            let message = self.frontend(other).unwrap();
                            session.send(&message).await;
                        }
                    }
                    responses.push((index, std::mem::take(&mut session.read)));
                }
                if session.alive {
                    match session.finish(&end).await {
                        Ok(()) => answered.push(end.clone()),
                        Err(_) if !session.alive => violations.push(Violation::SessionLost),
                        Err(detail) => violations.push(Violation::Stuck { detail }),
                    }
                    session.send(&Frontend::Terminate).await;
                }
                responses.push((steps.len(), std::mem::take(&mut session.read)));
            }
            Err(error) => violations.push(Violation::GatewayFailed {
                detail: format!("a reader could not connect: {error}"),
            }),
        }

        // The backend's log, up to its disconnection.
        let start_line = format!("statement: SELECT '{start}'");
        let deadline = Instant::now() + PATIENCE;
        let mut pid = None;
        loop {
            records.extend(self.server_records());
            pid = pid.or_else(|| {
                records
                    .iter()
                    .find(|r| r.message == start_line)
                    .map(|r| r.pid)
            });
            let ended = pid.is_some_and(|pid| {
                records.iter().any(|r| {
                    r.pid == pid && oracle::classify_record(&r.message) == Logged::Disconnected
                })
            });
            if ended || (answered.is_empty() && pid.is_none()) {
                break;
            }
            if Instant::now() > deadline {
                if pid.is_some() {
                    violations.push(Violation::BackendLingered);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let logged: Vec<Logged> = records
            .iter()
            .filter(|r| Some(r.pid) == pid)
            .map(|r| oracle::classify_record(&r.message))
            .collect();

        let after: String = self.admin.query_one(STATE, &[]).await.unwrap().get(0);
        if let Some(detail) = self.gateway_problem() {
            violations.push(Violation::GatewayFailed { detail });
        }
        if after != self.baseline {
            self.restore().await;
        }
        Executed {
            connected: was_connected,
            responses,
            logged,
            answered,
            violations,
            after,
        }
    }
}

/// A case that ran, before the audit log is read.
struct Executed {
    connected: bool,
    responses: Vec<(usize, Vec<String>)>,
    logged: Vec<Logged>,
    answered: Vec<String>,
    violations: Vec<Violation>,
    after: String,
}

/// The client side of one case's session.
struct Session {
    client: RawClient,
    alive: bool,
    /// Sync, Query and FunctionCall messages not answered by a ReadyForQuery yet, as far as
    /// the harness can tell (reset when a wait runs into silence).
    expect_ready: usize,
    /// An extended-protocol message was sent since the last Sync.
    extended_since_sync: bool,
    /// Summaries of the messages read since the last step.
    read: Vec<String>,
}

impl Session {
    async fn send(&mut self, message: &Frontend) {
        let mut bytes = bytes::BytesMut::new();
        message.encode(&mut bytes);
        if self.client.send(&bytes).await.is_err() {
            self.alive = false;
        }
        match message {
            Frontend::Sync => {
                self.expect_ready += 1;
                self.extended_since_sync = false;
            }
            // After an extended-protocol message the server may be skipping to the next
            // Sync (if that message failed), Query and FunctionCall included: whether a
            // ReadyForQuery comes for them is not known, so a wait does not count on one.
            Frontend::Query(_) | Frontend::FunctionCall { .. } if !self.extended_since_sync => {
                self.expect_ready += 1;
            }
            Frontend::Parse { .. }
            | Frontend::Bind { .. }
            | Frontend::Describe { .. }
            | Frontend::Execute { .. }
            | Frontend::Close { .. } => self.extended_since_sync = true,
            _ => {}
        }
    }

    async fn recv(&mut self, window: Duration) -> Option<Backend> {
        match self.client.recv_within(window).await {
            Received::Message(message) => {
                if message.tag == b'Z' {
                    self.expect_ready = self.expect_ready.saturating_sub(1);
                }
                self.read.push(message.summary());
                Some(message)
            }
            Received::Silent => {
                self.expect_ready = 0;
                None
            }
            Received::Closed => {
                self.alive = false;
                self.read.push("<closed>".to_owned());
                None
            }
        }
    }

    /// Read until every ReadyForQuery the harness expects has come and the server has been
    /// quiet for a moment (so an error already on its way is read too), or until a
    /// CopyInResponse (the server then waits for the client).
    async fn wait(&mut self) {
        loop {
            let window = if self.expect_ready > 0 {
                LONG_WAIT
            } else {
                QUIET
            };
            match self.recv(window).await {
                Some(message) if message.tag == b'G' => return,
                Some(_) => {}
                None => return,
            }
        }
    }

    /// Send a marker query on a quiet session and read its answer.
    async fn round_trip(&mut self, marker: &str) {
        self.send(&Frontend::Query(format!("SELECT '{marker}'")))
            .await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.alive && tokio::time::Instant::now() < deadline {
            if let Some(message) = self.recv(PATIENCE).await
                && message.tag == b'Z'
            {
                return;
            }
        }
        self.alive = false;
    }

    /// End the fuzzed part: leave any COPY, end the Sync unit and any transaction, then the
    /// end marker, whose answer must come (a cancel request still in flight may cancel it
    /// once; then it is sent again).
    async fn finish(&mut self, marker: &str) -> Result<(), String> {
        let query = Frontend::Query(format!("SELECT '{marker}'"));
        for message in [
            Frontend::CopyFail("differential: end of case".to_owned()),
            Frontend::Sync,
            Frontend::Query("ROLLBACK".to_owned()),
            query.clone(),
        ] {
            self.send(&message).await;
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut seen = false;
        let mut resent = 0;
        while tokio::time::Instant::now() < deadline {
            let Some(message) = self.recv(PATIENCE).await else {
                break;
            };
            match message.tag {
                b'D' if message.columns().first() == Some(&Some(marker.to_owned())) => seen = true,
                b'Z' if seen => return Ok(()),
                b'E' if message.field(b'C').as_deref() == Some("57014") && resent < 3 => {
                    resent += 1;
                    self.send(&query).await;
                }
                _ => {}
            }
        }
        Err(format!("no answer to the end marker within {PATIENCE:?}"))
    }
}

/// How long a fuzzing run goes on.
pub struct Budget {
    /// Random cases to run after the corpus (`None`: until `seconds` run out).
    pub cases: Option<u64>,
    pub seconds: Option<u64>,
    pub seed: u64,
}

impl Budget {
    /// From the environment: `DIFF_FUZZ_CASES`, `DIFF_FUZZ_SECONDS`, `DIFF_FUZZ_SEED`
    /// (decimal or 0x-hex; default: from the clock), over `default_cases`/`default_seconds`.
    pub fn from_env(default_cases: Option<u64>, default_seconds: Option<u64>) -> Budget {
        let number = |name: &str| {
            std::env::var(name).ok().map(|value| {
                let value = value.trim();
                match value.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => value.parse(),
                }
                .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}"))
            })
        };
        let seed = number("DIFF_FUZZ_SEED").unwrap_or_else(|| {
            u64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
                    % u128::from(u64::MAX),
            )
            .unwrap()
        });
        Budget {
            cases: number("DIFF_FUZZ_CASES").or(default_cases),
            seconds: number("DIFF_FUZZ_SECONDS").or(default_seconds),
            seed,
        }
    }
}

/// Minimization stops after this many runs, keeping the smallest failing case so far.
const MINIMIZE_RUNS: usize = 150;

/// `fuzz/corpus/pg_differential/`, or `DIFF_FUZZ_CORPUS`.
fn corpus_dir() -> PathBuf {
    std::env::var_os("DIFF_FUZZ_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("fuzz/corpus/pg_differential"))
}

fn load_corpus(dir: &Path) -> Vec<(PathBuf, Vec<Step>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "case"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let steps = case::parse_case(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (path, steps)
        })
        .collect()
}

/// Drop steps (halves, then quarters, ... then single steps) while the case still breaks a
/// rule with `signature`.
async fn minimize(harness: &mut Harness, steps: &[Step], signature: &str) -> (Vec<Step>, usize) {
    let mut current = steps.to_vec();
    let mut runs = 0;
    let mut chunk = current.len().div_ceil(2).max(1);
    loop {
        let mut at = 0;
        let mut progressed = false;
        while at < current.len() && runs < MINIMIZE_RUNS {
            let mut candidate = current.clone();
            candidate.drain(at..(at + chunk).min(current.len()));
            runs += 1;
            let run = harness.run(&candidate).await;
            if run
                .violations
                .iter()
                .any(|violation| violation.signature() == signature)
            {
                current = candidate;
                progressed = true;
            } else {
                at += chunk;
            }
        }
        if runs >= MINIMIZE_RUNS || (chunk == 1 && !progressed) {
            return (current, runs);
        }
        if !progressed {
            chunk = chunk.div_ceil(2);
        }
    }
}

fn save(dir: &Path, signature: &str, steps: &[Step], run: &Run, origin: &str) -> PathBuf {
    let body = case::format_case(steps);
    let digest = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(body.as_bytes())[..4])
    };
    let mut text = format!(
        "# A case the differential fuzzer of the PostgreSQL adapter found\n\
         # (crates/gatehouse/tests/differential.rs; every run replays this directory first).\n\
         # {origin}\n"
    );
    for violation in &run.violations {
        text.push_str(&format!(
            "# [{}] {}\n",
            violation.signature(),
            violation.describe().replace('\n', " ")
        ));
    }
    text.push_str(&body);
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{signature}-{digest}.case"));
    std::fs::write(&path, text).unwrap();
    path
}

/// What a fuzzing run found.
pub struct Report {
    /// One text per finding: the case (or corpus file), its steps, responses, logs and
    /// violations.
    pub findings: Vec<String>,
    pub summary: String,
}

/// Cases judged together (one audit export and one chain verification per batch).
const BATCH: u64 = 10;

/// Replay the corpus, then run random and mutated cases within `budget`; minimize and save
/// each new kind of finding.
pub async fn fuzz(budget: Budget) -> Report {
    let started = Instant::now();
    let mut harness = Harness::start().await;
    let dir = corpus_dir();
    let corpus = load_corpus(&dir);
    let mut findings = Vec::new();
    let mut kinds: HashSet<String> = HashSet::new();
    let mut failing_replays = 0;
    let replayed = harness
        .run_batch(
            &corpus
                .iter()
                .map(|(_, steps)| steps.clone())
                .collect::<Vec<_>>(),
        )
        .await;
    for ((path, steps), run) in corpus.iter().zip(replayed) {
        let signatures = run.signatures();
        if !signatures.is_empty() {
            failing_replays += 1;
            kinds.extend(signatures);
            findings.push(format!(
                "corpus file {} still fails:\n{}",
                path.strip_prefix(repo_root()).unwrap_or(path).display(),
                run.report(steps)
            ));
        }
    }

    let verbose = std::env::var_os("DIFF_FUZZ_VERBOSE").is_some();
    let mut case_seconds = 0.0;
    let mut cases = 0u64;
    let mut failing_cases = 0u64;
    let mut minimizing_runs = 0usize;
    let mut messages = 0usize;
    let mut seen_signatures: HashMap<String, u64> = HashMap::new();
    loop {
        let mut batch = BATCH;
        if let Some(limit) = budget.cases {
            batch = batch.min(limit.saturating_sub(cases));
        }
        if batch == 0
            || budget
                .seconds
                .is_some_and(|limit| started.elapsed() >= Duration::from_secs(limit))
        {
            break;
        }
        let generated: Vec<Vec<Step>> = (cases..cases + batch)
            .map(|index| {
                let mut rng = Rng::new(generate::case_seed(budget.seed, index));
                if !corpus.is_empty() && rng.chance(25) {
                    let parent = &corpus[rng.below(corpus.len())].1;
                    generate::mutate(&mut rng, parent)
                } else {
                    generate::random_case(&mut rng)
                }
            })
            .collect();
        let batch_started = Instant::now();
        let runs = harness.run_batch(&generated).await;
        case_seconds += batch_started.elapsed().as_secs_f64();
        for (steps, run) in generated.into_iter().zip(runs) {
            let index = cases;
            cases += 1;
            messages += steps.len();
            if verbose {
                println!("case {index}:\n{}", run.report(&steps));
            }
            let signatures = run.signatures();
            let Some(primary) = signatures.first() else {
                continue;
            };
            failing_cases += 1;
            *seen_signatures.entry(primary.clone()).or_default() += 1;
            for signature in signatures {
                if !kinds.insert(signature.clone()) {
                    continue;
                }
                let found = format!(
                    "case {index} of DIFF_FUZZ_SEED={:#x}, {} steps",
                    budget.seed,
                    steps.len()
                );
                println!(
                    "new finding [{signature}] in {found}:\n{}",
                    run.report(&steps)
                );
                let (minimal, runs) = minimize(&mut harness, &steps, &signature).await;
                minimizing_runs += runs;
                let confirmed = harness.run(&minimal).await;
                let origin = format!(
                    "found: {found}; minimized to {} steps in {runs} runs",
                    minimal.len()
                );
                let (kept, kept_run) = if confirmed
                    .violations
                    .iter()
                    .any(|v| v.signature() == signature)
                {
                    (minimal, &confirmed)
                } else {
                    (steps.clone(), &run)
                };
                let path = save(&dir, &signature, &kept, kept_run, &origin);
                findings.push(format!(
                    "new finding [{signature}], saved as {}\n{origin}\n{}",
                    path.strip_prefix(repo_root()).unwrap_or(&path).display(),
                    kept_run.report(&kept)
                ));
            }
        }
    }
    let total_runs = corpus.len() as u64 + cases + minimizing_runs as u64;
    let mut counts: Vec<_> = seen_signatures.into_iter().collect();
    counts.sort();
    let summary = format!(
        "differential fuzzer: seed {:#x}; corpus {} files ({} failing); {} random/mutated cases ({} steps) run in {:.1} s = {:.1} cases/s; {} cases broke a rule {:?}; {} minimization runs; {} runs in {:.1} s overall, cluster and gateway start included ({:.1} runs/s); {} findings",
        budget.seed,
        corpus.len(),
        failing_replays,
        cases,
        messages,
        case_seconds,
        cases as f64 / f64::max(case_seconds, 0.001),
        failing_cases,
        counts,
        minimizing_runs,
        total_runs,
        started.elapsed().as_secs_f64(),
        total_runs as f64 / started.elapsed().as_secs_f64().max(0.001),
        findings.len()
    );
    Report { findings, summary }
}
