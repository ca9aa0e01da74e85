//! What drivers rely on works through gatehouse as it does against PostgreSQL directly: the
//! backend pid is the server's (so `pg_backend_pid()`, notification pids and
//! `pg_terminate_backend` agree with it), cursors declared in SQL are usable by name through
//! the protocol, `DEALLOCATE` of a statement prepared through the protocol works, text that
//! does not parse gets `syntax_error` with its position, settings at connection time are
//! decided like `SET`, non-UTF-8 client encodings work, a server that ends the session is
//! reported once, cancel requests over TLS are closed cleanly, and a large response reaches a
//! client slower than the gateway whole over TLS.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use bytes::{BufMut, BytesMut};
use std::sync::Arc;
use std::time::Duration;
use support::raw::{Batch, Raw, command_tags, errors, first_column};
use support::{Gateway, Options, TestDb, message, sqlstate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn setup() -> (TestDb, Gateway, tokio_postgres::Client) {
    support::items_behind_gateway(Options {
        postgres_extra: "allow_plaintext = true".into(),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn the_backend_pid_is_the_servers_and_notifications_carry_it() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("root", &["admins"]);
    let mut raw = Raw::connect(&gateway, "root", &token).await;
    let (pid, _) = raw.key.expect("a cancel key");
    let answer = raw
        .round_trip(Batch::new().query("SELECT pg_backend_pid()"))
        .await;
    assert_eq!(first_column(&answer), [Some(pid.to_string())]);

    let answer = raw
        .round_trip(Batch::new().query("LISTEN ch; NOTIFY ch, 'hello'"))
        .await;
    let notification = answer
        .iter()
        .find(|m| m.tag == b'A')
        .expect("the notification");
    assert_eq!(
        i32::from_be_bytes(notification.body[..4].try_into().unwrap()),
        pid,
        "a driver matches its own notifications by this pid"
    );
}

#[tokio::test]
async fn a_session_the_server_terminates_gets_the_servers_error_and_nothing_after_it() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("root", &["admins"]);
    let mut raw = Raw::connect(&gateway, "root", &token).await;
    raw.send(Batch::new().query("SELECT pg_terminate_backend(pg_backend_pid())"))
        .await;
    let rest = raw.until_closed().await;
    let seen = errors(&rest);
    assert_eq!(seen.len(), 1, "exactly one error: {seen:?}");
    assert_eq!(seen[0].0, "57P01", "{seen:?}");
}

#[tokio::test]
async fn a_cursor_declared_in_sql_is_described_and_fetched_by_name_through_the_protocol() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    let answer = raw
        .round_trip(
            Batch::new()
                .query("BEGIN; DECLARE c CURSOR FOR SELECT id, name FROM items ORDER BY id"),
        )
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");

    // psycopg's server-side cursors: Describe the portal, then fetch by name.
    let mut describe = BytesMut::new();
    postgres_protocol::message::frontend::describe(b'P', "c", &mut describe).unwrap();
    let mut batch = Batch::new();
    batch.0.extend_from_slice(&describe);
    let described = raw.round_trip(batch.sync()).await;
    assert!(errors(&described).is_empty(), "{described:?}");
    assert!(described.iter().any(|m| m.tag == b'T'), "{described:?}");

    let fetched = raw.round_trip(Batch::new().execute("c", 1).sync()).await;
    assert!(errors(&fetched).is_empty(), "{fetched:?}");
    assert_eq!(first_column(&fetched), [Some("1".to_owned())]);
    assert!(
        fetched.iter().any(|m| m.tag == b's'),
        "suspended after one row"
    );

    let rest = raw
        .round_trip(Batch::new().query("FETCH ALL FROM c; COMMIT"))
        .await;
    assert_eq!(first_column(&rest), [Some("2".to_owned())]);

    // Each use of the cursor is decided as the query it runs, reading `items`.
    let events = gateway.audit_events();
    let fetches: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "statement" && e["statement"] == "FETCH ALL FROM c")
        .collect();
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0]["action"], "sql:select");
}

#[tokio::test]
async fn deallocate_of_a_statement_prepared_through_the_protocol_works() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    let answer = raw
        .round_trip(
            Batch::new()
                .parse("_pg3_0", "SELECT name FROM items WHERE id = 1")
                .sync(),
        )
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");

    // libpq < 17 deallocates with SQL; PostgreSQL answers DEALLOCATE.
    let answer = raw
        .round_trip(Batch::new().query("DEALLOCATE _pg3_0"))
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    assert_eq!(command_tags(&answer), ["DEALLOCATE"]);

    // It is gone: using it fails as it would on the server.
    let answer = raw
        .round_trip(Batch::new().bind("", "_pg3_0").execute("", 0).sync())
        .await;
    assert_eq!(errors(&answer).len(), 1, "{answer:?}");
    // A name never prepared is the server's error, as without gatehouse.
    let answer = raw
        .round_trip(Batch::new().query("DEALLOCATE nosuch"))
        .await;
    let seen = errors(&answer);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "26000", "{seen:?}");
    // The session goes on.
    let answer = raw.round_trip(Batch::new().query("SELECT 1")).await;
    assert_eq!(first_column(&answer), [Some("1".to_owned())]);
}

#[tokio::test]
async fn text_that_does_not_parse_gets_syntax_error_with_its_position() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let error = client
        .batch_execute("SELECT 1 FROM FROM items")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("42601"), "{error}");
    let db = error.as_db_error().unwrap();
    assert!(db.message().contains("syntax error"), "{}", db.message());
    assert_eq!(
        db.position(),
        Some(&tokio_postgres::error::ErrorPosition::Original(15))
    );
    // psql shows where.
    let (_, _, stderr) = gateway.psql("ana", &token, "SELEC 1");
    assert!(stderr.contains("syntax error"), "{stderr}");
    assert!(stderr.contains("LINE 1: SELEC 1"), "{stderr}");
    assert_eq!(
        client
            .query_one("SELECT 2", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        2
    );
}

#[tokio::test]
async fn settings_at_connection_time_are_decided_like_set() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);

    // Ordinary settings reach the server (node-postgres and pools send these).
    let mut config = gateway.client_config("ana", &token, "demo");
    config.options("-c statement_timeout=200ms -c search_path=public");
    let (client, connection) = config.connect(gateway.tls()).await.unwrap();
    tokio::spawn(connection);
    let shown: String = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, "200ms");
    let error = client
        .batch_execute("SELECT pg_sleep(2)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("57014"), "{error}");
    let (raw, greeting) = Raw::try_connect(
        &gateway,
        "ana",
        &token,
        &[("idle_in_transaction_session_timeout", "10s")],
    )
    .await;
    assert!(errors(&greeting).is_empty(), "{greeting:?}");
    drop(raw);

    // Who the session is, and how it is parsed, are not a reader's to change.
    for options in [
        "-c role=postgres",
        "-c session_authorization=postgres",
        "-c standard_conforming_strings=off",
        "-c client_encoding=SJIS",
    ] {
        let mut config = gateway.client_config("ana", &token, "demo");
        config.options(options);
        let error = config.connect(gateway.tls()).await.err().expect(options);
        assert_eq!(
            sqlstate(&error).as_deref(),
            Some("42501"),
            "{options}: {error}"
        );
        assert!(message(&error).contains("startup parameter"), "{error}");
    }
    // Server switches other than settings are refused outright.
    let mut config = gateway.client_config("ana", &token, "demo");
    config.options("-F");
    let error = config.connect(gateway.tls()).await.err().unwrap();
    assert_eq!(sqlstate(&error).as_deref(), Some("08P01"), "{error}");

    let events = gateway.audit_events();
    assert!(
        events.iter().any(|e| e["kind"] == "statement"
            && e["decision"] == "deny"
            && e["statement"]
                .as_str()
                .is_some_and(|s| s.contains("\"role\""))),
        "the refused setting is in the audit log"
    );
}

#[tokio::test]
async fn a_latin9_client_is_read_in_latin9_and_stays_connected() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw =
        Raw::connect_with(&gateway, "ana", &token, &[("client_encoding", "LATIN9")]).await;
    // 'café €' in LATIN9: é = 0xE9, € = 0xA4; the column's name is in LATIN9 too.
    let mut batch = Batch::new();
    let sql = b"SELECT 'caf\xe9 \xa4' AS \"\xa4\"";
    batch.0.put_u8(b'Q');
    batch.0.put_i32(i32::try_from(sql.len() + 5).unwrap());
    batch.0.put_slice(sql);
    batch.0.put_u8(0);
    let answer = raw.round_trip(batch).await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    let row = answer.iter().find(|m| m.tag == b'D').unwrap();
    assert!(
        row.body.windows(6).any(|w| w == b"caf\xe9 \xa4"),
        "the server answers in LATIN9: {row:?}"
    );
    let description = answer.iter().find(|m| m.tag == b'T').unwrap();
    assert_eq!(
        description.body.get(2..4),
        Some(&b"\xa4\0"[..]),
        "the column's name in LATIN9: {description:?}"
    );

    // Switching encodings is followed; to one that can hide quotes in characters, refused.
    let answer = raw
        .round_trip(Batch::new().query("SET client_encoding TO 'UTF8'"))
        .await;
    assert!(errors(&answer).is_empty(), "{answer:?}");
    let answer = raw
        .round_trip(Batch::new().query("SELECT 'café' AS word"))
        .await;
    assert_eq!(first_column(&answer), [Some("café".to_owned())]);
    let answer = raw
        .round_trip(Batch::new().query("SET client_encoding TO 'SJIS'"))
        .await;
    assert_eq!(errors(&answer)[0].0, "42501", "{answer:?}");

    // Bytes that are not UTF-8 in a UTF-8 session: the server's own error, nothing forwarded.
    let mut batch = Batch::new();
    let sql = b"SELECT '\xff'";
    batch.0.put_u8(b'Q');
    batch.0.put_i32(i32::try_from(sql.len() + 5).unwrap());
    batch.0.put_slice(sql);
    batch.0.put_u8(0);
    let answer = raw.round_trip(batch).await;
    assert_eq!(errors(&answer)[0].0, "22021", "{answer:?}");
    let answer = raw.round_trip(Batch::new().query("SELECT 1")).await;
    assert_eq!(first_column(&answer), [Some("1".to_owned())]);
    assert_eq!(support::count(&direct, "items").await, 2);
}

#[tokio::test]
async fn a_cancel_request_over_tls_is_answered_with_a_tls_close() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    let (pid, secret) = raw.key.unwrap();
    raw.send(Batch::new().query("SELECT pg_sleep(30)")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // libpq ≥ 17: SSLRequest, TLS, CancelRequest, then wait for the server to close.
    let mut tcp = tokio::net::TcpStream::connect(gateway.pg_addr)
        .await
        .unwrap();
    let mut request = BytesMut::new();
    request.put_i32(8);
    request.put_i32(80_877_103);
    tcp.write_all(&request).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"S");
    let connector = tokio_rustls::TlsConnector::from(Arc::new(gateway.tls_client_config()));
    let name = rustls::pki_types::ServerName::try_from(gateway.pg_addr.ip().to_string()).unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let mut cancel = BytesMut::new();
    cancel.put_i32(16);
    cancel.put_i32(80_877_102);
    cancel.put_i32(pid);
    cancel.put_i32(secret);
    tls.write_all(&cancel).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut rest))
        .await
        .unwrap();
    assert!(
        read.is_ok(),
        "the gateway closed without close_notify: {read:?}"
    );

    let answer = raw.until_ready().await;
    assert_eq!(errors(&answer)[0].0, "57014", "{answer:?}");
}

/// A TCP stream whose reads take at most `CHUNK` bytes per millisecond: a client slower than
/// the gateway, so the gateway's writes always find the socket full.
struct SlowReader {
    inner: tokio::net::TcpStream,
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl SlowReader {
    const CHUNK: usize = 16 * 1024;
}

impl tokio::io::AsyncRead for SlowReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::future::Future;
        if let Some(wait) = self.wait.as_mut() {
            std::task::ready!(wait.as_mut().poll(cx));
            self.wait = None;
        }
        let limit = buf.remaining().min(Self::CHUNK);
        let mut chunk = tokio::io::ReadBuf::new(buf.initialize_unfilled_to(limit));
        std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_read(cx, &mut chunk))?;
        let read = chunk.filled().len();
        buf.advance(read);
        self.wait = Some(Box::pin(tokio::time::sleep(Duration::from_millis(1))));
        std::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for SlowReader {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn a_large_response_reaches_a_slow_client_over_tls_whole() {
    use tokio_postgres::tls::MakeTlsConnect;
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("root", &["admins"]);
    let tcp = tokio::net::TcpStream::connect(gateway.pg_addr)
        .await
        .unwrap();
    let stream = SlowReader {
        inner: tcp,
        wait: None,
    };
    let mut tls = gateway.tls();
    let tls = MakeTlsConnect::<SlowReader>::make_tls_connect(&mut tls, "localhost").unwrap();
    let (client, connection) = gateway
        .client_config("root", &token, "demo")
        .connect_raw(stream, tls)
        .await
        .unwrap();
    tokio::spawn(connection);
    // 4 MiB in one row, then COPY of 2,000 rows of 1 KiB: the gateway writes them faster than
    // this client reads, and the last bytes of each must still arrive (before the fix, they
    // stayed buffered in the gateway's TLS layer and the client waited forever).
    let query = client.query_one("SELECT repeat('x', 4 << 20)", &[]);
    let row = tokio::time::timeout(Duration::from_secs(60), query)
        .await
        .expect("the whole row arrives; a stall here means bytes stuck in the gateway")
        .unwrap();
    assert_eq!(row.get::<_, String>(0).len(), 4 << 20);
    let copy = client
        .copy_out("COPY (SELECT repeat('y', 1024) FROM generate_series(1, 2000)) TO STDOUT")
        .await
        .unwrap();
    let copied = tokio::time::timeout(Duration::from_secs(60), async {
        use futures_util::TryStreamExt;
        copy.try_fold(
            0usize,
            |total, chunk| async move { Ok(total + chunk.len()) },
        )
        .await
    })
    .await
    .expect("the whole COPY arrives; a stall here means bytes stuck in the gateway")
    .unwrap();
    assert_eq!(copied, 2000 * 1025);
}
