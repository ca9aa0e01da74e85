//! The server enforces what policy decided, end to end with the real binary and the real
//! PostgreSQL: `gatehouse db-roles --apply` creates a read and a write login (roles of the
//! test's own) in a database of the test's own, `[[connections.logins]]` maps readers,
//! writers and admins to them, and the gateway's policy permits *everything* to readers (a
//! classifier that was fooled). Every way a reader might change something then fails at the
//! server, and the database is checked directly afterwards; readers still read, writers
//! write, only admins run DDL, and each `connect` event names the level. The SQL `db-roles`
//! prints runs in psql, `--apply` twice changes nothing, mistakes in the logins' config are
//! named, and `serve` warns when readers would log in as a superuser.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use support::{Gateway, Options, TestDb, binary, message, random_suffix, sqlstate};

/// Readers, writers, admins and auditors may do anything as far as policy is concerned.
const PERMIT_EVERYTHING: &str = r#"
@id("readers-anything") permit (principal in Gatehouse::Group::"readers", action, resource);
@id("writers-anything") permit (principal in Gatehouse::Group::"writers", action, resource);
@id("admins-anything") permit (principal in Gatehouse::Group::"admins", action, resource);
@id("auditors-anything") permit (principal in Gatehouse::Group::"auditors", action, resource);
"#;

/// What the test database holds, created by the superuser before the logins are.
const OBJECTS: &str = "
CREATE TABLE canary (id int PRIMARY KEY, v text);
INSERT INTO canary VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE SEQUENCE seq1;
CREATE FUNCTION purge_canary(victim int) RETURNS int LANGUAGE plpgsql SECURITY INVOKER AS $$
BEGIN DELETE FROM canary WHERE id = victim; RETURN victim; END $$;
CREATE VIEW purge_view AS SELECT purge_canary(1) AS purged;
CREATE FUNCTION purge_definer(victim int) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN DELETE FROM canary WHERE id = victim; RETURN victim; END $$;
";

/// Roles of the test's own, dropped with everything granted to them when the test ends.
struct TestRoles {
    database: String,
    names: Vec<String>,
}

impl TestRoles {
    fn new(db: &TestDb, names: &[&str]) -> TestRoles {
        TestRoles {
            database: db.name.clone(),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }
}

impl Drop for TestRoles {
    fn drop(&mut self) {
        let list = self.names.join(", ");
        for (database, sql) in [
            (self.database.as_str(), format!("DROP OWNED BY {list}")),
            ("postgres", format!("DROP ROLE IF EXISTS {list}")),
        ] {
            let _ = Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qc"])
                .arg(sql)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The `demo` connection's logins: admins → its own login, writers → `write`, readers →
/// `read`, everyone else → `read`; passwords in files under `secrets`.
fn logins_toml(secrets: &Path, read: &str, write: &str) -> String {
    format!(
        r#"default_level = "read"

[[connections.logins]]
level = "admin"
groups = ["admins"]

[[connections.logins]]
level = "write"
groups = ["writers"]
user = "{write}"
password_file = "{secrets}/write.password"

[[connections.logins]]
level = "read"
groups = ["readers"]
user = "{read}"
password_file = "{secrets}/read.password"
"#,
        secrets = secrets.display()
    )
}

/// A config with only the `demo` connection to `database` (plus `logins`), for `db-roles`.
fn connection_config(dir: &Path, database: &str, logins: &str) -> PathBuf {
    let path = dir.join("db-roles.toml");
    std::fs::write(
        &path,
        format!(
            "[[connections]]\nname = \"demo\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = 5432\n\
             database = \"{database}\"\nuser = \"postgres\"\n{logins}"
        ),
    )
    .unwrap();
    path
}

fn db_roles(config: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(["db-roles", "demo"])
        .args(args)
        .output()
        .unwrap()
}

fn succeeded(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The database, its roles (created by `db-roles --apply`), and a gateway in front of it.
struct Fixture {
    gateway: Gateway,
    read: String,
    write: String,
    secrets: tempfile::TempDir,
    direct: tokio_postgres::Client,
    _roles: TestRoles,
    _db: TestDb,
}

async fn fixture() -> Fixture {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct.batch_execute(OBJECTS).await.unwrap();
    let suffix = random_suffix();
    let (read, write) = (format!("gh_read_{suffix}"), format!("gh_write_{suffix}"));
    let roles = TestRoles::new(&db, &[&read, &write]);
    let secrets = tempfile::tempdir().unwrap();
    let logins = logins_toml(secrets.path(), &read, &write);
    let config = connection_config(secrets.path(), &db.name, &logins);
    succeeded(&db_roles(&config, &["--apply"]), "db-roles --apply");
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            policy: Some(PERMIT_EVERYTHING.to_owned()),
            demo_extra: logins,
            ..Options::default()
        },
    );
    Fixture {
        gateway,
        read,
        write,
        secrets,
        direct,
        _roles: roles,
        _db: db,
    }
}

async fn current_user(client: &tokio_postgres::Client) -> String {
    let rows = client.simple_query("SELECT current_user").await.unwrap();
    match &rows[1] {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).unwrap().to_owned(),
        other => panic!("no row: {other:?}"),
    }
}

/// `sql` as a reader, in a session of its own: it must fail with the server's own error (not
/// gatehouse's refusal: policy permitted it), with one of `sqlstates`.
async fn refused_by_the_server(gateway: &Gateway, token: &str, sql: &str, sqlstates: &[&str]) {
    let client = gateway.connect("ana", token).await.unwrap();
    let error = client
        .simple_query(sql)
        .await
        .expect_err(&format!("the server ran `{sql}` for a reader"));
    let state = sqlstate(&error).unwrap_or_default();
    let text = message(&error);
    assert!(
        !text.starts_with("gatehouse"),
        "`{sql}` was refused by gatehouse, not the server: {text}"
    );
    assert!(
        sqlstates.contains(&state.as_str()),
        "`{sql}` failed with {state} {text}, expected one of {sqlstates:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fooled_classifier_cannot_make_a_reader_change_anything() {
    let fixture = fixture().await;
    let gateway = &fixture.gateway;
    let ana = gateway.key("ana", &["readers"]);
    let reader = gateway.connect("ana", &ana).await.unwrap();
    assert_eq!(current_user(&reader).await, fixture.read);

    // Each statement fails at the server; the read-only default may be what stops it first...
    let statements = [
        "DELETE FROM canary WHERE id = 1",
        "SELECT purge_canary(1)",
        "SELECT * FROM purge_view",
        "SELECT ('seq1'::regclass).nextval",
        "SELECT (0::oid).lo_create",
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT pg_advisory_lock(1)",
        "SELECT txid_current()",
        "CREATE TEMP TABLE t(x int)",
        "SET log_statement = 'none'",
        "SELECT * FROM pg_hba_file_rules",
        // (limited to this test's database: were it to run, only this test's sessions end)
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'postgres' AND datname = current_database()",
        "SELECT purge_definer(2)",
        "CREATE FUNCTION planted() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ];
    for sql in statements {
        refused_by_the_server(gateway, &ana, sql, &["42501", "25006"]).await;
        // ... but it is not the barrier: with the session read-write, privileges refuse it.
        let read_write = format!("BEGIN READ WRITE; {sql}");
        refused_by_the_server(gateway, &ana, &read_write, &["42501"]).await;
    }
    for sql in [
        "RESET ROLE; DELETE FROM canary WHERE id = 1",
        "SET default_transaction_read_only = off; DELETE FROM canary WHERE id = 1",
        "SELECT set_config('role', 'postgres', false)",
    ] {
        refused_by_the_server(gateway, &ana, sql, &["42501", "25006"]).await;
    }

    // Nothing changed.
    let direct = &fixture.direct;
    let rows: Vec<(i32, String)> = direct
        .query("SELECT id, v FROM canary ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        rows,
        [
            (1, "one".to_owned()),
            (2, "two".to_owned()),
            (3, "three".to_owned())
        ]
    );
    let sequence = direct
        .query_one("SELECT is_called FROM seq1", &[])
        .await
        .unwrap();
    assert!(!sequence.get::<_, bool>(0), "seq1 was advanced");
    for (check, what) in [
        (
            "SELECT count(*) FROM pg_largeobject_metadata",
            "large objects",
        ),
        (
            "SELECT count(*) FROM pg_proc WHERE proname = 'planted'",
            "planted functions",
        ),
    ] {
        // (the superuser's own session, which the reader tried to terminate, still answers)
        let found: i64 = direct.query_one(check, &[]).await.unwrap().get(0);
        assert_eq!(found, 0, "{what}");
    }
    // Policy let every one of them through: the audit log shows them allowed.
    let events = gateway.audit_events();
    assert!(events.iter().any(|e| e["kind"] == "statement"
        && e["decision"] == "allow"
        && e["statement"] == "SELECT (0::oid).lo_create"));
    assert!(
        !events
            .iter()
            .any(|e| e["kind"] == "statement" && e["decision"] != "allow"),
        "gatehouse refused something itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_read_writers_write_and_only_admins_run_ddl() {
    let fixture = fixture().await;
    let gateway = &fixture.gateway;
    let direct = &fixture.direct;

    let ana = gateway.key("ana", &["readers"]);
    let reader = gateway.connect("ana", &ana).await.unwrap();
    let two = reader
        .query_one("SELECT v FROM canary WHERE id = 2", &[])
        .await
        .unwrap();
    assert_eq!(two.get::<_, String>(0), "two");

    let wes = gateway.key("wes", &["writers", "readers"]);
    let writer = gateway.connect("wes", &wes).await.unwrap();
    assert_eq!(current_user(&writer).await, fixture.write);
    writer
        .batch_execute(
            "INSERT INTO canary VALUES (10, 'ten'); UPDATE canary SET v = 'TEN' WHERE id = 10; \
             DELETE FROM canary WHERE id = 3; SELECT nextval('seq1'); \
             CREATE TEMP TABLE scratch (x int); SELECT pg_advisory_lock(7); SELECT purge_definer(1)",
        )
        .await
        .unwrap();
    let ids: Vec<i32> = direct
        .query("SELECT id FROM canary ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(ids, [2, 10]);
    let error = writer
        .batch_execute("CREATE TABLE by_writer (x int)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error:?}");
    assert!(!message(&error).starts_with("gatehouse"));

    let ada = gateway.key("ada", &["admins", "readers"]);
    let admin = gateway.connect("ada", &ada).await.unwrap();
    assert_eq!(current_user(&admin).await, "postgres");
    admin
        .batch_execute("CREATE TABLE by_admin (x int); INSERT INTO by_admin VALUES (1)")
        .await
        .unwrap();
    // What the admin creates later is readable by readers (default privileges).
    let made: i64 = reader
        .query_one("SELECT count(*) FROM by_admin", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(made, 1);

    // Identities no entry names get the default level, not the connection's own login.
    let oscar = gateway.key("oscar", &["auditors"]);
    let other = gateway.connect("oscar", &oscar).await.unwrap();
    assert_eq!(current_user(&other).await, fixture.read);

    let events = gateway.audit_events();
    for (subject, level) in [
        ("ana", "read"),
        ("wes", "write"),
        ("ada", "admin"),
        ("oscar", "read"),
    ] {
        let connect = events
            .iter()
            .find(|e| {
                e["kind"] == "connect"
                    && e["action"] == "connect"
                    && e["identity"]["subject"] == subject
            })
            .unwrap_or_else(|| panic!("no connect event for {subject}"));
        assert_eq!(
            connect["detail"],
            format!("server login level `{level}`"),
            "{subject}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_grant_gives_the_next_session_the_login_of_its_group() {
    let fixture = fixture().await;
    let gateway = &fixture.gateway;
    let rae = gateway.key("rae", &["readers"]);
    let ada = gateway.key("ada", &["admins"]);
    let requested = gateway.cli_as(
        &rae,
        &[
            "access",
            "request",
            "demo",
            "--group",
            "writers",
            "--for",
            "10m",
            "--reason",
            "fix order 1234",
            "--output",
            "json",
        ],
    );
    let requested: serde_json::Value =
        serde_json::from_str(&succeeded(&requested, "access request")).unwrap();
    let id = requested["approval_id"].as_str().unwrap();
    succeeded(
        &gateway.cli_as(&ada, &["approvals", "approve", id]),
        "approve",
    );
    // Grant lookups are cached for a second: a new session sees the grant soon after.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let session = gateway.connect("rae", &rae).await.unwrap();
        if current_user(&session).await == fixture.write {
            session
                .batch_execute("INSERT INTO canary VALUES (20, 'granted')")
                .await
                .unwrap();
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the grant never chose the write login"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let connect = gateway
        .audit_events()
        .into_iter()
        .rev()
        .find(|e| e["action"] == "connect" && e["identity"]["subject"] == "rae")
        .unwrap();
    let detail = connect["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("approval {id}")) && detail.contains("server login level `write`"),
        "{detail}"
    );
}

/// The privileges and attributes `db-roles` manages, as one comparable text.
async fn privileges(direct: &tokio_postgres::Client, roles: &[&str]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
    let rows = direct
        .query(
            "SELECT 'role ' || rolname || ' ' || concat_ws(',', rolsuper, rolcreatedb, rolcreaterole, rolreplication, \
                    rolbypassrls, rolinherit, rolcanlogin) || ' ' || coalesce(array_to_string(rolconfig, ','), '') \
             FROM pg_roles WHERE rolname = ANY($1) \
             UNION ALL SELECT 'database ' || datacl::text FROM pg_database WHERE datname = current_database() \
             UNION ALL SELECT 'schema ' || nspname || ' ' || nspacl::text FROM pg_namespace WHERE nspname = 'public' \
             UNION ALL SELECT 'relation ' || relname || ' ' || relacl::text FROM pg_class \
                       WHERE relnamespace = 'public'::regnamespace AND relacl IS NOT NULL \
             UNION ALL SELECT 'routine ' || oid::regprocedure || ' ' || proacl::text FROM pg_proc WHERE proacl IS NOT NULL \
             UNION ALL SELECT 'default ' || defaclobjtype::text || ' ' || defaclacl::text FROM pg_default_acl \
             ORDER BY 1",
            &[&roles],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|row| row.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_roles_prints_sql_psql_runs_and_applying_it_again_changes_nothing() {
    let db = TestDb::create().await;
    let direct = db.direct().await;
    direct.batch_execute(OBJECTS).await.unwrap();
    let suffix = random_suffix();
    let (read, write) = (format!("gh_read_{suffix}"), format!("gh_write_{suffix}"));
    let _roles = TestRoles::new(&db, &[&read, &write]);
    let secrets = tempfile::tempdir().unwrap();
    let logins = format!(
        "default_level = \"read\"\n[[connections.logins]]\nlevel = \"read\"\ngroups = [\"readers\"]\nuser = \"{read}\"\n\
         [[connections.logins]]\nlevel = \"write\"\ngroups = [\"writers\"]\nuser = \"{write}\"\n"
    );
    let config = connection_config(secrets.path(), &db.name, &logins);

    // Printed: SQL alone on stdout, passwords shown once on stderr and not in the SQL.
    let printed = db_roles(&config, &[]);
    let sql = succeeded(&printed, "db-roles");
    let stderr = String::from_utf8_lossy(&printed.stderr).into_owned();
    let shown: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.split_once("shown once").map(|(_, rest)| rest))
        .filter_map(|rest| rest.rsplit_once(": ").map(|(_, password)| password.trim()))
        .collect();
    assert_eq!(shown.len(), 2, "{stderr}");
    for password in &shown {
        assert!(password.len() >= 40, "{password}");
        assert!(!sql.contains(password), "a password is in the SQL");
    }
    assert!(sql.contains("SCRAM-SHA-256$4096:"));
    assert!(sql.contains("REVOKE TEMPORARY ON DATABASE"));
    for _ in 0..2 {
        let mut psql = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", &db.name])
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        psql.stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .unwrap();
        let ran = psql.wait_with_output().unwrap();
        assert!(
            ran.status.success(),
            "psql refused the SQL: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
    }
    let check = |sql: String| {
        let direct = &direct;
        async move { direct.query_one(&sql, &[]).await.unwrap().get::<_, bool>(0) }
    };
    let attributes = format!(
        "SELECT NOT (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls OR rolinherit) \
         AND rolcanlogin AND rolconfig = '{{default_transaction_read_only=on}}' FROM pg_roles WHERE rolname = '{read}'"
    );
    assert!(
        check(attributes).await,
        "the read login is LOGIN and nothing else"
    );
    for (question, expected) in [
        (
            format!("has_database_privilege('{read}', current_database(), 'TEMP')"),
            false,
        ),
        (
            format!("has_database_privilege('{write}', current_database(), 'TEMP')"),
            true,
        ),
        (
            format!("has_schema_privilege('{write}', 'public', 'CREATE')"),
            false,
        ),
        (
            format!("has_table_privilege('{read}', 'canary', 'SELECT')"),
            true,
        ),
        (
            format!("has_table_privilege('{read}', 'canary', 'DELETE')"),
            false,
        ),
        (
            format!("has_table_privilege('{write}', 'canary', 'DELETE')"),
            true,
        ),
        (
            format!("has_table_privilege('{write}', 'canary', 'TRUNCATE')"),
            false,
        ),
        (
            format!("has_function_privilege('{read}', 'purge_definer(int)', 'EXECUTE')"),
            false,
        ),
        (
            format!("has_function_privilege('{write}', 'purge_definer(int)', 'EXECUTE')"),
            true,
        ),
        (
            format!("has_function_privilege('{read}', 'pg_advisory_lock(bigint)', 'EXECUTE')"),
            false,
        ),
        (
            format!("has_function_privilege('{write}', 'lo_create(oid)', 'EXECUTE')"),
            true,
        ),
        (
            format!("has_function_privilege('{read}', 'txid_current()', 'EXECUTE')"),
            false,
        ),
        (
            format!(
                "has_function_privilege('{write}', 'pg_terminate_backend(int, bigint)', 'EXECUTE')"
            ),
            false,
        ),
        (
            "has_function_privilege('public', 'lo_create(oid)', 'EXECUTE')".to_owned(),
            false,
        ),
    ] {
        assert_eq!(
            check(format!("SELECT {question}")).await,
            expected,
            "{question}"
        );
    }

    // Applied (JSON for programs): the roles existed, passwords now kept in files (0600).
    let before = privileges(&direct, &[&read, &write]).await;
    let dir = secrets.path().join("passwords");
    let dir_arg = dir.display().to_string();
    let apply = |extra: &[&str]| {
        let mut args = vec!["--apply", "--password-dir", &dir_arg, "--output", "json"];
        args.extend(extra);
        let output = db_roles(&config, &args);
        serde_json::from_str::<serde_json::Value>(&succeeded(&output, "db-roles --apply")).unwrap()
    };
    let first = apply(&[]);
    assert_eq!(first["applied"], true);
    let file = dir.join(format!("{read}.password"));
    for login in first["logins"].as_array().unwrap() {
        assert_eq!(login["created"], false, "{login}");
        assert!(
            login["password"].is_null(),
            "a kept password is never shown"
        );
        assert!(
            login["password_file"]
                .as_str()
                .unwrap()
                .ends_with(".password")
        );
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let password = std::fs::read_to_string(&file).unwrap();
    assert!(!first["sql"].as_str().unwrap().contains(password.trim()));
    let after_first = privileges(&direct, &[&read, &write]).await;
    assert_eq!(
        before, after_first,
        "applying what psql ran changed privileges"
    );
    let second = apply(&[]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        password,
        "the kept password is reused"
    );
    assert_eq!(second["logins"][0]["created"], false);
    assert_eq!(after_first, privileges(&direct, &[&read, &write]).await);

    // An application schema named with --schema must exist.
    let output = db_roles(
        &config,
        &["--apply", "--schema", "nosuch", "--password-dir", &dir_arg],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("schema \"nosuch\" does not exist"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_the_roles_and_says_so() {
    let db = TestDb::create().await;
    let suffix = random_suffix();
    let connection = format!("c{suffix}");
    let (read, write) = (
        format!("gatehouse_{connection}_read"),
        format!("gatehouse_{connection}_write"),
    );
    let _roles = TestRoles::new(&db, &[&read, &write]);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[[connections]]\nname = \"{connection}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\n\
             database = \"{}\"\nuser = \"postgres\"\n",
            db.name
        ),
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .args(["db-roles", &connection, "--apply"])
        .output()
        .unwrap();
    let stdout = succeeded(&output, "db-roles --apply");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains(&read) && stdout.contains("created"),
        "{stdout}"
    );
    // Roles named predictably; passwords shown once; how to map them is explained.
    assert_eq!(stderr.matches("shown once").count(), 2, "{stderr}");
    assert!(stderr.contains("[[connections.logins]]"), "{stderr}");
    let again = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .args(["db-roles", &connection, "--apply"])
        .output()
        .unwrap();
    let stdout = succeeded(&again, "db-roles --apply again");
    assert!(stdout.contains("already existed"), "{stdout}");
    assert!(
        !String::from_utf8_lossy(&again.stderr).contains("shown once"),
        "an existing role's password is not replaced"
    );
}

/// Wait (bounded) for the gateway's log to contain every one of `words` on one line.
fn wait_for_log_line(gateway: &Gateway, words: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = gateway.log();
        if let Some(line) = log
            .lines()
            .find(|line| words.iter().all(|w| line.contains(w)))
        {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no log line with {words:?}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_warns_when_readers_would_log_in_as_a_superuser() {
    let db = TestDb::create().await;
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            demo_extra: "default_level = \"read\"\n[[connections.logins]]\nlevel = \"read\"\n\
                         groups = [\"readers\"]\nuser = \"postgres\"\n"
                .to_owned(),
            ..Options::default()
        },
    );
    let line = wait_for_log_line(&gateway, &["WARN", "connection `demo`", "level `read`"]);
    assert!(
        line.contains("superuser") && line.contains("`readers`"),
        "{line}"
    );
    assert!(line.contains("gatehouse db-roles demo"), "{line}");

    // Without logins, every identity uses the connection's own login: also worth a warning.
    let legacy = Gateway::start(&db.name);
    let line = wait_for_log_line(&legacy, &["WARN", "connection `demo`", "level `admin`"]);
    assert!(
        line.contains("every identity") && line.contains("superuser"),
        "{line}"
    );
}

/// Run `gatehouse serve` with a config that is expected to be refused at start.
fn serve_refuses(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(
        &path,
        format!(
            "[postgres]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [[connections]]\nname = \"demo\"\nkind = \"postgres\"\n{config}"
        ),
    )
    .unwrap();
    let output = Command::new(binary())
        .arg("--config")
        .arg(&path)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("serve")
        .output()
        .unwrap();
    assert!(!output.status.success(), "accepted: {config}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn mistakes_in_logins_refuse_to_start_and_name_the_key() {
    let direct = "host = \"127.0.0.1\"\ndatabase = \"postgres\"\nuser = \"postgres\"\n";
    for (config, named) in [
        (
            format!("{direct}[[connections.logins]]\nlevel = \"read\"\ngroups = [\"readers\"]\nuser = \"r\"\n"),
            "no `default_level`",
        ),
        (
            format!("{direct}default_level = \"read\"\n[[connections.logins]]\nlevel = \"read\"\ngroups = [\"readers\"]\n"),
            "level `read` needs `user`",
        ),
        (
            format!("{direct}default_level = \"reader\"\n[[connections.logins]]\nlevel = \"read\"\nuser = \"r\"\n"),
            "`default_level = \"reader\"` names no [[connections.logins]] level",
        ),
        (
            format!("{direct}default_level = \"admin\"\n[[connections.logins]]\nlevel = \"admin\"\nuser = \"x\"\n"),
            "sets `user`, but level `admin` is the connection's own login",
        ),
        (
            format!("{direct}default_level = \"read\"\n[[connections.logins]]\nlevel = \"Read Only\"\nuser = \"r\"\n"),
            "level `Read Only` is not a level name",
        ),
        (
            format!("{direct}default_level = \"read\"\n[[connections.logins]]\nlevel = \"read\"\nuser = \"r\"\npasword_file = \"p\"\n"),
            "pasword_file",
        ),
        (
            "agents = [\"dc1\"]\ndefault_level = \"read\"\n[[connections.logins]]\nlevel = \"read\"\nuser = \"r\"\n".to_owned(),
            "the login's `user` and password belong in the agents' own config",
        ),
    ] {
        let stderr = serve_refuses(&config);
        assert!(stderr.contains(named), "{config}\nsaid: {stderr}");
    }
}

/// The fixture's passwords stay out of the gateway's log and data directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_passwords_are_never_logged() {
    let fixture = fixture().await;
    let gateway = &fixture.gateway;
    let ana = gateway.key("ana", &["readers"]);
    gateway.connect("ana", &ana).await.unwrap();
    for file in ["read.password", "write.password"] {
        let password = std::fs::read_to_string(fixture.secrets.path().join(file)).unwrap();
        let password = password.trim();
        assert!(!gateway.log().contains(password));
        let exported = serde_json::to_string(&gateway.audit_events()).unwrap();
        assert!(!exported.contains(password));
    }
}
