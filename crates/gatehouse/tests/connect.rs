//! `gatehouse connect`, end to end: the real binary serving a local port in front of a real
//! gateway, used by real psql and tokio-postgres with no password at all. The token comes from
//! the stored-token file (`$XDG_CONFIG_HOME/gatehouse/token.json`) of a config directory of the
//! test's own, read anew for every client. Covered: queries run as the token's identity under
//! policy and in the audit log; loopback only; a missing or expired token, an unreachable
//! gateway and a gateway the CA file does not vouch for each give the client a FATAL error it
//! prints (and the gateway never sees a token); malformed startup packets are refused cleanly
//! while the listener goes on serving; psql's cancel (Ctrl-C) reaches the gateway.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{Options, count, items_behind_gateway, sqlstate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A config directory of the test's own, optionally holding a stored token.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn with_token(token: &str) -> Home {
        let home = Home::new();
        home.store(token, now() + 3600);
        home
    }

    /// Write `token.json` as `gatehouse login` would.
    fn store(&self, token: &str, expires_at: i64) {
        let dir = self.dir.path().join("gatehouse");
        std::fs::create_dir_all(&dir).unwrap();
        let stored =
            json!({"access_token": token, "expires_at": expires_at, "api": "http://127.0.0.1:1"});
        std::fs::write(dir.join("token.json"), stored.to_string()).unwrap();
    }
}

/// A running `gatehouse connect demo`, killed on drop.
struct Connect {
    child: Option<Child>,
    addr: SocketAddr,
    announced: Value,
    log: PathBuf,
}

impl Connect {
    fn start(home: &Home, gateway: &str, ca_file: &Path) -> Connect {
        let log = home
            .dir
            .path()
            .join(format!("connect-{}.log", support::random_suffix()));
        let mut child = Command::new(support::binary())
            .args(["connect", "demo", "--gateway", gateway, "--ca-file"])
            .arg(ca_file)
            .args(["--output", "json"])
            .env("XDG_CONFIG_HOME", home.dir.path())
            .env("GATEHOUSE_LOG", "info")
            .env_remove("GATEHOUSE_TOKEN")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn gatehouse connect");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default();
        let mut connect = Connect {
            child: Some(child),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            announced: Value::Null,
            log,
        };
        let announced: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "gatehouse connect did not announce its address; stdout {line:?}, log:\n{}",
                connect.log()
            )
        });
        connect.addr = announced["listen"].as_str().unwrap().parse().unwrap();
        connect.announced = announced;
        connect
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn conninfo(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} dbname={dbname} user=ana",
            self.addr.port()
        )
    }

    /// psql with no password (never prompting), verbose errors; (success, stdout, stderr).
    fn psql(&self, sql: &str) -> (bool, String, String) {
        psql(&self.conninfo("demo"), sql)
    }

    /// tokio-postgres over plaintext loopback, no password.
    async fn client(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(self.addr.port())
            .user("ana")
            .dbname("demo")
            .ssl_mode(SslMode::Disable)
            .connect_timeout(Duration::from_secs(10));
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// SIGTERM, and the exit status within 10 s.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        support::terminate(&mut child, Duration::from_secs(10), "gatehouse connect")
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn psql(conninfo: &str, sql: &str) -> (bool, String, String) {
    let output = Command::new("psql")
        .arg(conninfo)
        .args(["-X", "-A", "-t", "-w", "-v", "VERBOSITY=verbose", "-c", sql])
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A CA certificate that vouches for nothing the gateway has.
fn foreign_ca(dir: &Path) -> PathBuf {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let path = dir.join("foreign-ca.pem");
    std::fs::write(&path, certified.cert.pem()).unwrap();
    path
}

/// An address nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr.to_string()
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

#[tokio::test]
async fn psql_without_a_password_runs_as_the_tokens_identity_under_policy() {
    let (_db, gateway, direct) = items_behind_gateway(Options::default()).await;
    let token = gateway.key("ana", &["readers"]);
    let home = Home::with_token(&token);
    let mut connect = Connect::start(&home, &gateway.pg_addr.to_string(), &gateway.ca_file());

    assert!(connect.addr.ip().is_loopback(), "{}", connect.announced);
    assert_eq!(connect.announced["connection"], "demo");
    assert_eq!(connect.announced["gateway"], gateway.pg_addr.to_string());
    let printed = format!(
        "psql \"host=127.0.0.1 port={} dbname=demo user=",
        connect.addr.port()
    );
    assert!(connect.log().contains(&printed), "{}", connect.log());

    let (ok, out, err) = connect.psql("SELECT name FROM items ORDER BY id");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one\ntwo");

    // Policy applies: ana is a reader, and psql shows the gateway's refusal.
    let (ok, _, err) = connect.psql("DELETE FROM items");
    assert!(!ok);
    assert!(err.contains("42501"), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert_eq!(count(&direct, "items").await, 2);

    // The client's startup parameters reach the gateway; those it refuses are refused with its
    // own error, passed through as it is.
    let (ok, out, err) = connect.psql("SHOW application_name");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "psql");
    let (ok, out, err) = psql(
        &format!(
            "{} options=-csearch_path=elsewhere",
            connect.conninfo("demo")
        ),
        "SHOW search_path",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "elsewhere");
    let (ok, _, err) = psql(
        &format!("{} options=-crole=postgres", connect.conninfo("demo")),
        "SELECT 1",
    );
    assert!(!ok);
    assert!(
        err.contains("startup parameter `role=postgres`") && err.contains("permission denied"),
        "{err}"
    );

    // Another database than the served connection is refused, saying which one is served.
    let (ok, _, err) = psql(&connect.conninfo("orders"), "SELECT 1");
    assert!(!ok);
    assert!(err.contains("FATAL"), "{err}");
    assert!(err.contains("serves connection `demo` only"), "{err}");

    // The gateway saw ana (the token's identity), not the local user name.
    let events = gateway.audit_events();
    let connects = of_kind(&events, "connect");
    assert!(!connects.is_empty());
    assert!(
        connects.iter().all(|e| e["identity"]["subject"] == "ana"),
        "{connects:#?}"
    );
    let select = events
        .iter()
        .find(|e| {
            e["kind"] == "statement" && e["statement"] == "SELECT name FROM items ORDER BY id"
        })
        .expect("the select is in the audit log");
    assert_eq!(select["identity"]["subject"], "ana");
    let delete = events
        .iter()
        .find(|e| e["kind"] == "statement" && e["statement"] == "DELETE FROM items")
        .expect("the refused delete is in the audit log");
    assert_eq!(delete["identity"]["subject"], "ana");
    assert_eq!(delete["decision"], "deny");

    // One line per session; never the token.
    let log = connect.log();
    assert!(log.matches("session ended").count() >= 3, "{log}");
    assert!(log.contains("the gateway refused the session"), "{log}");
    assert!(
        !log.contains(&token),
        "the token must not be logged:\n{log}"
    );

    let status = connect.terminate();
    assert!(status.success(), "{status}\n{}", connect.log());
    assert!(connect.log().contains("stopped"), "{}", connect.log());
}

#[test]
fn the_listener_binds_loopback_only() {
    let home = Home::with_token("gh_unused_token");
    let ca = foreign_ca(home.dir.path());
    for listen in ["0.0.0.0", "::", "192.0.2.1"] {
        let output = Command::new(support::binary())
            .args(["connect", "demo", "--gateway", "127.0.0.1:1", "--ca-file"])
            .arg(&ca)
            .args(["--listen", listen])
            .env("XDG_CONFIG_HOME", home.dir.path())
            .output()
            .unwrap();
        assert!(!output.status.success(), "--listen {listen} was accepted");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains("not a loopback address"), "{err}");
        assert!(output.stdout.is_empty());
    }
}

#[tokio::test]
async fn without_a_usable_token_psql_is_told_to_log_in_and_the_gateway_sees_nothing() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let home = Home::new();
    let connect = Connect::start(&home, &gateway.pg_addr.to_string(), &gateway.ca_file());

    let (ok, _, err) = connect.psql("SELECT 1");
    assert!(!ok);
    assert!(err.contains("FATAL"), "{err}");
    assert!(err.contains("run `gatehouse login"), "{err}");
    let error = connect.client().await.expect_err("refused without a token");
    assert_eq!(sqlstate(&error).as_deref(), Some("28000"), "{error}");

    let token = gateway.key("ana", &["readers"]);
    home.store(&token, now() - 10);
    let (ok, _, err) = connect.psql("SELECT 1");
    assert!(!ok);
    assert!(err.contains("expired"), "{err}");
    assert!(err.contains("run `gatehouse login"), "{err}");

    let events = gateway.audit_events();
    assert!(of_kind(&events, "connect").is_empty(), "{events:#?}");
    assert!(
        !gateway.log().contains("authentication failed"),
        "{}",
        gateway.log()
    );

    // The token is read for every connection: once there is a good one, psql works, with the
    // same listener.
    home.store(&token, now() + 3600);
    let (ok, out, err) = connect.psql("SELECT 40 + 2");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "42");
}

#[tokio::test]
async fn an_unreachable_gateway_is_a_fatal_08001_naming_it() {
    let home = Home::with_token("gh_unused_token");
    let ca = foreign_ca(home.dir.path());
    let gateway = closed_port();
    let connect = Connect::start(&home, &gateway, &ca);

    let (ok, _, err) = connect.psql("SELECT 1");
    assert!(!ok);
    assert!(err.contains("FATAL"), "{err}");
    assert!(
        err.contains(&format!("cannot reach the gateway at {gateway}")),
        "{err}"
    );
    let error = connect.client().await.expect_err("no gateway");
    assert_eq!(sqlstate(&error).as_deref(), Some("08001"), "{error}");
}

#[tokio::test]
async fn a_gateway_the_ca_file_does_not_vouch_for_gets_no_token() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let token = gateway.key("ana", &["readers"]);
    let home = Home::with_token(&token);
    let ca = foreign_ca(home.dir.path());
    let connect = Connect::start(&home, &gateway.pg_addr.to_string(), &ca);

    let (ok, _, err) = connect.psql("SELECT 1");
    assert!(!ok);
    assert!(err.contains("FATAL"), "{err}");
    assert!(
        err.contains(&format!(
            "TLS verification of the gateway at {} failed",
            gateway.pg_addr
        )),
        "{err}"
    );
    assert!(err.contains("certificate"), "{err}");
    let error = connect.client().await.expect_err("unverified gateway");
    assert_eq!(sqlstate(&error).as_deref(), Some("08001"), "{error}");

    let events = gateway.audit_events();
    assert!(of_kind(&events, "connect").is_empty(), "{events:#?}");
    assert!(!gateway.log().contains("authentication failed"));
}

/// Send raw bytes, then read everything until the listener closes (within 10 s).
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the listener answers and closes")
        .ok();
    answer
}

fn startup(code: i32, body: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    packet.extend_from_slice(&i32::try_from(8 + body.len()).unwrap().to_be_bytes());
    packet.extend_from_slice(&code.to_be_bytes());
    packet.extend_from_slice(body);
    packet
}

/// The answer is one FATAL ErrorResponse with SQLSTATE 08P01; its message.
fn protocol_violation(answer: &[u8]) -> String {
    assert_eq!(answer.first(), Some(&b'E'), "{answer:?}");
    let text = String::from_utf8_lossy(answer);
    assert!(text.contains("SFATAL"), "{text}");
    assert!(text.contains("C08P01"), "{text}");
    text.into_owned()
}

#[tokio::test]
async fn malformed_startup_packets_get_an_error_and_the_listener_keeps_serving() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let token = gateway.key("ana", &["readers"]);
    let home = Home::with_token(&token);
    let connect = Connect::start(&home, &gateway.pg_addr.to_string(), &gateway.ca_file());

    // A length shorter than the length word itself.
    let text = protocol_violation(&raw_exchange(connect.addr, &[0, 0, 0, 3, 0, 3, 0, 0]).await);
    assert!(text.contains("invalid length"), "{text}");
    // A length of 2 GiB: refused before anything that size is read.
    let text = protocol_violation(
        &raw_exchange(connect.addr, &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0]).await,
    );
    assert!(text.contains("invalid length"), "{text}");
    // Over PostgreSQL's 10,000-byte startup limit, with the bytes actually sent.
    let mut big = startup(196_608, b"user\0");
    big.extend(std::iter::repeat_n(b'a', 20_000));
    big.extend_from_slice(b"\0\0");
    let length = i32::try_from(big.len()).unwrap().to_be_bytes();
    big.splice(0..4, length);
    protocol_violation(&raw_exchange(connect.addr, &big).await);
    // Protocol 2.0.
    let text = protocol_violation(
        &raw_exchange(connect.addr, &startup(0x0002_0000, b"user\0ana\0\0")).await,
    );
    assert!(text.contains("unsupported frontend protocol 2.0"), "{text}");
    // Protocol 3.0 with an unterminated parameter list.
    protocol_violation(&raw_exchange(connect.addr, &startup(196_608, b"user\0ana")).await);
    // Hanging up at once.
    assert!(raw_exchange(connect.addr, &[]).await.is_empty());

    let (ok, out, err) = connect.psql("SELECT count(*) FROM items");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "2");
}

#[tokio::test]
async fn a_cancel_request_to_the_local_port_cancels_the_query_at_the_gateway() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let token = gateway.key("ana", &["readers"]);
    let home = Home::with_token(&token);
    let connect = Connect::start(&home, &gateway.pg_addr.to_string(), &gateway.ca_file());
    let client = connect.client().await.unwrap();
    let cancel = client.cancel_token();

    for simple in [true, false] {
        let started = Instant::now();
        let query = async {
            if simple {
                client.batch_execute("SELECT pg_sleep(30)").await
            } else {
                client.query("SELECT pg_sleep(30)", &[]).await.map(|_| ())
            }
        };
        let canceller = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel_query(NoTls).await
        };
        let (result, cancelled) = tokio::join!(query, canceller);
        cancelled.expect("the cancel request was sent");
        let error = result.expect_err("the query was cancelled");
        assert_eq!(sqlstate(&error).as_deref(), Some("57014"), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "cancelled well before 30 s, took {:?}",
            started.elapsed()
        );
    }
    let rows = client.simple_query("SELECT 1").await.unwrap();
    assert!(!rows.is_empty());
    assert!(
        connect.log().contains("cancel request relayed"),
        "{}",
        connect.log()
    );
}

#[tokio::test]
async fn clients_past_the_limit_get_53300_and_silent_ones_are_closed_after_the_startup_timeout() {
    let (_db, gateway, _direct) = items_behind_gateway(Options::default()).await;
    let token = gateway.key("ana", &["readers"]);
    let home = Home::with_token(&token);
    let connect = Connect::start(&home, &gateway.pg_addr.to_string(), &gateway.ca_file());

    // 256 clients that ask for TLS (answered `N`: the listener has them) and then say nothing
    // hold every slot.
    let mut silent = Vec::new();
    for _ in 0..256 {
        let mut stream = TcpStream::connect(connect.addr).await.unwrap();
        stream.write_all(&startup(80_877_103, b"")).await.unwrap();
        assert_eq!(stream.read_u8().await.unwrap(), b'N');
        silent.push(stream);
    }
    let (ok, _, err) = connect.psql("SELECT 1");
    assert!(!ok);
    assert!(err.contains("already serves 256 clients"), "{err}");
    let error = connect.client().await.expect_err("no slot left");
    assert_eq!(sqlstate(&error).as_deref(), Some("53300"), "{error}");

    // Startup is bounded: the listener hangs up on each of them after 10 s.
    let started = Instant::now();
    for mut stream in silent {
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest))
            .await
            .expect("closed by the listener")
            .ok();
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    let (ok, out, err) = connect.psql("SELECT 1");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");
}

#[test]
fn help_teaches_connect() {
    let output = Command::new(support::binary())
        .args(["connect", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        help.contains("psql \"host=127.0.0.1 port=5433 dbname=demo user=$USER\""),
        "{help}"
    );
    assert!(help.contains("--ca-file"), "{help}");
    assert!(help.contains("loopback"), "{help}");
}
