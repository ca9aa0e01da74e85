//! Fault injection (issue 9, "Hardening"): what the gateway does when the world around it
//! misbehaves. The backend PostgreSQL is restarted under open sessions; hundreds of clients
//! connect and never finish their handshake (slowloris); a client asks for a ~200 MB result
//! and stops reading it; and a PostgreSQL-speaking server written here answers with hostile
//! bytes (lengths past the end of a message, oversized messages, unknown message types,
//! control characters and invalid UTF-8 in errors, authentication requests mid-session,
//! garbage after ReadyForQuery, silence or garbage during startup).
//!
//! Every scenario asserts, where it applies: the affected client gets a clear error promptly
//! (never a hang), nothing reaches a server without its audit event, the exported audit log
//! stays valid JSON without raw control bytes, and the gateway keeps serving everyone else.
//! The figures these tests print are in RELIABILITY.md (`## Fault injection`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::cluster::Cluster;
use support::{Gateway, Options, message, sqlstate};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const PROTOCOL_3_0: i32 = 196_608;

/// One backend message: (tag, body).
type Message = (u8, Vec<u8>);
type Tls = tokio_rustls::client::TlsStream<TcpStream>;

// ---------------------------------------------------------------------------------------------
// A raw client: exact bytes in, exact messages out.
// ---------------------------------------------------------------------------------------------

fn startup_packet(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (name, value) in params {
        body.extend_from_slice(name.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = (i32::try_from(body.len()).unwrap() + 4)
        .to_be_bytes()
        .to_vec();
    packet.extend_from_slice(&body);
    packet
}

/// A regular message: tag, length, body.
fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(i32::try_from(body.len()).unwrap() + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(text: &str) -> Vec<u8> {
    let mut out = text.as_bytes().to_vec();
    out.push(0);
    out
}

fn query(sql: &str) -> Vec<u8> {
    frame(b'Q', &cstr(sql))
}

fn is_closed(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// The next message from the gateway; `None` when it closed (or reset) the connection.
async fn read_message<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Message> {
    let mut header = [0u8; 5];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(error) if is_closed(&error) => return None,
        Err(error) => panic!("reading from the gateway failed: {error}"),
    }
    let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    assert!(
        (4..=64 * 1024 * 1024).contains(&len),
        "the gateway sent a message {:?} with length {len}",
        char::from(header[0])
    );
    let mut body = vec![0u8; usize::try_from(len - 4).unwrap()];
    match stream.read_exact(&mut body).await {
        Ok(_) => Some((header[0], body)),
        Err(error) if is_closed(&error) => None,
        Err(error) => panic!("reading from the gateway failed: {error}"),
    }
}

/// Everything the gateway sends until it closes the connection; fails if it has not closed
/// it within `limit`.
async fn read_until_closed<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Vec<Message> {
    let mut messages = Vec::new();
    let finished = tokio::time::timeout(limit, async {
        while let Some(message) = read_message(stream).await {
            messages.push(message);
        }
    })
    .await;
    assert!(
        finished.is_ok(),
        "the gateway did not close the connection within {limit:?}; it sent {}",
        show(&messages)
    );
    messages
}

/// Messages up to and including the next ReadyForQuery; fails on a hang or a closed stream.
async fn read_until_ready<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<Message> {
    let mut messages = Vec::new();
    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let Some(message) = read_message(stream).await else {
                return false;
            };
            let ready = message.0 == b'Z';
            messages.push(message);
            if ready {
                return true;
            }
        }
    })
    .await;
    assert_eq!(
        finished,
        Ok(true),
        "no ReadyForQuery within 10 s (false: closed); got {}",
        show(&messages)
    );
    messages
}

/// Fields of an ErrorResponse body by field code (lossy: hostile bytes must not stop a test).
fn fields(body: &[u8]) -> HashMap<char, String> {
    let mut out = HashMap::new();
    let mut rest = body;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let Some(end) = tail.iter().position(|b| *b == 0) else {
            break;
        };
        out.insert(
            char::from(code),
            String::from_utf8_lossy(&tail[..end]).into_owned(),
        );
        rest = &tail[end + 1..];
    }
    out
}

fn errors(messages: &[Message]) -> Vec<HashMap<char, String>> {
    messages
        .iter()
        .filter(|(tag, _)| *tag == b'E')
        .map(|(_, body)| fields(body))
        .collect()
}

fn show(messages: &[Message]) -> String {
    let shown: Vec<String> = messages
        .iter()
        .map(|(tag, body)| match tag {
            b'E' => format!("E{:?}", fields(body)),
            _ => format!("{}({} bytes)", char::from(*tag), body.len()),
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

/// The last ErrorResponse of a session the gateway ended: FATAL, with `code`.
fn the_fatal(messages: &[Message], code: &str) -> HashMap<char, String> {
    let all = errors(messages);
    let last = all
        .last()
        .unwrap_or_else(|| panic!("no ErrorResponse among {}", show(messages)))
        .clone();
    assert_eq!(
        last.get(&'V').map(String::as_str),
        Some("FATAL"),
        "{last:?}"
    );
    assert_eq!(last.get(&'C').map(String::as_str), Some(code), "{last:?}");
    last
}

fn client_tls_config(ca_file: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_file).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// SSLRequest, then a TLS handshake that verifies the gateway against its CA.
async fn tls_connect(gateway: &Gateway) -> Tls {
    let mut tcp = TcpStream::connect(gateway.pg_addr).await.unwrap();
    tcp.write_all(&SSL_REQUEST).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"S", "the gateway accepts TLS");
    tokio_rustls::TlsConnector::from(Arc::new(client_tls_config(&gateway.ca_file())))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .expect("TLS handshake with the gateway")
}

/// Startup as `ana` on `database` with the token; `Ok` once ReadyForQuery arrived, `Err`
/// with everything the gateway sent when it refused and closed instead.
async fn start_session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    token: &str,
    database: &str,
    application_name: &str,
) -> Result<(), Vec<Message>> {
    stream
        .write_all(&startup_packet(&[
            ("user", "ana"),
            ("database", database),
            ("application_name", application_name),
        ]))
        .await
        .unwrap();
    let (tag, _) = read_message(stream).await.expect("password request");
    assert_eq!(tag, b'R');
    stream.write_all(&frame(b'p', &cstr(token))).await.unwrap();
    let mut messages = Vec::new();
    loop {
        let Some(message) = read_message(stream).await else {
            return Err(messages);
        };
        match message.0 {
            b'Z' => return Ok(()),
            _ => messages.push(message),
        }
    }
}

async fn login<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, token: &str, database: &str) {
    if let Err(messages) = start_session(stream, token, database, "faults").await {
        panic!("login refused: {}", show(&messages));
    }
}

/// A simple query on a logged-in raw connection: the first column of each row.
async fn simple_query<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, sql: &str) -> Vec<String> {
    stream.write_all(&query(sql)).await.unwrap();
    let messages = read_until_ready(stream).await;
    assert!(errors(&messages).is_empty(), "{sql}: {}", show(&messages));
    messages
        .iter()
        .filter(|(tag, _)| *tag == b'D')
        .map(|(_, body)| {
            let len = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
            String::from_utf8_lossy(&body[6..6 + usize::try_from(len).unwrap()]).into_owned()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Gateway-side checks shared by the scenarios.
// ---------------------------------------------------------------------------------------------

/// The gateway process exists and is not a zombie.
fn assert_alive(gateway: &Gateway) {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", gateway.pid))
        .unwrap_or_else(|_| panic!("the gateway process is gone:\n{}", gateway.log()));
    let state = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.chars().next())
        .unwrap();
    assert_ne!(
        state,
        Some('Z'),
        "the gateway process exited:\n{}",
        gateway.log()
    );
}

/// A new session on `database` (tokio-postgres over verified TLS) runs a query.
async fn assert_serves(gateway: &Gateway, token: &str, database: &str, sql: &str) -> Duration {
    assert_alive(gateway);
    let started = Instant::now();
    let served = tokio::time::timeout(Duration::from_secs(10), async {
        let (client, connection) = gateway
            .client_config("ana", token, database)
            .connect(gateway.tls())
            .await
            .expect("a well-behaved client still connects");
        tokio::spawn(connection);
        client.simple_query(sql).await.expect("and runs a query")
    })
    .await;
    assert!(
        served.is_ok(),
        "a well-behaved client was not served in 10 s"
    );
    started.elapsed()
}

/// `gatehouse audit export`, raw: each line must be a JSON object, and the text must hold no
/// control byte but the newlines between lines (JSON escapes the rest).
fn raw_audit_export(gateway: &Gateway) -> String {
    let output = gateway.cli(&["audit", "export"]);
    assert!(
        output.status.success(),
        "audit export failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let raw = output.stdout;
    if let Some(at) = raw.iter().position(|b| *b < 0x20 && *b != b'\n') {
        let from = at.saturating_sub(80);
        panic!(
            "raw control byte {:#04x} in the exported audit log: {:?}",
            raw[at],
            String::from_utf8_lossy(&raw[from..(at + 40).min(raw.len())])
        );
    }
    let text = String::from_utf8(raw).expect("the export is UTF-8");
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("exported line is not JSON ({e}): {line}"));
        assert!(value.is_object(), "{line}");
    }
    text
}

/// Statement texts the audit log shows as allowed.
fn allowed_statements(events: &[serde_json::Value]) -> HashSet<String> {
    events
        .iter()
        .filter(|e| e["kind"] == "statement" && e["decision"] == "allow")
        .filter_map(|e| e["statement"].as_str().map(str::to_owned))
        .collect()
}

fn assert_all_recorded(received: &HashSet<String>, events: &[serde_json::Value]) {
    let recorded = allowed_statements(events);
    let mut unrecorded: Vec<&String> = received.difference(&recorded).collect();
    unrecorded.sort();
    assert!(
        unrecorded.is_empty(),
        "statements reached the server without an audit event: {unrecorded:?} (recorded: {recorded:?})"
    );
}

/// The `detail` of each `disconnect` event on `connection`, once there are at least `count`
/// (a failed session reads what its client still sends for up to a second before it ends).
async fn disconnects(gateway: &Gateway, connection: &str, count: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let ended: Vec<String> = gateway
            .audit_events()
            .iter()
            .filter(|e| e["kind"] == "disconnect" && e["connection"] == connection)
            .filter_map(|e| e["detail"].as_str().map(str::to_owned))
            .collect();
        if ended.len() >= count {
            return ended;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{count} sessions on `{connection}` should have ended: {ended:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

// ---------------------------------------------------------------------------------------------
// 1. The backend PostgreSQL restarts under open sessions.
// ---------------------------------------------------------------------------------------------

fn restarting_connection(cluster: &Cluster) -> String {
    format!(
        r#"
[[connections]]
name = "restarting"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "postgres"
user = "postgres"
password_env = "RESTARTING_PASSWORD"
"#,
        port = cluster.port
    )
}

/// `pg_ctl restart -m fast`: every backend is told FATAL 57P01 and the server comes back on
/// the same port with the same options. Returns how long the restart took.
fn restart(cluster: &Cluster) -> Duration {
    let started = Instant::now();
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg("/usr/lib/postgresql/15/bin/pg_ctl")
        .arg("-D")
        .arg(cluster.dir.path().join("data"))
        .arg("-l")
        .arg(cluster.dir.path().join("server.log"))
        .args(["-m", "fast", "-w", "-t", "60", "restart"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pg_ctl restart failed: {}{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        cluster.log()
    );
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_restarted_mid_session_ends_its_sessions_with_a_fatal_error_and_new_ones_work() {
    // `%h`: TCP clients (only the gateway) are told apart from setup over the Unix socket.
    let cluster =
        Cluster::start_with(false, &["log_statement=all", "log_line_prefix=%h:%a:"]).await;
    let gateway = Gateway::start_with(
        "postgres",
        Options {
            extra: restarting_connection(&cluster),
            env: vec![(
                "RESTARTING_PASSWORD".to_owned(),
                cluster.superuser_password.clone(),
            )],
            ..Options::default()
        },
    );
    let token = gateway.key("ana", &["readers"]);

    // A: a driver (tokio-postgres), idle in its session.
    let (driver, connection) = gateway
        .client_config("ana", &token, "restarting")
        .connect(gateway.tls())
        .await
        .unwrap();
    let driver_connection = tokio::spawn(connection);
    let row = driver
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "one");

    // B: a raw client, idle.
    let mut idle = tls_connect(&gateway).await;
    login(&mut idle, &token, "restarting").await;
    assert_eq!(
        simple_query(&mut idle, "SELECT name FROM items WHERE id = 2").await,
        ["two"]
    );

    // C: a raw client whose statement is running when the server goes down.
    let mut busy = tls_connect(&gateway).await;
    login(&mut busy, &token, "restarting").await;
    busy.write_all(&query("SELECT pg_sleep(30)")).await.unwrap();
    let admin = cluster.admin().await;
    let started = Instant::now();
    loop {
        let running: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = $1",
                &[&"SELECT pg_sleep(30)"],
            )
            .await
            .unwrap()
            .get(0);
        if running == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "pg_sleep never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(admin);

    // D: someone on another connection, untouched by the restart.
    let bystander = gateway.connect("ana", &token).await.unwrap();

    let restart_took = {
        let cluster = &cluster;
        tokio::task::block_in_place(|| restart(cluster))
    };

    // B and C: PostgreSQL's own FATAL 57P01 is relayed, and nothing after it: a second error
    // for the same end makes drivers such as node-postgres raise an unhandled error.
    let idle_messages = read_until_closed(&mut idle, Duration::from_secs(10)).await;
    let busy_messages = read_until_closed(&mut busy, Duration::from_secs(10)).await;
    for messages in [&idle_messages, &busy_messages] {
        let fatal = the_fatal(messages, "57P01");
        assert!(fatal[&'M'].contains("terminating connection"), "{fatal:?}");
        assert_eq!(
            errors(messages).len(),
            1,
            "one error for one end: {}",
            show(messages)
        );
    }
    println!(
        "restart took {restart_took:?}; an idle raw client read {}; a busy one read {}",
        show(&idle_messages),
        show(&busy_messages)
    );

    // A: the driver's next statement fails at once, and its connection ended on the FATAL.
    let next = tokio::time::timeout(Duration::from_secs(5), driver.simple_query("SELECT 1"))
        .await
        .expect("the driver's next statement fails instead of hanging");
    let error = next.expect_err("the session is gone");
    assert!(error.is_closed(), "{error}");
    let ended = tokio::time::timeout(Duration::from_secs(5), driver_connection)
        .await
        .expect("the driver's connection task ended")
        .unwrap();
    let ended = ended.expect_err("the driver's connection ended on an error");
    let db = ended
        .as_db_error()
        .expect("a server error, not a parse error");
    assert_eq!(db.severity(), "FATAL", "{ended}");
    assert!(
        ["57P01", "08006"].contains(&db.code().code()),
        "{:?}: {}",
        sqlstate(&ended),
        message(&ended)
    );
    println!(
        "tokio-postgres: connection ended with {} {}: {}; next statement: {error}",
        db.severity(),
        db.code().code(),
        db.message()
    );

    // A new session on the restarted server works; the bystander never noticed.
    assert_serves(
        &gateway,
        &token,
        "restarting",
        "SELECT name FROM items WHERE id = 1 AND 'after' = 'after'",
    )
    .await;
    let row = bystander
        .query_one("SELECT 'still here'", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "still here");

    // Every statement the server received through the gateway has its event; the busy
    // session's statement has an outcome saying how it ended; each session's end is recorded.
    // (Gatehouse's own checks at start, under application_name `gatehouse`, run no client's
    // statement.)
    let received: HashSet<String> = cluster
        .log()
        .lines()
        .filter(|line| line.starts_with("127.0.0.1:") && !line.starts_with("127.0.0.1:gatehouse:"))
        .filter_map(|line| {
            let (_, text) = line
                .split_once("LOG:  statement: ")
                .or_else(|| line.split_once("LOG:  execute "))?;
            Some(match text.split_once(": ") {
                Some((name, rest)) if !name.contains(' ') => rest.to_owned(),
                _ => text.to_owned(),
            })
        })
        .collect();
    for expected in [
        "SELECT name FROM items WHERE id = 1",
        "SELECT name FROM items WHERE id = 2",
        "SELECT pg_sleep(30)",
    ] {
        assert!(received.contains(expected), "{expected}: {received:?}");
    }
    raw_audit_export(&gateway);
    let events = gateway.audit_events();
    assert_all_recorded(&received, &events);
    let sleep_seq = events
        .iter()
        .find(|e| e["kind"] == "statement" && e["statement"] == "SELECT pg_sleep(30)")
        .map(|e| e["seq"].clone())
        .expect("pg_sleep's statement event");
    let sleep_outcome = events
        .iter()
        .find(|e| e["kind"] == "outcome" && e["refers_to"] == sleep_seq)
        .unwrap_or_else(|| panic!("pg_sleep (seq {sleep_seq}) has no outcome event"));
    assert!(
        sleep_outcome["outcome"]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("57P01")),
        "{sleep_outcome}"
    );
    let ended = disconnects(&gateway, "restarting", 3).await;
    assert!(
        ended
            .iter()
            .filter(|d| d.contains("server closed the connection"))
            .count()
            >= 2,
        "{ended:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Slowloris: clients that connect and never finish their handshake.
// ---------------------------------------------------------------------------------------------

/// The soft limit on open files of this process, raised to the hard limit (with the
/// `prlimit` tool: the workspace forbids `unsafe`, so no `setrlimit` here) when it is too
/// low for `wanted` sockets. The gateway, started afterwards, inherits it.
fn raise_open_files(wanted: u64) -> u64 {
    let read = || -> (u64, u64) {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok().or((w == "unlimited").then_some(u64::MAX)))
            .collect();
        (numbers[0], numbers[1])
    };
    let (soft, hard) = read();
    if soft >= wanted || hard <= soft {
        return soft;
    }
    let _ = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={hard}:{hard}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    read().0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// TCP only: not a byte sent.
    Silent,
    /// Half of a startup packet.
    PartialStartup,
    /// SSLRequest, then half of a TLS record.
    PartialTlsRecord,
    /// SSLRequest and a complete ClientHello, then silence: the gateway has sent its
    /// ServerHello flight and waits for the client's Finished forever.
    MidTlsHandshake,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_dropped_at_the_handshake_timeout_while_others_are_served() {
    const TARGET: u64 = 500;
    // Each stalled connection costs a descriptor here and one in the gateway.
    let soft = raise_open_files(TARGET + 300);
    let count = TARGET.min(soft.saturating_sub(300)).max(50);
    let (_db, gateway, _direct) = support::items_behind_gateway(Options {
        postgres_extra: "handshake_timeout = \"1s\"".to_owned(),
        ..Options::default()
    })
    .await;
    let token = gateway.key("ana", &["readers"]);
    let fds_before = open_fds(gateway.pid);
    let tls_config = Arc::new(client_tls_config(&gateway.ca_file()));
    let startup = startup_packet(&[("user", "ana"), ("database", "demo")]);

    let opening = Instant::now();
    let mut stalled = Vec::new();
    for i in 0..count {
        let stall = match i % 10 {
            0..=5 => Stall::Silent,
            6 | 7 => Stall::PartialStartup,
            8 => Stall::PartialTlsRecord,
            _ => Stall::MidTlsHandshake,
        };
        let connected_at = Instant::now();
        let mut tcp = TcpStream::connect(gateway.pg_addr).await.unwrap();
        match stall {
            Stall::Silent => {}
            Stall::PartialStartup => tcp.write_all(&startup[..6]).await.unwrap(),
            Stall::PartialTlsRecord | Stall::MidTlsHandshake => {
                tcp.write_all(&SSL_REQUEST).await.unwrap();
                let mut answer = [0u8; 1];
                tcp.read_exact(&mut answer).await.unwrap();
                assert_eq!(&answer, b"S");
                let mut hello = Vec::new();
                let mut tls = rustls::ClientConnection::new(
                    tls_config.clone(),
                    rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
                )
                .unwrap();
                tls.write_tls(&mut hello).unwrap();
                if stall == Stall::PartialTlsRecord {
                    hello.truncate(hello.len() / 2);
                }
                tcp.write_all(&hello).await.unwrap();
            }
        }
        stalled.push((stall, connected_at, tcp));
    }
    let opened_in = opening.elapsed();
    let stalled_fds = open_fds(gateway.pid);

    // While they all hang: a normal client connects and runs a query.
    let served_in = assert_serves(&gateway, &token, "demo", "SELECT name FROM items").await;

    // Each one is closed by the gateway (EOF or reset; nothing else but the TLS server
    // flight) once its handshake timeout has passed.
    let mut waits = tokio::task::JoinSet::new();
    for (stall, connected_at, mut tcp) in stalled {
        waits.spawn(async move {
            let closed = tokio::time::timeout(Duration::from_secs(15), async {
                let mut sink = [0u8; 8192];
                loop {
                    match tcp.read(&mut sink).await {
                        Ok(0) => return,
                        Ok(_) if matches!(stall, Stall::Silent | Stall::PartialStartup) => {
                            panic!("the gateway answered a {stall:?} connection")
                        }
                        Ok(_) => {}
                        Err(error) if is_closed(&error) => return,
                        Err(error) => panic!("{stall:?}: {error}"),
                    }
                }
            })
            .await;
            assert!(closed.is_ok(), "a {stall:?} connection was never dropped");
            (stall, connected_at.elapsed())
        });
    }
    let mut dropped_after: Vec<(Stall, Duration)> = waits.join_all().await;
    dropped_after.sort_by_key(|(_, d)| *d);
    let first = dropped_after.first().unwrap().1;
    let median = dropped_after[dropped_after.len() / 2].1;
    let last = dropped_after.last().unwrap().1;
    let mid_tls_last = dropped_after
        .iter()
        .filter(|(s, _)| *s == Stall::MidTlsHandshake)
        .map(|(_, d)| *d)
        .max()
        .unwrap();
    println!(
        "{count} stalled connections (open-files soft limit {soft}) opened in {opened_in:?}; \
         gateway fds {fds_before} -> {stalled_fds}; a normal client was served in {served_in:?}; \
         dropped after: first {first:?}, median {median:?}, last {last:?} \
         (mid-TLS-handshake last {mid_tls_last:?})"
    );
    assert!(count >= 500 || soft < 800, "only {count} connections");
    if opened_in < Duration::from_millis(800) {
        // None had timed out yet: the gateway held every one of them at once.
        assert!(
            stalled_fds >= fds_before + usize::try_from(count).unwrap(),
            "the stalled connections were not all held open at once ({fds_before} -> {stalled_fds})"
        );
    }
    assert!(served_in < Duration::from_secs(5), "{served_in:?}");
    // Not before the timeout (it is the timeout that drops them), and not long after it.
    assert!(first >= Duration::from_millis(900), "{first:?}");
    assert!(last < Duration::from_secs(5), "{last:?}");

    // Their descriptors are released, the gateway still serves, and none of them left
    // anything in the audit log: only the two real sessions connected.
    let started = Instant::now();
    while open_fds(gateway.pid) > fds_before + 10 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the gateway still holds {} descriptors (before: {fds_before})",
            open_fds(gateway.pid)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_serves(&gateway, &token, "demo", "SELECT name FROM items").await;
    raw_audit_export(&gateway);
    let connects = gateway
        .audit_events()
        .iter()
        .filter(|e| e["kind"] == "connect")
        .count();
    assert_eq!(connects, 2);
}

// ---------------------------------------------------------------------------------------------
// 3. A client that stops reading a large result.
// ---------------------------------------------------------------------------------------------

/// ~200 MB of rows.
const LARGE_RESULT: &str = "SELECT repeat('x', 1000) FROM generate_series(1, 200000)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_a_large_result_leaves_gateway_memory_bounded() {
    let (_db, gateway, direct) = support::items_behind_gateway(Options::default()).await;
    let token = gateway.key("ana", &["readers"]);
    let application = format!("faults-stalled-{}", support::random_suffix());

    let mut stalled = tls_connect(&gateway).await;
    if let Err(messages) = start_session(&mut stalled, &token, "demo", &application).await {
        panic!("login refused: {}", show(&messages));
    }
    assert_eq!(simple_query(&mut stalled, "SELECT 'warm'").await, ["warm"]);
    let baseline = support::proc_status_kib(gateway.pid, "VmRSS:");

    stalled.write_all(&query(LARGE_RESULT)).await.unwrap();
    let mut read = 0usize;
    let mut chunk = vec![0u8; 64 * 1024];
    while read < 1 << 20 {
        let n = stalled.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the result stopped after {read} bytes");
        read += n;
    }

    // The client reads nothing more. Sample the gateway's resident memory meanwhile.
    let sampling = Instant::now();
    let mut peak = baseline;
    let mut samples = 0;
    while sampling.elapsed() < Duration::from_secs(4) {
        peak = peak.max(support::proc_status_kib(gateway.pid, "VmRSS:"));
        samples += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let growth_kib = peak.saturating_sub(baseline);

    // Back-pressure reaches the server: its backend is blocked writing to the gateway.
    let waiting = support::backend_states(&direct, &application).await;
    assert_eq!(
        waiting,
        [("active".to_owned(), Some("ClientWrite".to_owned()))],
        "the server's backend should be blocked sending the result"
    );

    // Others are served while that client is stuck.
    let other = gateway.connect("ana", &token).await.unwrap();
    let row = other
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "one");

    println!(
        "client read {} KiB then stopped; gateway VmRSS {baseline} KiB -> peak {peak} KiB over \
         {samples} samples in 4 s: growth {growth_kib} KiB",
        read / 1024
    );
    assert!(
        growth_kib < 64 * 1024,
        "gateway memory grew by {growth_kib} KiB while a client was not reading"
    );

    // The client goes away: the server's query ends with it, and the gateway serves on.
    drop(stalled);
    let started = Instant::now();
    loop {
        let left: i64 = direct
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&application],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server's backend outlived the client by 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "server backend gone {:?} after the client closed",
        started.elapsed()
    );
    assert_serves(&gateway, &token, "demo", "SELECT name FROM items").await;

    raw_audit_export(&gateway);
    let events = gateway.audit_events();
    assert!(
        allowed_statements(&events).contains(LARGE_RESULT),
        "the large query was forwarded with its event"
    );
    let disconnects = events
        .iter()
        .filter(|e| e["kind"] == "disconnect")
        .filter_map(|e| e["detail"].as_str())
        .collect::<Vec<_>>();
    assert!(
        disconnects
            .iter()
            .any(|d| d.contains("session failed") || d.contains("client closed")),
        "{disconnects:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. A malicious backend.
// ---------------------------------------------------------------------------------------------

/// A PostgreSQL-speaking server of the test's own. It trusts whoever connects, then answers
/// each simple query according to the `case:<name>` the query text names (or, for startup
/// cases, the `application_name` the gateway passes through), and never closes a connection
/// first: whatever ends a session is the gateway's doing.
struct HostileServer {
    addr: SocketAddr,
    /// Query texts it received.
    received: Arc<Mutex<Vec<String>>>,
}

impl HostileServer {
    async fn start() -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(hostile_session(stream, log.clone()));
            }
        });
        HostileServer { addr, received }
    }

    fn received(&self) -> HashSet<String> {
        self.received.lock().unwrap().iter().cloned().collect()
    }

    fn connection(&self) -> String {
        format!(
            r#"
[[connections]]
name = "hostile"
kind = "postgres"
host = "127.0.0.1"
port = {port}
database = "hostile"
user = "x"
"#,
            port = self.addr.port()
        )
    }
}

/// An ErrorResponse with these fields.
fn error_message(fields: &[(u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (code, value) in fields {
        body.push(*code);
        body.extend_from_slice(value);
        body.push(0);
    }
    body.push(0);
    frame(b'E', &body)
}

/// Text that must never reach a log or terminal raw: ANSI colour and clear-screen escapes,
/// a bell, a backspace, a forged log line after CR LF, a tab, DEL, and a C1 control.
const HOSTILE_TEXT: &str = "boom \u{1b}[31mred\u{1b}[0m \u{1b}[2J\u{7}\u{8}\r\n2030-01-01T00:00:00Z INFO forged line\t\u{7f}\u{9b}";

fn row_description(columns: u16, present: u16) -> Vec<u8> {
    let mut body = columns.to_be_bytes().to_vec();
    for i in 0..present {
        body.extend_from_slice(&cstr(&format!("c{i}")));
        body.extend_from_slice(&0u32.to_be_bytes()); // table oid
        body.extend_from_slice(&0u16.to_be_bytes()); // column number
        body.extend_from_slice(&25u32.to_be_bytes()); // text
        body.extend_from_slice(&(-1i16).to_be_bytes()); // size
        body.extend_from_slice(&(-1i32).to_be_bytes()); // modifier
        body.extend_from_slice(&0u16.to_be_bytes()); // text format
    }
    frame(b'T', &body)
}

fn data_row(value: &[u8]) -> Vec<u8> {
    let mut body = 1u16.to_be_bytes().to_vec();
    body.extend_from_slice(&i32::try_from(value.len()).unwrap().to_be_bytes());
    body.extend_from_slice(value);
    frame(b'D', &body)
}

fn ready() -> Vec<u8> {
    frame(b'Z', b"I")
}

fn one_row(value: &str) -> Vec<u8> {
    [
        row_description(1, 1),
        data_row(value.as_bytes()),
        frame(b'C', &cstr("SELECT 1")),
        ready(),
    ]
    .concat()
}

/// What the hostile server answers to a query naming `case`.
fn hostile_answer(case: &str) -> Vec<u8> {
    match case {
        // A value whose length points 1,000 bytes past the end of its DataRow.
        "datarow-past-end" => {
            let mut body = 1u16.to_be_bytes().to_vec();
            body.extend_from_slice(&1000i32.to_be_bytes());
            body.extend_from_slice(b"abc");
            [
                row_description(1, 1),
                frame(b'D', &body),
                frame(b'C', &cstr("SELECT 1")),
                ready(),
            ]
            .concat()
        }
        // Three columns announced, one described.
        "rowdescription-past-end" => [
            row_description(3, 1),
            data_row(b"x"),
            frame(b'C', &cstr("SELECT 1")),
            ready(),
        ]
        .concat(),
        // A DataRow declaring 8 MiB (over the 1 MiB limit), of which 64 KiB arrive.
        "oversized" => {
            let mut out = vec![b'D'];
            out.extend_from_slice(&(8i32 * 1024 * 1024).to_be_bytes());
            out.extend_from_slice(&[0u8; 64 * 1024]);
            out
        }
        // A message type PostgreSQL does not have.
        "unknown-type" => [
            row_description(1, 1),
            frame(b'!', b"surprise"),
            frame(b'C', &cstr("SELECT 0")),
            ready(),
        ]
        .concat(),
        "error-control-characters" => [
            error_message(&[
                (b'S', b"ERROR"),
                (b'V', b"ERROR"),
                (b'C', b"XX000"),
                (b'M', HOSTILE_TEXT.as_bytes()),
                (b'D', HOSTILE_TEXT.as_bytes()),
            ]),
            ready(),
        ]
        .concat(),
        "error-invalid-utf8" => [
            error_message(&[
                (b'S', b"ERROR"),
                (b'V', b"ERROR"),
                (b'C', b"XX000"),
                (b'M', b"bad \xff\xfe\xc3( bytes \x1b[31m"),
            ]),
            ready(),
        ]
        .concat(),
        // An md5 password request in the middle of the session.
        "authentication-mid-session" => frame(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]),
        // A complete, valid answer, then bytes that frame nothing.
        "garbage-after-ready" => [
            one_row("fine"),
            b"\x00\xff\xfe garbage \x1b[2J\x07 HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        ]
        .concat(),
        _ => one_row("ok"),
    }
}

async fn hostile_session(mut stream: TcpStream, received: Arc<Mutex<Vec<String>>>) {
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).await.is_err() {
        return;
    }
    let mut startup = vec![0u8; usize::try_from(i32::from_be_bytes(len)).unwrap() - 4];
    if stream.read_exact(&mut startup).await.is_err() {
        return;
    }
    let text = String::from_utf8_lossy(&startup);
    let greeting = if text.contains("case:silent-startup") {
        Vec::new()
    } else if text.contains("case:error-at-startup") {
        error_message(&[
            (b'S', b"FATAL"),
            (b'V', b"FATAL"),
            (b'C', b"28000"),
            (b'M', HOSTILE_TEXT.as_bytes()),
        ])
    } else if text.contains("case:http-at-startup") {
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()
    } else {
        [
            frame(b'R', &0i32.to_be_bytes()),
            frame(b'S', &[cstr("server_version"), cstr("15.0")].concat()),
            frame(b'S', &[cstr("client_encoding"), cstr("UTF8")].concat()),
            frame(
                b'K',
                &[4242i32.to_be_bytes(), 1234i32.to_be_bytes()].concat(),
            ),
            ready(),
        ]
        .concat()
    };
    if stream.write_all(&greeting).await.is_err() {
        return;
    }
    loop {
        let mut header = [0u8; 5];
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        let len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let mut body = vec![0u8; usize::try_from(len).unwrap() - 4];
        if stream.read_exact(&mut body).await.is_err() {
            return;
        }
        match header[0] {
            b'X' => return,
            b'Q' => {
                let sql =
                    String::from_utf8_lossy(body.strip_suffix(b"\0").unwrap_or(&body)).into_owned();
                received.lock().unwrap().push(sql.clone());
                let case = sql
                    .split_once("case:")
                    .map(|(_, rest)| rest.trim_end_matches('\''))
                    .unwrap_or("normal");
                if stream.write_all(&hostile_answer(case)).await.is_err() {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// A gateway with a `hostile` connection to a fresh hostile server (server messages limited
/// to 1 MiB, 2 s to open a server session) and the usual `demo` on the real PostgreSQL.
async fn hostile_setup() -> (HostileServer, Gateway, String) {
    let server = HostileServer::start().await;
    let gateway = Gateway::start_with(
        "postgres",
        Options {
            postgres_extra: "max_server_message_bytes = 1048576\nconnect_timeout = \"2s\""
                .to_owned(),
            extra: server.connection(),
            ..Options::default()
        },
    );
    let token = gateway.key("ana", &["readers"]);
    (server, gateway, token)
}

/// After a hostile case: the gateway is alive and serves `demo`, every query the hostile
/// server received has its audit event, and the raw audit export is clean JSON lines.
async fn assert_unharmed(server: &HostileServer, gateway: &Gateway, token: &str) -> String {
    assert_serves(gateway, token, "demo", "SELECT current_database()").await;
    let export = raw_audit_export(gateway);
    assert_all_recorded(&server.received(), &gateway.audit_events());
    export
}

/// A query on `hostile` that the server answers with hostile bytes: the gateway ends the
/// session with FATAL `code` saying `says` (the client reads it, then the connection
/// closes) within a few seconds, and is unharmed.
async fn hostile_query_ends_the_session(case: &str, code: &str, says: &str) {
    let (server, gateway, token) = hostile_setup().await;
    let mut client = tls_connect(&gateway).await;
    login(&mut client, &token, "hostile").await;
    let started = Instant::now();
    client
        .write_all(&query(&format!("SELECT 'case:{case}'")))
        .await
        .unwrap();
    let messages = read_until_closed(&mut client, Duration::from_secs(5)).await;
    let fatal = the_fatal(&messages, code);
    assert!(fatal[&'M'].contains(says), "{case}: {fatal:?}");
    println!(
        "{case}: after {:?} the client read {}",
        started.elapsed(),
        show(&messages)
    );
    drop(client);
    assert_unharmed(&server, &gateway, &token).await;
    assert!(
        server.received().contains(&format!("SELECT 'case:{case}'")),
        "{:?}",
        server.received()
    );
    let ended = disconnects(&gateway, "hostile", 1).await;
    assert!(
        ended[0].starts_with("session failed") && ended[0].contains(says),
        "{ended:?}"
    );
}

#[tokio::test]
async fn a_backend_datarow_with_a_length_past_its_end_ends_the_session() {
    hostile_query_ends_the_session("datarow-past-end", "08P01", "malformed DataRow").await;
}

#[tokio::test]
async fn a_backend_rowdescription_with_missing_columns_ends_the_session() {
    hostile_query_ends_the_session(
        "rowdescription-past-end",
        "08P01",
        "malformed RowDescription",
    )
    .await;
}

#[tokio::test]
async fn a_backend_message_over_max_server_message_bytes_ends_the_session() {
    hostile_query_ends_the_session(
        "oversized",
        "08P01",
        "over the 1048576-byte limit (`max_server_message_bytes`)",
    )
    .await;
}

#[tokio::test]
async fn a_backend_message_of_unknown_type_ends_the_session() {
    hostile_query_ends_the_session("unknown-type", "08P01", "message type '!'").await;
}

#[tokio::test]
async fn a_backend_authentication_request_mid_session_ends_the_session() {
    hostile_query_ends_the_session("authentication-mid-session", "08P01", "startup-only").await;
}

#[tokio::test]
async fn backend_garbage_after_ready_for_query_ends_the_session() {
    let (server, gateway, token) = hostile_setup().await;
    let mut client = tls_connect(&gateway).await;
    login(&mut client, &token, "hostile").await;
    client
        .write_all(&query("SELECT 'case:garbage-after-ready'"))
        .await
        .unwrap();
    // The valid answer arrives whole; then, unprompted, the gateway's FATAL and the end.
    let answer = read_until_ready(&mut client).await;
    assert!(errors(&answer).is_empty(), "{}", show(&answer));
    assert!(answer.iter().any(|(tag, _)| *tag == b'D'));
    let rest = read_until_closed(&mut client, Duration::from_secs(5)).await;
    let fatal = the_fatal(&rest, "08P01");
    assert!(fatal[&'M'].contains("invalid length"), "{fatal:?}");
    println!(
        "garbage-after-ready: after the answer the client read {}",
        show(&rest)
    );
    drop(client);
    assert_unharmed(&server, &gateway, &token).await;
    let ended = disconnects(&gateway, "hostile", 1).await;
    assert!(ended[0].contains("invalid length"), "{ended:?}");
    // The answer that arrived whole before the garbage has its outcome.
    let events = gateway.audit_events();
    let outcome = events
        .iter()
        .find(|e| e["kind"] == "outcome")
        .expect("the statement's outcome");
    assert_eq!(outcome["outcome"]["command_tag"], "SELECT 1", "{outcome}");
}

/// Hostile text in a well-framed ErrorResponse is the server's error for that statement:
/// relayed as it is (a client displays server text at its own risk, as with PostgreSQL
/// itself), and the session goes on. In the audit log it is escaped JSON.
#[tokio::test]
async fn backend_errors_with_control_characters_or_invalid_utf8_are_relayed_and_escaped_in_the_audit_log()
 {
    let (server, gateway, token) = hostile_setup().await;
    let mut client = tls_connect(&gateway).await;
    login(&mut client, &token, "hostile").await;
    for case in ["error-control-characters", "error-invalid-utf8"] {
        client
            .write_all(&query(&format!("SELECT 'case:{case}'")))
            .await
            .unwrap();
        let messages = read_until_ready(&mut client).await;
        let relayed = errors(&messages);
        assert_eq!(relayed.len(), 1, "{case}: {}", show(&messages));
        assert_eq!(relayed[0][&'C'], "XX000");
        assert_eq!(relayed[0][&'V'], "ERROR");
        // The session goes on.
        assert_eq!(
            simple_query(&mut client, "SELECT 'case:normal'").await,
            ["ok"]
        );
    }
    let export = assert_unharmed(&server, &gateway, &token).await;
    let events: Vec<serde_json::Value> = export
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let outcome_errors: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "outcome")
        .filter_map(|e| e["outcome"]["error"].as_str())
        .collect();
    assert!(
        outcome_errors.contains(&format!("XX000: {HOSTILE_TEXT}").as_str()),
        "the control characters are recorded exactly, escaped: {outcome_errors:?}"
    );
    assert!(
        export.contains("\\u001b[31mred"),
        "ESC is escaped in the export"
    );
    assert!(
        outcome_errors.contains(&"XX000: bad \u{fffd}\u{fffd}\u{fffd}( bytes \u{1b}[31m"),
        "invalid UTF-8 is replaced, the rest of the message kept: {outcome_errors:?}"
    );
    assert_eq!(outcome_errors.len(), 2, "{outcome_errors:?}");
    println!("outcome errors recorded: {outcome_errors:?}");
    let log = gateway.log();
    println!(
        "serve.log holds {} raw ESC bytes",
        log.bytes().filter(|b| *b == 0x1b).count()
    );
}

/// Hostile startups: a server that never answers, one that refuses with hostile text, one
/// that is not PostgreSQL at all. The client gets FATAL naming the connection; nothing
/// hangs past `connect_timeout`.
#[tokio::test]
async fn a_backend_that_is_silent_or_hostile_at_startup_is_a_clear_connection_error() {
    let (server, gateway, token) = hostile_setup().await;
    for (case, code, says) in [
        (
            "silent-startup",
            "08001",
            "did not complete the connection within 2s",
        ),
        ("error-at-startup", "08001", "refused the connection"),
        ("http-at-startup", "08P01", "server sent a"),
    ] {
        let mut client = tls_connect(&gateway).await;
        let started = Instant::now();
        let refused = tokio::time::timeout(
            Duration::from_secs(10),
            start_session(&mut client, &token, "hostile", &format!("case:{case}")),
        )
        .await
        .unwrap_or_else(|_| panic!("{case}: the client hangs"));
        let messages = refused.expect_err("the session cannot start");
        let took = started.elapsed();
        let fatal = the_fatal(&messages, code);
        assert!(
            fatal[&'M'].contains("could not open connection `hostile`")
                && fatal[&'M'].contains(says),
            "{case}: {fatal:?}"
        );
        // Gatehouse's own message carries the server's text with its controls escaped.
        assert!(!fatal[&'M'].chars().any(char::is_control), "{fatal:?}");
        println!("{case}: after {took:?} the client read {}", show(&messages));
        assert!(took < Duration::from_secs(5), "{case}: {took:?}");
    }
    assert_unharmed(&server, &gateway, &token).await;
    assert!(server.received().is_empty(), "no query reached the server");
    let ended = disconnects(&gateway, "hostile", 3).await;
    assert!(
        ended
            .iter()
            .any(|d| d.contains("boom \\u{1b}[31mred\\u{1b}[0m \\u{1b}[2J\\u{7}\\u{8}\\r\\n2030")),
        "{ended:?}"
    );
    // The server's CR LF did not forge a line in the gateway's log.
    let log = gateway.log();
    assert!(log.contains("refused the connection: boom"), "{log}");
    assert!(
        !log.lines().any(|line| line.starts_with("2030-01-01")),
        "a forged log line: {log}"
    );
}
