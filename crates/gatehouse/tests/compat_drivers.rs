//! The drivers people connect with work through gatehouse as they do against PostgreSQL
//! directly, driven by the drivers themselves rather than by hand-made protocol messages:
//! psycopg 3 (`tests/compat/psycopg_compat.py`: named, scrollable and WITH HOLD cursors,
//! prepared statements evicted by Close and by `DEALLOCATE`, `backend_pid` and notification
//! pids, `pg_terminate_backend` of one's own pid, cancel over TLS with libpq ≥ 17, a LATIN9
//! client encoding) and node-postgres (`tests/compat/node_compat.js`: named queries,
//! `pg-cursor`, `pg-query-stream`, `processID`, notification pids, syntax errors, TLS with the
//! gateway's CA). Each script runs as an `admins` identity, which sees values as stored, and as
//! a `readers` identity on a masking connection, which must read the same rows through every
//! path with the sensitive columns masked and get gatehouse's 42501 for what it may not do,
//! the session going on. `tokio-postgres` is covered by `driver_compat.rs`.
//!
//! The drivers are real packages pinned in the repository: `.ci/run` installs them; run
//! locally, a missing one fails the test with the command that installs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use support::{Gateway, Options, TestDb};

/// The psycopg release the suite is pinned to (its wheel bundles libpq 18).
const PSYCOPG: &str = "3.3.9";

/// `people` as both scripts expect it: 50 rows with an email and a card number, which the
/// masking connection hides from readers, and a note, which it leaves alone.
const PEOPLE: &str = "CREATE TABLE people (id int PRIMARY KEY, email text, card text, note text);
    INSERT INTO people
      SELECT n, 'user' || n || '@example.com', '4111 1111 1111 1111', 'note ' || n
      FROM generate_series(1, 50) AS n";

/// How long one script may run (the slowest, psycopg's, takes seconds).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn compat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat")
}

fn missing(what: &str, install: &str) -> ! {
    let context = if std::env::var_os("CI").is_some() {
        ".ci/run should have installed it"
    } else {
        "tests do not skip"
    };
    panic!("{what} is not installed ({context}): run `{install}`")
}

fn require_psycopg() {
    let install = format!("python3 -m pip install 'psycopg[binary]=={PSYCOPG}'");
    let probe = format!(
        "import importlib.metadata as m, psycopg; \
         assert m.version('psycopg') == '{PSYCOPG}', m.version('psycopg'); \
         assert psycopg.pq.version() >= 170000, psycopg.pq.version()"
    );
    let output = Command::new("python3").args(["-c", &probe]).output();
    match output {
        Ok(output) if output.status.success() => {}
        Ok(output) => missing(
            &format!(
                "psycopg {PSYCOPG} with libpq >= 17 ({})",
                String::from_utf8_lossy(&output.stderr).trim()
            ),
            &install,
        ),
        Err(error) => missing(&format!("python3 ({error})"), &install),
    }
}

fn require_node_packages() {
    let install = format!("npm ci --prefix {}", compat_dir().display());
    for package in ["pg", "pg-cursor", "pg-query-stream"] {
        if !compat_dir()
            .join("node_modules")
            .join(package)
            .join("package.json")
            .exists()
        {
            missing(&format!("the npm package `{package}`"), &install);
        }
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing("node", "apt-get install nodejs");
    }
}

/// A database with `people`, behind a gateway whose `demo` connection masks with the built-in
/// detectors (admins see raw values, everyone else masked ones).
async fn masked_gateway() -> (TestDb, Gateway) {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute(PEOPLE)
        .await
        .expect("create people");
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            demo_extra: "[connections.masking]\n".into(),
            ..Options::default()
        },
    );
    (db, gateway)
}

/// Run `program script --mode MODE` against `gateway`, as `root` in `admins` or as `ana` in
/// `readers` (who also gets an admins identity to compare with); returns its stdout, failing the
/// test with everything it printed, and the gateway's log, when it does not exit with success.
fn run_script(gateway: &Gateway, program: &str, script: &str, mode: &str) -> String {
    let (user, groups) = match mode {
        "admins" => ("root", ["admins"]),
        _ => ("ana", ["readers"]),
    };
    let token = gateway.key(user, &groups);
    let stdout_path = gateway.dir.path().join(format!("{script}.{mode}.stdout"));
    let stderr_path = gateway.dir.path().join(format!("{script}.{mode}.stderr"));
    let mut command = Command::new(program);
    command
        .arg(compat_dir().join(script))
        .args(["--mode", mode])
        .current_dir(compat_dir())
        .env("COMPAT_HOST", gateway.pg_addr.ip().to_string())
        .env("COMPAT_PORT", gateway.pg_addr.port().to_string())
        .env("COMPAT_DBNAME", "demo")
        .env("COMPAT_USER", user)
        .env("COMPAT_PASSWORD", &token)
        .env("COMPAT_CA_FILE", gateway.ca_file())
        .env("COMPAT_MODE", mode)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // Nothing from the environment decides where the drivers connect or how.
    for name in [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGOPTIONS",
        "PGCLIENTENCODING",
        "PGSERVICE",
    ] {
        command.env_remove(name);
    }
    if mode == "readers" {
        command
            .env("COMPAT_ADMIN_USER", "root")
            .env("COMPAT_ADMIN_PASSWORD", gateway.key("root", &["admins"]));
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("run {program} {script}: {error}"));
    let status = support::wait_or_kill(&mut child, SCRIPT_TIMEOUT);
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let succeeded = status.is_some_and(|status| status.success());
    if !succeeded {
        let log = gateway.log();
        let lines: Vec<&str> = log.lines().collect();
        let log_tail = lines[lines.len().saturating_sub(40)..].join("\n");
        let how = status.map_or_else(
            || format!("was still running after {SCRIPT_TIMEOUT:?} (killed)"),
            |status| format!("exited with {status}"),
        );
        panic!(
            "{program} {script} --mode {mode} {how}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- gateway log (last 40 lines) ---\n{log_tail}"
        );
    }
    // Shown with `--no-capture`: which checks ran, and what they saw.
    println!("{stdout}");
    stdout
}

/// Every check ran and passed: the script's summary line says how many.
fn assert_summary(stdout: &str, driver: &str, mode: &str, checks: usize) {
    let summary = format!("{driver} compat ({mode}): {checks} checks passed, 0 failed");
    assert!(
        stdout.lines().any(|line| line == summary),
        "expected `{summary}`:\n{stdout}"
    );
}

/// Readers' refusals are gatehouse's, so they are in the audit log as denials.
fn assert_readers_refusals_audited(gateway: &Gateway) {
    let events = gateway.audit_events();
    for action in ["sql:insert", "sql:delete", "sql:admin"] {
        assert!(
            events.iter().any(|e| e["kind"] == "statement"
                && e["decision"] == "deny"
                && e["action"] == action),
            "no denied {action} in the audit log"
        );
    }
}

#[tokio::test]
async fn psycopg_works_through_the_gateway_as_admins() {
    require_psycopg();
    let (_db, gateway) = masked_gateway().await;
    let stdout = run_script(&gateway, "python3", "psycopg_compat.py", "admins");
    assert_summary(&stdout, "psycopg", "admins", 17);
}

#[tokio::test]
async fn psycopg_reads_the_same_masked_as_readers_and_is_refused_what_readers_may_not_do() {
    require_psycopg();
    let (_db, gateway) = masked_gateway().await;
    let stdout = run_script(&gateway, "python3", "psycopg_compat.py", "readers");
    assert_summary(&stdout, "psycopg", "readers", 17);
    assert_readers_refusals_audited(&gateway);
}

#[tokio::test]
async fn node_postgres_works_through_the_gateway_as_admins() {
    require_node_packages();
    let (_db, gateway) = masked_gateway().await;
    let stdout = run_script(&gateway, "node", "node_compat.js", "admins");
    assert_summary(&stdout, "node-postgres", "admins", 13);
}

#[tokio::test]
async fn node_postgres_reads_the_same_masked_as_readers_and_is_refused_what_readers_may_not_do() {
    require_node_packages();
    let (_db, gateway) = masked_gateway().await;
    let stdout = run_script(&gateway, "node", "node_compat.js", "readers");
    assert_summary(&stdout, "node-postgres", "readers", 13);
    assert_readers_refusals_audited(&gateway);
}
