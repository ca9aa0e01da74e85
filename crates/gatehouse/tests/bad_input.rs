//! Hostile and broken clients, spoken to byte by byte (plain TCP on loopback with
//! `allow_plaintext`, and TLS with the gateway's CA): garbage instead of a startup packet,
//! absurd declared lengths, truncated messages, oversized messages, message types that are not
//! valid in a session, malformed Bind, clients that connect and say nothing, and more clients
//! than `max_sessions`. Each one is refused the way PostgreSQL would (an ErrorResponse with
//! the right SQLSTATE where the protocol allows one, otherwise a closed connection), promptly,
//! without the gateway allocating what the peer asked for — and the gateway keeps serving
//! everyone else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Gateway, Options, TestDb, message, sqlstate};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const PROTOCOL_3_0: i32 = 196_608;

/// One backend message: (tag, body).
type Message = (u8, Vec<u8>);

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

/// A regular frontend message: tag, length, body.
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

/// The next backend message; `None` when the gateway closed (or reset) the connection.
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
        "the gateway sent a message with length {len}"
    );
    let mut body = vec![0u8; usize::try_from(len - 4).unwrap()];
    match stream.read_exact(&mut body).await {
        Ok(_) => Some((header[0], body)),
        Err(error) if is_closed(&error) => None,
        Err(error) => panic!("reading from the gateway failed: {error}"),
    }
}

fn is_closed(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// Everything the gateway sends until it closes the connection; fails if it has not closed
/// it within `limit`.
async fn read_until_closed<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Vec<Message> {
    tokio::time::timeout(limit, async {
        let mut messages = Vec::new();
        while let Some(message) = read_message(stream).await {
            messages.push(message);
        }
        messages
    })
    .await
    .unwrap_or_else(|_| panic!("the gateway did not close the connection within {limit:?}"))
}

/// Raw bytes until the gateway closes the connection (for replies that may not be framed).
async fn read_bytes_until_closed<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Vec<u8> {
    tokio::time::timeout(limit, async {
        let mut all = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(error) if is_closed(&error) => return all,
                Err(error) => panic!("reading from the gateway failed: {error}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the gateway did not close the connection within {limit:?}"))
}

/// Fields of an ErrorResponse body by field code.
fn fields(body: &[u8]) -> HashMap<char, String> {
    let mut out = HashMap::new();
    let mut rest = body;
    while let Some((&code, tail)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let end = tail.iter().position(|b| *b == 0).expect("terminated field");
        out.insert(
            char::from(code),
            String::from_utf8_lossy(&tail[..end]).into_owned(),
        );
        rest = &tail[end + 1..];
    }
    out
}

/// The single ErrorResponse among `messages`, as fields.
fn the_error(messages: &[Message]) -> HashMap<char, String> {
    let errors: Vec<_> = messages.iter().filter(|(tag, _)| *tag == b'E').collect();
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one ErrorResponse, got {:?}",
        messages
            .iter()
            .map(|(t, b)| (char::from(*t), String::from_utf8_lossy(b).into_owned()))
            .collect::<Vec<_>>()
    );
    fields(&errors[0].1)
}

fn gateway_options(postgres_extra: &str) -> Options {
    Options {
        postgres_extra: postgres_extra.to_owned(),
        ..Options::default()
    }
}

async fn setup(postgres_extra: &str) -> (TestDb, Gateway, String) {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one');",
        )
        .await
        .unwrap();
    let gateway = Gateway::start_with(&db.name, gateway_options(postgres_extra));
    let token = gateway.key("ana", &["readers"]);
    (db, gateway, token)
}

async fn plain(gateway: &Gateway) -> TcpStream {
    TcpStream::connect(gateway.pg_addr).await.unwrap()
}

/// SSLRequest, then a TLS handshake that verifies the gateway against its CA.
async fn tls(gateway: &Gateway) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut tcp = plain(gateway).await;
    tcp.write_all(&SSL_REQUEST).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"S", "the gateway accepts TLS");
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(gateway.ca_file()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .expect("TLS handshake with the gateway")
}

/// Startup as ana on `demo` with the token as password; returns once ReadyForQuery arrived.
async fn login<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, token: &str) {
    stream
        .write_all(&startup_packet(&[("user", "ana"), ("database", "demo")]))
        .await
        .unwrap();
    let (tag, body) = read_message(stream).await.expect("password request");
    assert_eq!(
        (tag, body.as_slice()),
        (b'R', &3_i32.to_be_bytes()[..]),
        "the gateway asks for the token as a cleartext password"
    );
    stream.write_all(&frame(b'p', &cstr(token))).await.unwrap();
    let mut authenticated = false;
    loop {
        let (tag, body) = read_message(stream).await.expect("login completes");
        match tag {
            b'R' => {
                assert_eq!(body, 0_i32.to_be_bytes());
                authenticated = true;
            }
            b'Z' => break,
            b'E' => panic!("login refused: {:?}", fields(&body)),
            _ => {}
        }
    }
    assert!(authenticated, "AuthenticationOk before ReadyForQuery");
}

/// Run a simple query on a logged-in raw connection; returns the first column of each row.
async fn simple_query<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, sql: &str) -> Vec<String> {
    stream.write_all(&query(sql)).await.unwrap();
    let mut rows = Vec::new();
    loop {
        let (tag, body) = read_message(stream).await.expect("query answer");
        match tag {
            b'D' => {
                let len = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                let value = &body[6..6 + usize::try_from(len).unwrap()];
                rows.push(String::from_utf8_lossy(value).into_owned());
            }
            b'E' => panic!("query failed: {:?}", fields(&body)),
            b'Z' => return rows,
            _ => {}
        }
    }
}

/// The gateway still serves: a raw plaintext login + query, and a TLS tokio-postgres client.
async fn assert_still_serves(gateway: &Gateway, token: &str, plaintext: bool) {
    if plaintext {
        let mut raw = plain(gateway).await;
        login(&mut raw, token).await;
        assert_eq!(
            simple_query(&mut raw, "SELECT name FROM items WHERE id = 1").await,
            ["one"]
        );
    }
    let client = gateway
        .connect("ana", token)
        .await
        .expect("a valid client still connects");
    let row = client
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "one");
}

/// Peak virtual memory of the gateway process, in KiB.
fn vm_peak_kib(gateway: &Gateway) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", gateway.pid)).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmPeak:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmPeak in /proc/PID/status")
}

#[tokio::test]
async fn garbage_instead_of_a_startup_packet_is_dropped_and_others_are_still_served() {
    let (_db, gateway, token) = setup("allow_plaintext = true\nhandshake_timeout = \"30s\"").await;
    let prompt = Duration::from_secs(3);

    // An HTTP request: its "length" is "GET " = 1.2 GB, far over any limit. PostgreSQL closes
    // such a connection without a reply (the peer does not speak the protocol).
    for garbage in [
        b"GET / HTTP/1.1\r\nHost: gatehouse\r\n\r\n".to_vec(),
        vec![0xff; 300],
        vec![0x00, 0x00, 0x00, 0x02, 0xde, 0xad],
    ] {
        let mut raw = plain(&gateway).await;
        raw.write_all(&garbage).await.unwrap();
        let reply = read_bytes_until_closed(&mut raw, prompt).await;
        if !reply.is_empty() {
            // If anything is said, it is a protocol-violation error.
            let mut cursor = reply.as_slice();
            let (tag, body) = read_message(&mut cursor).await.expect("an ErrorResponse");
            assert_eq!(tag, b'E', "{reply:?}");
            assert_eq!(fields(&body)[&'C'], "08P01");
        }
        assert_still_serves(&gateway, &token, true).await;
    }

    // A well-framed packet with a protocol version nobody speaks gets a FATAL 08P01 naming
    // the version gatehouse does speak.
    let mut raw = plain(&gateway).await;
    let mut packet = 16_i32.to_be_bytes().to_vec();
    packet.extend_from_slice(&0x0009_0000_i32.to_be_bytes());
    packet.extend_from_slice(b"junkjunk");
    raw.write_all(&packet).await.unwrap();
    let error = the_error(&read_until_closed(&mut raw, prompt).await);
    assert_eq!(error[&'S'], "FATAL");
    assert_eq!(error[&'C'], "08P01");
    assert!(error[&'M'].contains("protocol 3.0"), "{error:?}");

    // A startup packet whose parameters are not NUL-terminated pairs.
    let mut raw = plain(&gateway).await;
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0ana");
    let mut packet = (i32::try_from(body.len()).unwrap() + 4)
        .to_be_bytes()
        .to_vec();
    packet.extend_from_slice(&body);
    raw.write_all(&packet).await.unwrap();
    let reply = read_bytes_until_closed(&mut raw, prompt).await;
    assert!(
        !reply.starts_with(b"R"),
        "a malformed startup must not be asked for a password"
    );

    // Garbage inside an established TLS session is treated the same way.
    let mut tls = tls(&gateway).await;
    tls.write_all(&[0xff; 64]).await.unwrap();
    let _ = read_bytes_until_closed(&mut tls, prompt).await;

    assert_still_serves(&gateway, &token, true).await;
}

#[tokio::test]
async fn a_huge_declared_length_is_refused_at_once_without_being_allocated() {
    let (_db, gateway, token) = setup("allow_plaintext = true\nhandshake_timeout = \"30s\"").await;
    let before = vm_peak_kib(&gateway);

    // Startup: 0x7fffffff bytes announced, 4 sent. The gateway must neither wait for the rest
    // (the handshake timeout is 30 s) nor reserve 2 GiB for it.
    let started = Instant::now();
    let mut raw = plain(&gateway).await;
    let mut packet = 0x7fff_ffff_i32.to_be_bytes().to_vec();
    packet.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    raw.write_all(&packet).await.unwrap();
    let _ = read_bytes_until_closed(&mut raw, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));

    // After login: a Query announcing 0x7fffffff bytes ends the session with 08P01.
    let mut raw = plain(&gateway).await;
    login(&mut raw, &token).await;
    let mut header = vec![b'Q'];
    header.extend_from_slice(&0x7fff_ffff_i32.to_be_bytes());
    header.extend_from_slice(b"SELECT 1");
    raw.write_all(&header).await.unwrap();
    let error = the_error(&read_until_closed(&mut raw, Duration::from_secs(3)).await);
    assert_eq!(error[&'C'], "08P01", "{error:?}");
    assert!(error[&'M'].contains("max_message_bytes"), "{error:?}");

    let after = vm_peak_kib(&gateway);
    assert!(
        after < before + 512 * 1024,
        "the gateway's peak memory grew from {before} KiB to {after} KiB"
    );
    assert_still_serves(&gateway, &token, true).await;
}

#[tokio::test]
async fn a_truncated_message_followed_by_close_ends_only_that_connection() {
    let (db, gateway, token) = setup("allow_plaintext = true\nhandshake_timeout = \"30s\"").await;
    let prompt = Duration::from_secs(3);

    // During startup: 100 bytes announced, 20 sent, then the client closes its side.
    let mut raw = plain(&gateway).await;
    let mut packet = 100_i32.to_be_bytes().to_vec();
    packet.extend_from_slice(&PROTOCOL_3_0.to_be_bytes());
    packet.extend_from_slice(b"user\0ana\0data");
    raw.write_all(&packet).await.unwrap();
    raw.shutdown().await.unwrap();
    let reply = read_bytes_until_closed(&mut raw, prompt).await;
    assert!(!reply.starts_with(b"R"), "{reply:?}");
    assert_still_serves(&gateway, &token, true).await;

    // In a session: half a Query, then the client closes its side. The gateway says why it
    // ended the session and closes the server connection too.
    let direct = db.direct().await;
    let mut raw = plain(&gateway).await;
    login(&mut raw, &token).await;
    let mut partial = vec![b'Q'];
    partial.extend_from_slice(&100_i32.to_be_bytes());
    partial.extend_from_slice(b"SELECT na");
    raw.write_all(&partial).await.unwrap();
    raw.shutdown().await.unwrap();
    let error = the_error(&read_until_closed(&mut raw, prompt).await);
    assert_eq!(error[&'C'], "08P01", "{error:?}");
    assert!(error[&'M'].contains("middle of a message"), "{error:?}");

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let others: i64 = direct
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if others == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server session of the truncated client was left open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_still_serves(&gateway, &token, true).await;
}

/// Send `big` bytes of a Query on a logged-in stream while reading the gateway's answer.
async fn send_oversized_query<S>(stream: S, size: usize) -> Vec<Message>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut read, mut write) = tokio::io::split(stream);
    let mut message = vec![b'Q'];
    message.extend_from_slice(&(i32::try_from(size).unwrap() + 4).to_be_bytes());
    message.extend_from_slice(b"SELECT '");
    message.resize(5 + size - 2, b'x');
    message.extend_from_slice(b"'\0");
    let writer = tokio::spawn(async move {
        // The gateway stops reading once it has seen the length: the write may fail.
        let _ = write.write_all(&message).await;
        write
    });
    let messages = read_until_closed(&mut read, Duration::from_secs(5)).await;
    let _ = writer.await;
    messages
}

#[tokio::test]
async fn an_oversized_message_ends_the_session_with_08p01_naming_the_limit() {
    let (_db, gateway, token) = setup("allow_plaintext = true\nmax_message_bytes = 1048576").await;

    // Under the limit is fine: a 512 KiB query runs.
    let mut raw = plain(&gateway).await;
    login(&mut raw, &token).await;
    let literal = "y".repeat(512 * 1024);
    let rows = simple_query(&mut raw, &format!("SELECT length('{literal}')::text")).await;
    assert_eq!(rows, [(512 * 1024).to_string()]);

    // 2 MiB over plaintext.
    let mut raw = plain(&gateway).await;
    login(&mut raw, &token).await;
    let error = the_error(&send_oversized_query(raw, 2 * 1024 * 1024).await);
    assert_eq!(error[&'S'], "FATAL");
    assert_eq!(error[&'C'], "08P01", "{error:?}");
    assert!(
        error[&'M'].contains("1048576") && error[&'M'].contains("max_message_bytes"),
        "the error names the limit: {error:?}"
    );
    assert_still_serves(&gateway, &token, true).await;

    // 2 MiB over TLS.
    let mut tls = tls(&gateway).await;
    login(&mut tls, &token).await;
    let error = the_error(&send_oversized_query(tls, 2 * 1024 * 1024).await);
    assert_eq!(error[&'C'], "08P01", "{error:?}");
    assert!(error[&'M'].contains("max_message_bytes"), "{error:?}");
    assert_still_serves(&gateway, &token, true).await;

    // psql shows the same. (The SQL goes in a file: 2 MiB is too long for an argument.)
    let big = "z".repeat(2 * 1024 * 1024);
    let file = gateway.dir.path().join("big.sql");
    std::fs::write(&file, format!("SELECT length('{big}');")).unwrap();
    let conninfo = gateway.psql_conninfo("ana", "demo");
    let output = std::process::Command::new("psql")
        .arg(conninfo)
        .args(["-X", "-f"])
        .arg(&file)
        .env("PGPASSWORD", &token)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        err.contains("FATAL") && err.contains("over the 1048576-byte limit (`max_message_bytes`)"),
        "{err}"
    );
    assert_still_serves(&gateway, &token, true).await;

    // A driver that is still writing when the gateway gives up reads the error too, because
    // the gateway drains the rest of the message before closing.
    let client = gateway.connect("ana", &token).await.unwrap();
    let huge = "w".repeat(24 * 1024 * 1024);
    let error = client
        .simple_query(&format!("SELECT length('{huge}')"))
        .await
        .unwrap_err();
    assert_eq!(
        support::sqlstate(&error).as_deref(),
        Some("08P01"),
        "{error}"
    );
    assert!(
        support::message(&error).contains("max_message_bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn message_types_not_valid_in_a_session_end_it_with_08p01() {
    let (_db, gateway, token) = setup("allow_plaintext = true").await;
    for (label, message) in [
        ("a second password", frame(b'p', &cstr(&token))),
        ("tag 0x01", frame(0x01, b"whatever")),
        ("an SSLRequest", frame(0x00, &SSL_REQUEST)),
    ] {
        let mut raw = plain(&gateway).await;
        login(&mut raw, &token).await;
        raw.write_all(&message).await.unwrap();
        let error = the_error(&read_until_closed(&mut raw, Duration::from_secs(3)).await);
        assert_eq!(error[&'S'], "FATAL", "{label}");
        assert_eq!(error[&'C'], "08P01", "{label}: {error:?}");
        assert!(
            error[&'M'].contains("protocol violation"),
            "{label}: {error:?}"
        );
        assert_still_serves(&gateway, &token, true).await;
    }

    // Over TLS, too.
    let mut tls = tls(&gateway).await;
    login(&mut tls, &token).await;
    tls.write_all(&frame(0x01, b"")).await.unwrap();
    let error = the_error(&read_until_closed(&mut tls, Duration::from_secs(3)).await);
    assert_eq!(error[&'C'], "08P01", "{error:?}");
    assert!(
        error[&'M'].contains("not valid in a running session"),
        "{error:?}"
    );
    assert_still_serves(&gateway, &token, true).await;
}

#[tokio::test]
async fn a_malformed_bind_gets_08p01() {
    let (_db, gateway, token) = setup("allow_plaintext = true").await;

    // Names without terminators: the gateway cannot decode it and ends the session.
    let mut raw = plain(&gateway).await;
    login(&mut raw, &token).await;
    let mut batch = frame(b'P', &[cstr(""), cstr("SELECT 1"), vec![0, 0]].concat());
    batch.extend_from_slice(&frame(b'B', b"portal-without-end"));
    batch.extend_from_slice(&frame(b'S', b""));
    raw.write_all(&batch).await.unwrap();
    let messages = read_until_closed(&mut raw, Duration::from_secs(3)).await;
    let error = the_error(&messages);
    assert_eq!(error[&'S'], "FATAL");
    assert_eq!(error[&'C'], "08P01", "{error:?}");
    assert!(error[&'M'].contains("malformed Bind"), "{error:?}");
    assert_still_serves(&gateway, &token, true).await;

    // Names intact but the parameter section cut short: relayed, and the server rejects it
    // with 08P01 without running anything; the session stays usable after Sync.
    let mut raw = plain(&gateway).await;
    login(&mut raw, &token).await;
    let mut batch = frame(
        b'P',
        &[cstr(""), cstr("SELECT $1::int"), vec![0, 0]].concat(),
    );
    batch.extend_from_slice(&frame(b'B', &[cstr(""), cstr(""), vec![0]].concat()));
    batch.extend_from_slice(&frame(b'E', &[cstr(""), vec![0, 0, 0, 0]].concat()));
    batch.extend_from_slice(&frame(b'S', b""));
    raw.write_all(&batch).await.unwrap();
    let mut answer = Vec::new();
    loop {
        let (tag, body) = read_message(&mut raw).await.expect("answer to the batch");
        answer.push((tag, body));
        if tag == b'Z' {
            break;
        }
    }
    assert!(
        !answer.iter().any(|(tag, _)| *tag == b'D'),
        "nothing ran: {answer:?}"
    );
    let error = the_error(&answer);
    assert_eq!(error[&'C'], "08P01", "{error:?}");
    assert_eq!(
        simple_query(&mut raw, "SELECT name FROM items WHERE id = 1").await,
        ["one"]
    );
}

#[tokio::test]
async fn clients_that_say_nothing_are_dropped_after_the_handshake_timeout() {
    let (_db, gateway, token) = setup("allow_plaintext = true\nhandshake_timeout = \"1s\"").await;
    let window = |started: Instant, what: &str| {
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(800),
            "{what} was dropped after {took:?}, before the handshake timeout"
        );
        assert!(
            took < Duration::from_secs(4),
            "{what} was held for {took:?}"
        );
    };

    let started = Instant::now();
    let mut silent = plain(&gateway).await;
    let _ = read_bytes_until_closed(&mut silent, Duration::from_secs(10)).await;
    window(started, "a silent TCP client");

    let started = Instant::now();
    let mut silent = tls(&gateway).await;
    let _ = read_bytes_until_closed(&mut silent, Duration::from_secs(10)).await;
    window(started, "a silent TLS client");

    // Sent a startup packet but never the password: the timeout covers all of startup.
    let started = Instant::now();
    let mut stalled = plain(&gateway).await;
    stalled
        .write_all(&startup_packet(&[("user", "ana"), ("database", "demo")]))
        .await
        .unwrap();
    let (tag, _) = read_message(&mut stalled).await.expect("password request");
    assert_eq!(tag, b'R');
    let _ = read_bytes_until_closed(&mut stalled, Duration::from_secs(10)).await;
    window(started, "a client that never sent its password");

    // A client that logs in in time is not subject to the timeout afterwards.
    let client = gateway.connect("ana", &token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.query_one("SELECT 1", &[]).await.unwrap();
}

#[tokio::test]
async fn fifty_idle_connections_do_not_lock_out_a_real_client() {
    let (_db, gateway, token) =
        setup("allow_plaintext = true\nhandshake_timeout = \"60s\"\nmax_sessions = 1000").await;
    let mut idle_tcp = Vec::new();
    let mut idle_mid_tls = Vec::new();
    for _ in 0..25 {
        idle_tcp.push(plain(&gateway).await);
        // Asked for TLS, got `S`, and then never started the handshake.
        let mut tcp = plain(&gateway).await;
        tcp.write_all(&SSL_REQUEST).await.unwrap();
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"S");
        idle_mid_tls.push(tcp);
    }

    let started = Instant::now();
    assert_still_serves(&gateway, &token, true).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a real client took {:?} next to 50 idle ones",
        started.elapsed()
    );

    // The idle ones are still being waited for (they have not been dropped early).
    let mut probe = [0u8; 1];
    let still_open =
        tokio::time::timeout(Duration::from_millis(200), idle_tcp[0].read(&mut probe)).await;
    assert!(still_open.is_err(), "the idle connection is still open");
}

#[tokio::test]
async fn more_clients_than_max_sessions_get_53300() {
    let (_db, gateway, token) = setup("allow_plaintext = true\nmax_sessions = 2").await;
    let first = gateway.connect("ana", &token).await.unwrap();
    let second = gateway.connect("ana", &token).await.unwrap();

    // A driver over TLS (the default and recommended mode) sees the real reason.
    let error = match gateway.connect("ana", &token).await {
        Ok(_) => panic!("a third session must be refused"),
        Err(error) => error,
    };
    assert_eq!(sqlstate(&error).as_deref(), Some("53300"), "{error}");
    assert!(message(&error).contains("max_sessions"), "{error}");

    // So does psql.
    let (ok, _, err) = gateway.psql("ana", &token, "SELECT 1");
    assert!(!ok);
    assert!(err.contains("too many open sessions"), "{err}");

    // And a raw plaintext client.
    let mut raw = plain(&gateway).await;
    raw.write_all(&startup_packet(&[("user", "ana"), ("database", "demo")]))
        .await
        .unwrap();
    let error = the_error(&read_until_closed(&mut raw, Duration::from_secs(3)).await);
    assert_eq!(error[&'C'], "53300", "{error:?}");

    // The two sessions are unaffected, and a cancel request still gets through at capacity
    // (as with PostgreSQL): it needs no session slot.
    second.query_one("SELECT 1", &[]).await.unwrap();
    let cancel = first.cancel_token();
    let sleeping = tokio::spawn(async move {
        let result = first.simple_query("SELECT pg_sleep(30)").await.map(drop);
        (first, result)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    cancel
        .cancel_query(gateway.tls())
        .await
        .expect("a cancel request is relayed while every slot is taken");
    let (first, result) = tokio::time::timeout(Duration::from_secs(10), sleeping)
        .await
        .expect("the cancelled query ends at once")
        .unwrap();
    let error = result.expect_err("the query was cancelled");
    assert_eq!(sqlstate(&error).as_deref(), Some("57014"), "{error}");

    // Closing a session makes room.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    let third = loop {
        match gateway.connect("ana", &token).await {
            Ok(client) => break client,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "no room after a client left: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    third.query_one("SELECT 1", &[]).await.unwrap();
    second.query_one("SELECT 1", &[]).await.unwrap();
}

#[tokio::test]
async fn a_client_cannot_forge_lines_in_the_gateway_log() {
    let db = TestDb::create().await;
    let gateway = Gateway::start(&db.name);
    let forged = "2030-01-01T00:00:00.000000Z  INFO forged line";
    for (user, dbname) in [
        (format!("ana\r\n{forged}"), "demo".to_owned()),
        ("ana".to_owned(), format!("nope\n{forged}")),
    ] {
        let mut config = gateway.client_config(&user, "gh_000000000000_not-a-real-token", &dbname);
        config.connect_timeout(std::time::Duration::from_secs(5));
        assert!(config.connect(gateway.tls()).await.is_err());
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = gateway.log();
    assert!(
        log.contains("forged line"),
        "the attempts are logged: {log}"
    );
    assert!(
        !log.lines().any(|line| line.starts_with("2030-01-01")),
        "a client forged a log line:\n{log}"
    );
}
