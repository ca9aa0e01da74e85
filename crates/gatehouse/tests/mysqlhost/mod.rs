//! What the MySQL tests share: a database of their own on the machine's MariaDB (created as
//! `root` with the `mariadb` CLI), least-privileged accounts per access level (readers may
//! only `SELECT`, writers may also change rows), a gateway whose `kind = "mysql"` connection
//! `shop` reaches that database with those accounts and masks its results, and the stock
//! `mariadb` client run through it over verified TLS with a gatehouse token as the password.

// Shared by several test binaries, each of which uses part of it.
#![allow(dead_code)]

use crate::support::{Gateway, Options, random_suffix};
use std::net::SocketAddr;
use std::process::{Command, Output};

/// A gateway in front of a MariaDB database of the test's own.
pub struct MysqlHost {
    pub gateway: Gateway,
    pub database: String,
    pub mysql_addr: SocketAddr,
    accounts: Vec<String>,
}

impl Drop for MysqlHost {
    fn drop(&mut self) {
        let mut cleanup = format!("DROP DATABASE IF EXISTS `{}`;", self.database);
        for account in &self.accounts {
            cleanup.push_str(&format!("DROP USER IF EXISTS '{account}'@'%';"));
        }
        let _ = root_output(&cleanup);
    }
}

/// Run `sql` on MariaDB as `root`, directly (not through gatehouse).
pub fn root_output(sql: &str) -> Output {
    Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            "3306",
            "-u",
            "root",
            "--batch",
            "--skip-column-names",
            "-e",
            sql,
        ])
        .output()
        .expect("the `mariadb` client (Debian mariadb-client) is on the machine")
}

/// `sql`'s output as `root`; panics when it fails.
pub fn root(sql: &str) -> String {
    let output = root_output(sql);
    assert!(output.status.success(), "{sql}: {}", shown(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A client's exit status, stdout and stderr, for assertion messages.
pub fn shown(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

impl MysqlHost {
    /// A gateway under the quickstart policy with `masking` (TOML inside
    /// `[connections.masking]`) on connection `shop`, whose database holds `setup` (SQL run as
    /// root in it).
    pub fn start(setup: &str, masking: &str) -> MysqlHost {
        MysqlHost::start_with(setup, masking, Options::default(), false)
    }

    /// With `readers_as_root`, readers log in to MariaDB as `root` (the classifier alone must
    /// stop what they try); otherwise as an account that may only `SELECT`.
    pub fn start_with(
        setup: &str,
        masking: &str,
        mut options: Options,
        readers_as_root: bool,
    ) -> MysqlHost {
        let suffix = random_suffix();
        let database = format!("gh_mysql_{suffix}");
        let reader = format!("gh_{suffix}_r");
        let writer = format!("gh_{suffix}_w");
        root(&format!(
            "CREATE DATABASE `{database}`; USE `{database}`; {setup}; \
             CREATE USER '{reader}'@'%' IDENTIFIED BY 'read-{suffix}'; \
             GRANT SELECT ON `{database}`.* TO '{reader}'@'%'; \
             CREATE USER '{writer}'@'%' IDENTIFIED BY 'write-{suffix}'; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{writer}'@'%';"
        ));
        options.extra.push_str(&format!(
            r#"
[mysql]
listen = "127.0.0.1:0"
shutdown_grace = "2s"

[[connections]]
name = "shop"
kind = "mysql"
host = "127.0.0.1"
port = 3306
database = "{database}"
user = "root"
default_level = "{default_level}"

[connections.masking]
{masking}

[[connections.logins]]
level = "admin"
groups = ["admins"]

[[connections.logins]]
level = "write"
groups = ["writers"]
user = "{writer}"
password_env = "GH_TEST_WRITE_PASSWORD"

{read_login}
"#,
            default_level = if readers_as_root { "admin" } else { "read" },
            read_login = if readers_as_root {
                String::new()
            } else {
                format!(
                    "[[connections.logins]]\nlevel = \"read\"\ngroups = [\"readers\"]\nuser = \"{reader}\"\npassword_env = \"GH_TEST_READ_PASSWORD\""
                )
            },
        ));
        options
            .env
            .push(("GH_TEST_WRITE_PASSWORD".into(), format!("write-{suffix}")));
        options
            .env
            .push(("GH_TEST_READ_PASSWORD".into(), format!("read-{suffix}")));
        let gateway = Gateway::start_with("test", options);
        let listeners: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(gateway.data_dir().join("listeners.json")).unwrap(),
        )
        .unwrap();
        let mysql_addr = listeners["mysql"]
            .as_str()
            .unwrap_or_else(|| panic!("no MySQL listener in {listeners}"))
            .parse()
            .unwrap();
        MysqlHost {
            gateway,
            database,
            mysql_addr,
            accounts: vec![reader, writer],
        }
    }

    /// The stock `mariadb` client through gatehouse, verifying its certificate, as `user`
    /// with `token`, running `sql` on connection `shop`, plus `extra` arguments.
    pub fn mariadb_with(&self, user: &str, token: &str, sql: &str, extra: &[&str]) -> Output {
        let port = self.mysql_addr.port().to_string();
        let ca = self.gateway.ca_file();
        let mut command = Command::new("mariadb");
        command
            .args(["-h", "127.0.0.1", "-P", &port, "-u", user])
            .arg(format!("-p{token}"))
            .arg(format!("--ssl-ca={}", ca.display()))
            .arg("--ssl-verify-server-cert")
            .args(["--batch", "--skip-column-names"])
            .args(extra)
            .args(["-e", sql, "shop"]);
        command.output().expect("the `mariadb` client runs")
    }

    pub fn mariadb(&self, user: &str, token: &str, sql: &str) -> Output {
        self.mariadb_with(user, token, sql, &[])
    }

    /// Send each of `queries` as one message in one PyMySQL session (multi-statements on) as
    /// `user` with `token`; one JSON answer per query (`tests/mysql_client/queries.py`).
    pub fn pymysql(&self, user: &str, token: &str, queries: &[String]) -> Vec<serde_json::Value> {
        let script =
            crate::support::repo_root().join("crates/gatehouse/tests/mysql_client/queries.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args([
                "127.0.0.1",
                &self.mysql_addr.port().to_string(),
                user,
                token,
                &self.gateway.ca_file().display().to_string(),
                "shop",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (PyMySQL is installed by scripts/setup.sh --tests)");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin
                .write_all(serde_json::to_string(queries).unwrap().as_bytes())
                .unwrap();
        }
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "queries.py: {}", shown(&output));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Run `sql` as root directly in the test's database.
    pub fn direct(&self, sql: &str) -> String {
        root(&format!("USE `{}`; {sql}", self.database))
    }
}
