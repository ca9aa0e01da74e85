//! The differential fuzzer of the MySQL adapter: random and mutated COM_QUERY messages, sent in
//! one PyMySQL session per case (multi-statements on, each message verbatim) through the real
//! `gatehouse` binary to the machine's MariaDB, as an identity that may read, set session
//! state and insert, logging in to MariaDB as an account of the run's own with every
//! privilege on a database of the run's own (so that only gatehouse stands between a denied
//! statement and the canary). MariaDB's general query log, to a table, is the oracle (see
//! `oracle.rs`). Cases run one after the other, so that log rows, audit events and changes can
//! be attributed to one. A case that breaks a rule is minimized and saved in
//! `fuzz/corpus/mysql_differential/`, which every run replays first.
//!
//! Declared by `tests/mysql_differential.rs` only (with `#[path]`).

pub mod case;
pub mod generate;
pub mod oracle;

use crate::mysqlhost::root;
use crate::support::{Gateway, Options, random_suffix, repo_root};
use generate::Rng;
use oracle::{Answer, Audited, Evidence, Logged, Violation};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Read, session statements and inserts; everything else is denied by default.
const POLICY: &str = r#"
@id("fuzzers")
permit (
  principal in Gatehouse::Group::"fuzzers",
  action in [
    Gatehouse::Action::"connect",
    Gatehouse::Action::"sql:session",
    Gatehouse::Action::"sql:read",
    Gatehouse::Action::"sql:insert"
  ],
  resource
);
"#;

const IDENTITY: &str = "fuzz";

/// The run's database: the canary (its ten rows must stay), a scratch table for allowed
/// inserts, and a trap that only `trap_write()` and `trap_proc()` write to.
const FIXTURES: &str = "
CREATE TABLE canary (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL);
INSERT INTO canary VALUES (1,'row 1'),(2,'row 2'),(3,'row 3'),(4,'row 4'),(5,'row 5'),
  (6,'row 6'),(7,'row 7'),(8,'row 8'),(9,'row 9'),(10,'row 10');
CREATE TABLE scratch (id INT, note VARCHAR(200));
CREATE TABLE trap (id INT AUTO_INCREMENT PRIMARY KEY, what VARCHAR(40));
CREATE VIEW canary_view AS SELECT id, note FROM canary WHERE id <= 5;
CREATE PROCEDURE trap_proc() INSERT INTO trap (what) VALUES ('procedure');
DELIMITER //
CREATE FUNCTION trap_write() RETURNS INT MODIFIES SQL DATA SQL SECURITY DEFINER
BEGIN INSERT INTO trap (what) VALUES ('function'); RETURN 1; END //
DELIMITER ;
";

/// What PyMySQL sends on its own when it connects, before the case's first message.
const CLIENT_PREAMBLE: &str = "SET NAMES utf8mb4";

/// Bound on one case's client session.
const PATIENCE: Duration = Duration::from_secs(30);

/// Run a script (with `DELIMITER`) as `root` on the machine's MariaDB.
fn root_script(script: &str) {
    let mut child = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the `mariadb` client runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What one run of a case produced.
pub struct Run {
    pub sent: Vec<String>,
    pub answers: Vec<Answer>,
    pub logged: Vec<Logged>,
    pub audited: Vec<Audited>,
    pub violations: Vec<Violation>,
}

impl Run {
    /// The kinds of finding, most specific first: a changed state or a lost session counts
    /// only when nothing else explains it.
    pub fn signatures(&self) -> Vec<String> {
        let mut kinds = Vec::new();
        for (index, violation) in self.violations.iter().enumerate() {
            let derived = matches!(
                violation,
                Violation::StateChanged { .. } | Violation::SessionLost { .. }
            );
            let kind = violation.signature();
            if (index == 0 || !derived) && !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        kinds
    }

    pub fn report(&self) -> String {
        let mut out = String::from("messages (-> the client's answer):\n");
        for (index, message) in self.sent.iter().enumerate() {
            out.push_str(&format!("  {index:>3}  {message:?}\n"));
            if let Some(answer) = self.answers.get(index) {
                out.push_str(&format!(
                    "       -> {} results{}\n",
                    answer.results,
                    if answer.ok {
                        String::new()
                    } else {
                        format!(
                            ", error {:?} {}",
                            answer.code,
                            answer.message.clone().unwrap_or_default()
                        )
                    }
                ));
            }
        }
        out.push_str("general log of the session's thread:\n");
        for row in &self.logged {
            out.push_str(&format!(
                "  {} {}: {:?}\n",
                row.thread, row.command, row.text
            ));
        }
        out.push_str("audit log, statement events of the session:\n");
        for event in &self.audited {
            out.push_str(&format!(
                "  {} {}: {:?}\n",
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

/// The gateway, the run's database and account, and the oracle's view of both.
pub struct Harness {
    gateway: Gateway,
    token: String,
    port: u16,
    database: String,
    account: String,
    audit_seq: i64,
    last_thread: u64,
    baseline: String,
    run_id: String,
    cases: u64,
    /// The server's `log_output` before the run, when the run added `TABLE` to it.
    restore_log_output: Option<String>,
    /// The run switched the general log on.
    switched_log_on: bool,
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Another run still going keeps the log as it is: it needs it.
        let others = other_runs();
        let _ = crate::mysqlhost::root_output(&format!(
            "DROP DATABASE IF EXISTS `{}`; DROP USER IF EXISTS '{}'@'%';",
            self.database, self.account
        ));
        if others {
            return;
        }
        let mut restore = String::new();
        if self.switched_log_on {
            restore.push_str("SET GLOBAL general_log = OFF; TRUNCATE TABLE mysql.general_log;");
        }
        if let Some(output) = &self.restore_log_output {
            restore.push_str(&format!("SET GLOBAL log_output = '{output}';"));
        }
        if !restore.is_empty() {
            let _ = crate::mysqlhost::root_output(&restore);
        }
    }
}

/// Whether another fuzzing run (its `ghd_` account) is going on besides this one.
fn other_runs() -> bool {
    let output =
        crate::mysqlhost::root_output("SELECT COUNT(*) FROM mysql.user WHERE user LIKE 'ghd\\_%'");
    String::from_utf8_lossy(&output.stdout).trim() != "1"
}

impl Harness {
    pub fn start() -> Harness {
        let run_id = random_suffix();
        let database = format!("ghd_{run_id}");
        let account = format!("ghd_{run_id}");
        let password = format!("pw-{run_id}");
        // The account first: it marks this run as going on for any other run's clean-up.
        root(&format!(
            "CREATE USER '{account}'@'%' IDENTIFIED BY '{password}'; \
             GRANT ALL ON `{database}`.* TO '{account}'@'%'; CREATE DATABASE `{database}`"
        ));
        root_script(&format!("USE `{database}`;\n{FIXTURES}"));
        // The general log to the table: only there if it was off (nobody reads it, and a file
        // would grow with all of the server's traffic), added to where it goes if it was on.
        let settings = root("SELECT @@global.log_output, @@global.general_log");
        let (output, on) = settings
            .split_once('\t')
            .unwrap_or((settings.as_str(), "0"));
        let switched_log_on = on != "1";
        let restore_log_output = if output.to_ascii_uppercase().contains("TABLE") {
            None
        } else {
            let wanted = if switched_log_on || output.eq_ignore_ascii_case("NONE") {
                "TABLE".to_owned()
            } else {
                format!("{output},TABLE")
            };
            root(&format!("SET GLOBAL log_output = '{wanted}'"));
            Some(output.to_owned())
        };
        if switched_log_on {
            root("SET GLOBAL general_log = ON");
        }

        let gateway = Gateway::start_with(
            "test",
            Options {
                policy: Some(POLICY.to_owned()),
                extra: format!(
                    r#"
[mysql]
listen = "127.0.0.1:0"
shutdown_grace = "2s"

[[connections]]
name = "fuzzed"
kind = "mysql"
host = "127.0.0.1"
port = 3306
database = "{database}"
user = "{account}"
password_env = "GHD_PASSWORD"
default_level = "write"

[[connections.logins]]
level = "write"
groups = ["fuzzers"]
user = "{account}"
password_env = "GHD_PASSWORD"
"#
                ),
                env: vec![("GHD_PASSWORD".to_owned(), password)],
                ..Options::default()
            },
        );
        let listeners: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(gateway.data_dir().join("listeners.json")).unwrap(),
        )
        .unwrap();
        let port = listeners["mysql"]
            .as_str()
            .and_then(|addr| addr.parse::<std::net::SocketAddr>().ok())
            .unwrap_or_else(|| panic!("no MySQL listener in {listeners}"))
            .port();
        let token = gateway.key(IDENTITY, &["fuzzers"]);
        let mut harness = Harness {
            gateway,
            token,
            port,
            database,
            account,
            audit_seq: 0,
            last_thread: 0,
            baseline: String::new(),
            run_id,
            cases: 0,
            restore_log_output,
            switched_log_on,
        };
        harness.baseline = harness.state();
        harness.audit_events();
        harness
    }

    /// Everything the fuzzed identity must not change, one `name: value` line each.
    fn state(&self) -> String {
        let db = &self.database;
        root(&format!(
            "SELECT CONCAT_WS('  ', \
             (SELECT CONCAT('canary: ', GROUP_CONCAT(id, '=', note ORDER BY id)) FROM `{db}`.canary WHERE id <= 10), \
             (SELECT CONCAT('trap: ', COUNT(*)) FROM `{db}`.trap WHERE what IN ('function', 'procedure')), \
             (SELECT CONCAT('tables: ', GROUP_CONCAT(table_name, ':', table_type ORDER BY table_name)) FROM information_schema.tables WHERE table_schema = '{db}'), \
             (SELECT CONCAT('columns: ', COUNT(*)) FROM information_schema.columns WHERE table_schema = '{db}'), \
             (SELECT CONCAT('routines: ', GROUP_CONCAT(routine_name ORDER BY routine_name)) FROM information_schema.routines WHERE routine_schema = '{db}'), \
             (SELECT CONCAT('triggers: ', COUNT(*)) FROM information_schema.triggers WHERE trigger_schema = '{db}'), \
             (SELECT CONCAT('events: ', COUNT(*)) FROM information_schema.events WHERE event_schema = '{db}'), \
             (SELECT CONCAT('databases: ', COUNT(*)) FROM information_schema.schemata WHERE schema_name LIKE 'ghd\\_%' AND schema_name <> '{db}' AND schema_name NOT IN (SELECT CONCAT('ghd_', SUBSTRING(user, 5)) FROM mysql.user WHERE user LIKE 'ghd\\_%')), \
             CONCAT('general log: ', @@global.general_log, ' to ', @@global.log_output))"
        ))
    }

    /// Recreate the database after a case changed it.
    fn restore(&mut self) {
        let db = &self.database;
        root(&format!(
            "DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}`"
        ));
        root_script(&format!("USE `{db}`;\n{FIXTURES}"));
        if root("SELECT @@global.general_log") != "1" {
            root("SET GLOBAL general_log = ON");
        }
        self.baseline = self.state();
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

    /// Rows of the general log from the run's account on threads newer than the last case's.
    fn logged(&mut self) -> Vec<Logged> {
        let listing = root(&format!(
            "SELECT thread_id, command_type, HEX(argument) FROM mysql.general_log \
             WHERE user_host LIKE '{}[%' AND thread_id > {}",
            self.account, self.last_thread
        ));
        let rows: Vec<Logged> = listing
            .lines()
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let thread = fields.next()?.parse().ok()?;
                let command = fields.next()?.to_owned();
                let text = hex::decode(fields.next().unwrap_or_default()).ok()?;
                Some(Logged {
                    thread,
                    command,
                    text: String::from_utf8_lossy(&text).into_owned(),
                })
            })
            .collect();
        if let Some(max) = rows.iter().map(|row| row.thread).max() {
            self.last_thread = max;
        }
        // The table holds every connection's statements and is read whole each time: emptied
        // after each case while this run is the only reader (the log was off before it).
        if self.switched_log_on && !other_runs() {
            root("TRUNCATE TABLE mysql.general_log");
        }
        rows
    }

    fn gateway_problem(&self) -> Option<String> {
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
        let log = self.gateway.log();
        log.contains("panicked")
            .then(|| format!("a panic in its log:\n{log}"))
    }

    /// One PyMySQL session sending `messages`; the answers read (fewer if it hung or died).
    fn session(&self, messages: &[String]) -> (Vec<Answer>, Option<String>) {
        let script = repo_root().join("crates/gatehouse/tests/mysql_client/queries.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([
                "127.0.0.1",
                &self.port.to_string(),
                IDENTITY,
                &self.token,
                &self.gateway.ca_file().display().to_string(),
                "fuzzed",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (PyMySQL is installed by scripts/setup.sh --tests)");
        {
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(serde_json::to_string(messages).unwrap().as_bytes())
                .unwrap();
        }
        let started = Instant::now();
        let mut problem = None;
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > PATIENCE {
                let _ = child.kill();
                problem = Some(format!("the client was still waiting after {PATIENCE:?}"));
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let output = child.wait_with_output().unwrap();
        let mut answers = Vec::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            if let Some(error) = value.get("connect_error") {
                problem = Some(format!("the login failed: {error}"));
                continue;
            }
            answers.push(Answer {
                ok: value["ok"].as_bool().unwrap_or(false),
                code: value["code"].as_i64(),
                message: value["message"].as_str().map(str::to_owned),
                results: value["results"].as_array().map_or(0, Vec::len),
            });
        }
        if !output.status.success() && problem.is_none() {
            problem = Some(format!(
                "the client failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        (answers, problem)
    }

    /// Run one case and judge it.
    pub fn run(&mut self, case: &[String]) -> Run {
        let index = self.cases;
        self.cases += 1;
        let start = format!("SELECT 'ghd-{}-{index}-start'", self.run_id);
        let end = format!("SELECT 'ghd-{}-{index}-end'", self.run_id);
        let mut sent = vec![CLIENT_PREAMBLE.to_owned(), start.clone()];
        sent.extend(
            case.iter()
                .map(|message| message.replace(generate::DB, &self.database)),
        );
        sent.push(end);
        let (mut answers, problem) = self.session(&sent[1..]);
        answers.insert(
            0,
            Answer {
                ok: true,
                code: None,
                message: None,
                results: 1,
            },
        );
        let logged: Vec<Logged> = self.logged();
        let events = self.audit_events();
        let session = events
            .iter()
            .find(|e| e["statement"].as_str() == Some(start.as_str()))
            .map(|e| e["session"].clone());
        let audited: Vec<Audited> = events
            .iter()
            .filter(|e| session.as_ref().is_some_and(|s| e["session"] == *s))
            .filter_map(|e| {
                Some(Audited {
                    text: e["statement"].as_str()?.to_owned(),
                    action: e["action"].as_str().unwrap_or_default().to_owned(),
                    allowed: e["decision"].as_str() == Some("allow"),
                })
            })
            .collect();
        let after = self.state();
        let mut violations = oracle::judge(&Evidence {
            sent: &sent,
            answers: &answers,
            logged: &logged,
            audited: &audited,
            before: &self.baseline,
            after: &after,
        });
        if let Some(problem) = problem {
            violations.push(Violation::SessionLost { detail: problem });
        }
        if let Some(problem) = self.gateway_problem() {
            violations.push(Violation::Gateway { problem });
        }
        if after != self.baseline {
            self.restore();
        }
        Run {
            sent,
            answers,
            logged,
            audited,
            violations,
        }
    }

    /// `gatehouse audit verify`'s complaint, if any.
    pub fn chain_problem(&self) -> Option<String> {
        let output = self.gateway.cli(&["audit", "verify"]);
        (!output.status.success()).then(|| {
            format!(
                "gatehouse audit verify failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}

/// How long a fuzzing run goes on.
pub struct Budget {
    /// Random cases after the corpus (`None`: until `seconds` run out).
    pub cases: Option<u64>,
    pub seconds: Option<u64>,
    pub seed: u64,
}

impl Budget {
    /// From `MYSQL_DIFF_FUZZ_CASES`, `MYSQL_DIFF_FUZZ_SECONDS`, `MYSQL_DIFF_FUZZ_SEED` (decimal
    /// or 0x-hex; default: from the clock), over the defaults.
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
        let seed = number("MYSQL_DIFF_FUZZ_SEED").unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap()
        });
        Budget {
            cases: number("MYSQL_DIFF_FUZZ_CASES").or(default_cases),
            seconds: number("MYSQL_DIFF_FUZZ_SECONDS").or(default_seconds),
            seed,
        }
    }
}

/// Minimization stops after this many runs, keeping the smallest failing case so far.
const MINIMIZE_RUNS: usize = 60;

/// `fuzz/corpus/mysql_differential/`, or `MYSQL_DIFF_FUZZ_CORPUS`.
fn corpus_dir() -> PathBuf {
    std::env::var_os("MYSQL_DIFF_FUZZ_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("fuzz/corpus/mysql_differential"))
}

fn load_corpus(dir: &Path) -> Vec<(PathBuf, Vec<String>)> {
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
            let messages = case::parse_case(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            (path, messages)
        })
        .collect()
}

/// Drop messages (halves, then quarters, ... then single ones) while the case still breaks a
/// rule with `signature`.
fn minimize(harness: &mut Harness, case: &[String], signature: &str) -> (Vec<String>, usize) {
    let mut current = case.to_vec();
    let mut runs = 0;
    let mut chunk = current.len().div_ceil(2).max(1);
    loop {
        let mut at = 0;
        let mut progressed = false;
        while at < current.len() && current.len() > 1 && runs < MINIMIZE_RUNS {
            let mut candidate = current.clone();
            candidate.drain(at..(at + chunk).min(current.len()));
            runs += 1;
            let run = harness.run(&candidate);
            if run.signatures().iter().any(|kind| kind == signature) {
                current = candidate;
                progressed = true;
            } else {
                at += chunk;
            }
        }
        if runs >= MINIMIZE_RUNS || current.len() <= 1 || (chunk == 1 && !progressed) {
            return (current, runs);
        }
        if !progressed {
            chunk = chunk.div_ceil(2);
        }
    }
}

fn save(dir: &Path, signature: &str, case: &[String], run: &Run, origin: &str) -> PathBuf {
    let body = case::format_case(case);
    let digest = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(body.as_bytes())[..4])
    };
    let mut text = format!(
        "# A case the differential fuzzer of the MySQL adapter found\n\
         # (crates/gatehouse/tests/mysql_differential.rs; every run replays this directory first).\n\
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
    pub findings: Vec<String>,
    pub summary: String,
}

/// Replay the corpus, then random and mutated cases within `budget`; minimize and save each
/// new kind of finding. `gatehouse audit verify` runs every `VERIFY_EVERY` cases and at the end.
pub fn fuzz(budget: Budget) -> Report {
    const VERIFY_EVERY: u64 = 50;
    let started = Instant::now();
    let mut harness = Harness::start();
    let dir = corpus_dir();
    let corpus = load_corpus(&dir);
    let mut findings = Vec::new();
    let mut kinds: HashSet<String> = HashSet::new();
    let mut failing_replays = 0;
    let verbose = std::env::var_os("MYSQL_DIFF_FUZZ_VERBOSE").is_some();
    for (path, case) in &corpus {
        let run = harness.run(case);
        if verbose {
            println!("corpus file {}:\n{}", path.display(), run.report());
        }
        let signatures = run.signatures();
        if !signatures.is_empty() {
            failing_replays += 1;
            kinds.extend(signatures);
            findings.push(format!(
                "corpus file {} still fails:\n{}",
                path.strip_prefix(repo_root()).unwrap_or(path).display(),
                run.report()
            ));
        }
    }

    let cases_started = Instant::now();
    let mut cases = 0u64;
    let mut messages = 0usize;
    let mut failing_cases = 0u64;
    let mut minimizing_runs = 0usize;
    loop {
        if budget.cases.is_some_and(|limit| cases >= limit)
            || budget
                .seconds
                .is_some_and(|limit| started.elapsed() >= Duration::from_secs(limit))
        {
            break;
        }
        let index = cases;
        cases += 1;
        let mut rng = Rng::new(generate::case_seed(budget.seed, index));
        let case = if !corpus.is_empty() && rng.chance(25) {
            let parent = &corpus[rng.below(corpus.len())].1;
            generate::mutate(&mut rng, parent)
        } else {
            generate::random_case(&mut rng)
        };
        messages += case.len();
        let run = harness.run(&case);
        if verbose {
            println!("case {index}:\n{}", run.report());
        }
        if cases.is_multiple_of(VERIFY_EVERY)
            && let Some(problem) = harness.chain_problem()
        {
            findings.push(problem);
        }
        let signatures = run.signatures();
        if signatures.is_empty() {
            continue;
        }
        failing_cases += 1;
        for signature in signatures {
            if !kinds.insert(signature.clone()) {
                continue;
            }
            let found = format!(
                "case {index} of MYSQL_DIFF_FUZZ_SEED={:#x}, {} messages",
                budget.seed,
                case.len()
            );
            println!("new finding [{signature}] in {found}:\n{}", run.report());
            let (minimal, runs) = minimize(&mut harness, &case, &signature);
            minimizing_runs += runs;
            let confirmed = harness.run(&minimal);
            let origin = format!(
                "found: {found}; minimized to {} messages in {runs} runs",
                minimal.len()
            );
            let (kept, kept_run) = if confirmed.signatures().contains(&signature) {
                (minimal, &confirmed)
            } else {
                (case.clone(), &run)
            };
            let path = save(&dir, &signature, &kept, kept_run, &origin);
            findings.push(format!(
                "new finding [{signature}], saved as {}\n{origin}\n{}",
                path.strip_prefix(repo_root()).unwrap_or(&path).display(),
                kept_run.report()
            ));
        }
    }
    let case_seconds = cases_started.elapsed().as_secs_f64();
    if let Some(problem) = harness.chain_problem() {
        findings.push(problem);
    }
    let summary = format!(
        "mysql differential fuzzer: seed {:#x}; corpus {} files ({} failing); {} random/mutated cases ({} messages) in {:.1} s = {:.1} cases/s; {} cases broke a rule; {} minimization runs; {:.1} s overall; {} findings",
        budget.seed,
        corpus.len(),
        failing_replays,
        cases,
        messages,
        case_seconds,
        cases as f64 / case_seconds.max(0.001),
        failing_cases,
        minimizing_runs,
        started.elapsed().as_secs_f64(),
        findings.len()
    );
    Report { findings, summary }
}
