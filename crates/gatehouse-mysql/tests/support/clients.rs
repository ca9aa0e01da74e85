//! The client programs the tests drive: the `mariadb` CLI (through the gateway, or as root
//! straight to the server) and Python scripts with PyMySQL or mysql-connector-python.

use super::Fixture;
use std::process::{Command, Output};

/// Whether the server and `programs` are here; prints a skip (or fails under CI) when not.
pub fn available(programs: &[&str]) -> bool {
    let mut missing = Vec::new();
    if root(&["-e", "SELECT 1"])
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        missing.push("MariaDB at 127.0.0.1:3306 (root, no password)".to_owned());
    }
    for program in programs {
        let found = match *program {
            "pymysql" | "mysql.connector" => Command::new("python3")
                .args(["-c", &format!("import {program}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false),
            other => Command::new(other).arg("--version").output().is_ok(),
        };
        if !found {
            missing.push((*program).to_owned());
        }
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "missing under CI: {missing:?}"
    );
    eprintln!("skipped: missing {missing:?}");
    false
}

/// Run the `mariadb` CLI as root directly against the server.
pub fn root(args: &[&str]) -> std::io::Result<Output> {
    Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", "3306", "-u", "root", "--skip-ssl"])
        .args(args)
        .output()
}

impl Fixture {
    /// Run the `mariadb` CLI through the gateway (TLS on) with `extra` arguments; (stdout,
    /// stderr, success).
    pub async fn mariadb(&self, user: &str, token: &str, extra: &[&str]) -> (String, String, bool) {
        let mut args: Vec<String> = vec![
            "-h".into(),
            "127.0.0.1".into(),
            "-P".into(),
            self.address.port().to_string(),
            "-u".into(),
            user.into(),
            format!("-p{token}"),
            "--ssl".into(),
            "--batch".into(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        run("mariadb", args).await
    }

    /// Run a Python script with `GH_PORT`, `GH_TOKEN` in its environment.
    pub async fn python(&self, token: &str, script: &str) -> (String, String, bool) {
        let port = self.address.port().to_string();
        let token = token.to_owned();
        let script = script.to_owned();
        tokio::task::spawn_blocking(move || {
            let output = Command::new("python3")
                .args(["-c", &script])
                .env("GH_PORT", port)
                .env("GH_TOKEN", token)
                .output()
                .unwrap();
            shown(output)
        })
        .await
        .unwrap()
    }
}

async fn run(program: &'static str, args: Vec<String>) -> (String, String, bool) {
    tokio::task::spawn_blocking(move || shown(Command::new(program).args(&args).output().unwrap()))
        .await
        .unwrap()
}

fn shown(output: Output) -> (String, String, bool) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.success(),
    )
}
