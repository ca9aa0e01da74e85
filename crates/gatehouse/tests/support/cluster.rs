//! A PostgreSQL 15 cluster of a test's own (initdb + pg_ctl as the `postgres` user, on a free
//! port), for tests that need server settings the shared server does not have: password
//! authentication, TLS, statement logging.

use super::random_suffix;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn as_postgres(program: &str) -> Command {
    let mut command = Command::new("runuser");
    command
        .args(["-u", "postgres", "--"])
        .arg(Path::new(PG_BIN).join(program));
    command
}

fn run(command: &mut Command, what: &str) {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A PostgreSQL cluster of the test's own on a free port, stopped when dropped. TCP clients
/// must authenticate (the `postgres` superuser with SCRAM-SHA-256, `md5user` with md5); the
/// Unix socket in the cluster's directory is trusted, for setup only.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub superuser_password: String,
    pub md5_password: String,
}

impl Cluster {
    /// `ssl`: serve TLS with a generated certificate and accept TCP clients only over TLS.
    pub async fn start(ssl: bool) -> Cluster {
        Cluster::start_with(ssl, &[]).await
    }

    /// Like `start`, with extra server settings (`-c name=value` each).
    pub async fn start_with(ssl: bool, settings: &[&str]) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("gh-cluster-")
            .tempdir_in("/tmp")
            .unwrap();
        run(
            Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()),
            "chown",
        );
        let superuser_password = format!("scram-secret-{}", random_suffix());
        let md5_password = format!("md5-secret-{}", random_suffix());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &superuser_password).unwrap();
        run(
            Command::new("chown").arg("postgres:postgres").arg(&pwfile),
            "chown",
        );
        let data = dir.path().join("data");
        run(
            as_postgres("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "--auth=scram-sha-256",
                    "--username=postgres",
                    "--no-sync",
                    "--encoding=UTF8",
                    "--locale=C",
                ])
                .arg(format!("--pwfile={}", pwfile.display())),
            "initdb",
        );
        std::fs::remove_file(&pwfile).unwrap();

        let host = if ssl { "hostssl" } else { "host" };
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all all trust\n\
                 {host} all md5user 127.0.0.1/32 md5\n\
                 {host} all all 127.0.0.1/32 scram-sha-256\n"
            ),
        )
        .unwrap();
        let mut server_options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c log_connections=on",
            0,
            dir.path().display()
        );
        for setting in settings {
            server_options.push_str(&format!(" -c {setting}"));
        }
        if ssl {
            let certified = rcgen::generate_simple_self_signed(vec![
                "127.0.0.1".to_owned(),
                "localhost".to_owned(),
            ])
            .unwrap();
            std::fs::write(data.join("server.crt"), certified.cert.pem()).unwrap();
            std::fs::write(
                data.join("server.key"),
                certified.signing_key.serialize_pem(),
            )
            .unwrap();
            run(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(data.join("server.crt"))
                    .arg(data.join("server.key")),
                "chown",
            );
            run(
                Command::new("chmod")
                    .arg("600")
                    .arg(data.join("server.key")),
                "chmod",
            );
            std::fs::write(dir.path().join("ca.crt"), certified.cert.pem()).unwrap();
            server_options.push_str(" -c ssl=on");
        }

        // Another test may take a port between finding it free and binding it: retry.
        let mut attempts = 0;
        let port = loop {
            attempts += 1;
            let port = free_port();
            let options = server_options.replacen("-p 0", &format!("-p {port}"), 1);
            let output = as_postgres("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.path().join("server.log"))
                .args(["-o", &options, "-w", "-t", "60", "start"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            if output.status.success() {
                break port;
            }
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            assert!(
                attempts < 3 && log.contains("could not bind"),
                "pg_ctl start failed: {}{}\n{log}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let cluster = Cluster {
            dir,
            port,
            superuser_password,
            md5_password,
        };

        let admin = cluster.admin().await;
        admin
            .batch_execute(&format!(
                "SET password_encryption = 'md5';
                 CREATE ROLE md5user LOGIN PASSWORD '{}';
                 RESET password_encryption;
                 CREATE TABLE items (id int PRIMARY KEY, name text);
                 INSERT INTO items VALUES (1, 'one'), (2, 'two');
                 GRANT SELECT ON items TO md5user;",
                cluster.md5_password
            ))
            .await
            .unwrap();
        // The roles really hold the kinds of secret the tests are about.
        let row = admin
            .query_one(
                "SELECT (SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'),
                        (SELECT rolpassword FROM pg_authid WHERE rolname = 'md5user')",
                &[],
            )
            .await
            .unwrap();
        assert!(row.get::<_, String>(0).starts_with("SCRAM-SHA-256$"));
        assert!(row.get::<_, String>(1).starts_with("md5"));
        cluster
    }

    /// A superuser session over the trusted Unix socket.
    pub async fn admin(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the throwaway cluster over its socket");
        tokio::spawn(connection);
        client
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
