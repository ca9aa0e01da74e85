//! COPY, query cancellation and large results through the gateway: `COPY FROM STDIN` is a
//! write (writers load rows, readers are refused before anything lands), `COPY TO STDOUT` is
//! a read; a client's cancel request (sent with the key the gateway minted, over TLS) cancels
//! the server's query while a forged key — including the server's real process id — cancels
//! nothing; and a result far larger than any buffer streams through with the gateway's
//! memory staying bounded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use postgres_protocol::message::frontend;
use std::time::{Duration, Instant};
use support::{Gateway, Options, TestDb, count, message, sqlstate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn setup_with(options: Options) -> (TestDb, Gateway, tokio_postgres::Client) {
    support::items_behind_gateway(options).await
}

async fn setup() -> (TestDb, Gateway, tokio_postgres::Client) {
    setup_with(Options::default()).await
}

async fn names(direct: &tokio_postgres::Client) -> Vec<String> {
    direct
        .query("SELECT name FROM items ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// COPY
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn writers_copy_rows_in() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("wes", &["writers"]);
    let client = gateway.connect("wes", &token).await.unwrap();

    let sink = client
        .copy_in::<_, Bytes>("COPY items FROM STDIN")
        .await
        .unwrap();
    let mut sink = std::pin::pin!(sink);
    sink.send(Bytes::from_static(b"3\tthree\n4\tfour\n"))
        .await
        .unwrap();
    sink.send(Bytes::from_static(b"5\tfive\n")).await.unwrap();
    let copied = sink.as_mut().finish().await.unwrap();
    assert_eq!(copied, 3);
    assert_eq!(
        names(&direct).await,
        ["one", "two", "three", "four", "five"]
    );

    // The session goes on.
    let row = client
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 5);
}

#[tokio::test]
async fn readers_copy_in_is_refused_and_nothing_lands() {
    let (_db, gateway, direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();

    let error = match client.copy_in::<_, Bytes>("COPY items FROM STDIN").await {
        Ok(sink) => {
            // Were COPY let through, send rows so that the test sees them land.
            let mut sink = std::pin::pin!(sink);
            let _ = sink.send(Bytes::from_static(b"3\tthree\n")).await;
            let result = sink.as_mut().finish().await;
            panic!("a reader's COPY FROM STDIN was allowed: {result:?}");
        }
        Err(error) => error,
    };
    assert_eq!(sqlstate(&error).as_deref(), Some("42501"), "{error}");
    assert!(
        message(&error).contains("sql:insert"),
        "{}",
        message(&error)
    );
    assert_eq!(count(&direct, "items").await, 2);

    // tokio-postgres follows a failed `copy_in` with CopyFail + Sync, whose second
    // ReadyForQuery it does not expect: it drops that connection even against PostgreSQL
    // itself. A new session works.
    drop(client);
    let client = gateway.connect("ana", &token).await.unwrap();
    let rows = client.query("SELECT id FROM items", &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn readers_copy_rows_out() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();

    let stream = client
        .copy_out("COPY (SELECT * FROM items ORDER BY id) TO STDOUT")
        .await
        .unwrap();
    let chunks: Vec<Bytes> = std::pin::pin!(stream).try_collect().await.unwrap();
    let text: Vec<u8> = chunks.concat();
    assert_eq!(String::from_utf8(text).unwrap(), "1\tone\n2\ttwo\n");

    let stream = client.copy_out("COPY items TO STDOUT").await.unwrap();
    let chunks: Vec<Bytes> = std::pin::pin!(stream).try_collect().await.unwrap();
    let text = String::from_utf8(chunks.concat()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["1\tone", "2\ttwo"]);
}

#[tokio::test]
async fn psql_copy_works_for_writers_and_readers_and_refuses_readers_writes() {
    let (_db, gateway, direct) = setup().await;
    let file = gateway.dir.path().join("rows.tsv");
    std::fs::write(&file, "7\tseven\n8\teight\n").unwrap();

    let writer = gateway.key("wes", &["writers"]);
    let (ok, out, err) = gateway.psql(
        "wes",
        &writer,
        &format!("\\copy items from '{}'", file.display()),
    );
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "COPY 2", "{out}{err}");
    assert_eq!(names(&direct).await, ["one", "two", "seven", "eight"]);

    let reader = gateway.key("ana", &["readers"]);
    let (ok, out, err) = gateway.psql("ana", &reader, "\\copy items to stdout");
    assert!(ok, "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["1\tone", "2\ttwo", "7\tseven", "8\teight"], "{out}");

    let (_, _, err) = gateway.psql(
        "ana",
        &reader,
        &format!("\\copy items from '{}'", file.display()),
    );
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("sql:insert"), "{err}");
    assert_eq!(count(&direct, "items").await, 4);
}

// ---------------------------------------------------------------------------------------------
// Cancel
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_cancel_request_through_the_gateway_cancels_the_running_query() {
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    let cancel = client.cancel_token();

    // Once through the extended protocol, once through a simple query.
    for simple in [false, true] {
        let started = Instant::now();
        let query = async {
            if simple {
                client
                    .batch_execute("SELECT pg_sleep(30)")
                    .await
                    .map(|_| ())
            } else {
                client.query("SELECT pg_sleep(30)", &[]).await.map(|_| ())
            }
        };
        let canceller = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel_query(gateway.tls()).await
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
        // The session is usable afterwards.
        let row = client.query_one("SELECT 'after'", &[]).await.unwrap();
        assert_eq!(row.get::<_, &str>(0), "after");
    }
}

/// A minimal plaintext client, to see the cancel key the gateway hands out and to forge one.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    key: (i32, i32),
}

impl Raw {
    async fn connect(gateway: &Gateway, user: &str, token: &str) -> Raw {
        let stream = TcpStream::connect(gateway.pg_addr).await.unwrap();
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
            key: (0, 0),
        };
        let mut out = BytesMut::new();
        frontend::startup_message([("user", user), ("database", "demo")], &mut out).unwrap();
        raw.stream.write_all(&out).await.unwrap();
        let (tag, _) = raw.recv().await;
        assert_eq!(tag, b'R');
        let mut out = BytesMut::new();
        frontend::password_message(token.as_bytes(), &mut out).unwrap();
        raw.stream.write_all(&out).await.unwrap();
        loop {
            let (tag, mut body) = raw.recv().await;
            match tag {
                b'K' => raw.key = (body.get_i32(), body.get_i32()),
                b'E' => panic!("connect failed: {body:?}"),
                b'Z' => break,
                _ => {}
            }
        }
        assert_ne!(raw.key, (0, 0), "the gateway sent a cancel key");
        raw
    }

    async fn recv(&mut self) -> (u8, Bytes) {
        tokio::time::timeout(Duration::from_secs(40), async {
            loop {
                if self.buf.len() >= 5 {
                    let len =
                        usize::try_from(i32::from_be_bytes(self.buf[1..5].try_into().unwrap()))
                            .unwrap();
                    if self.buf.len() > len {
                        let mut frame = self.buf.split_to(1 + len);
                        let tag = frame.get_u8();
                        frame.advance(4);
                        return (tag, frame.freeze());
                    }
                }
                let read = self.stream.read_buf(&mut self.buf).await.unwrap();
                assert!(read > 0, "the gateway closed the connection");
            }
        })
        .await
        .expect("no answer from the gateway within 40 s")
    }

    /// Run a simple query; returns the first column of each row, or the error's SQLSTATE.
    async fn query(&mut self, sql: &str) -> Result<Vec<String>, String> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (tag, mut body) = self.recv().await;
            match tag {
                b'D' => {
                    let _columns = body.get_i16();
                    let len = usize::try_from(body.get_i32()).unwrap();
                    rows.push(String::from_utf8_lossy(&body[..len]).into_owned());
                }
                b'E' => {
                    let start = body.iter().position(|b| *b == b'C').unwrap();
                    let code = &body[start + 1..start + 6];
                    error = Some(String::from_utf8_lossy(code).into_owned());
                }
                b'Z' => return error.map_or(Ok(rows), Err),
                _ => {}
            }
        }
    }
}

/// Send a CancelRequest with `key` on a fresh plaintext connection and wait until the gateway
/// has handled it (it closes the connection without an answer).
async fn send_cancel(gateway: &Gateway, key: (i32, i32)) {
    let mut stream = TcpStream::connect(gateway.pg_addr).await.unwrap();
    let mut out = BytesMut::new();
    frontend::cancel_request(key.0, key.1, &mut out);
    stream.write_all(&out).await.unwrap();
    let mut sink = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink))
        .await
        .expect("the gateway closes a cancel connection")
        .unwrap();
    assert!(sink.is_empty(), "a cancel request gets no answer");
}

#[tokio::test]
async fn a_cancel_request_with_a_forged_key_cancels_nothing() {
    let (_db, gateway, _direct) = setup_with(Options {
        postgres_extra: "allow_plaintext = true".into(),
        ..Default::default()
    })
    .await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    let (process_id, secret) = raw.key;
    let server_pid: i32 = raw.query("SELECT pg_backend_pid()").await.unwrap()[0]
        .parse()
        .unwrap();
    assert_eq!(
        server_pid, process_id,
        "the client sees the server's pid (drivers compare it with pg_backend_pid())"
    );

    let forged = [
        (process_id, secret.wrapping_add(1)),
        (process_id.wrapping_add(1), secret),
        (process_id, !secret),
    ];
    let started = Instant::now();
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for key in forged {
            send_cancel(&gateway, key).await;
        }
    };
    let (result, ()) = tokio::join!(raw.query("SELECT 'slept' FROM pg_sleep(1)"), canceller);
    assert_eq!(
        result,
        Ok(vec!["slept".to_owned()]),
        "the query ran to completion"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));

    // The genuine key, sent the same way, does cancel: the forged ones failed for their key.
    let started = Instant::now();
    let canceller = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        send_cancel(&gateway, (process_id, secret)).await;
    };
    let (result, ()) = tokio::join!(raw.query("SELECT pg_sleep(30)"), canceller);
    assert_eq!(result, Err("57014".to_owned()));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        raw.query("SELECT 'after'").await,
        Ok(vec!["after".to_owned()])
    );
}

#[tokio::test]
async fn copy_data_pushed_after_a_refused_copy_from_stdin_lands_nowhere() {
    let (_db, gateway, direct) = setup_with(Options {
        postgres_extra: "allow_plaintext = true".into(),
        ..Default::default()
    })
    .await;
    let token = gateway.key("ana", &["readers"]);
    let mut raw = Raw::connect(&gateway, "ana", &token).await;
    assert_eq!(
        raw.query("COPY items FROM STDIN").await,
        Err("42501".to_owned())
    );
    // A client that ignores the refusal and streams rows anyway: outside COPY the server
    // ignores CopyData and CopyDone.
    let mut out = BytesMut::new();
    frontend::CopyData::new(&b"3\tthree\n4\tfour\n"[..])
        .unwrap()
        .write(&mut out);
    frontend::copy_done(&mut out);
    raw.stream.write_all(&out).await.unwrap();
    assert_eq!(
        raw.query("SELECT count(*) FROM items").await,
        Ok(vec!["2".to_owned()])
    );
    assert_eq!(names(&direct).await, ["one", "two"]);
}

// ---------------------------------------------------------------------------------------------
// Large results
// ---------------------------------------------------------------------------------------------

/// The gateway process's peak resident set size (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/<pid>/status");
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[tokio::test]
async fn a_result_larger_than_100_mb_streams_through_with_bounded_gateway_memory() {
    const ROWS: i64 = 110_000;
    const LIMIT: u64 = 64 * 1024 * 1024;
    let (_db, gateway, _direct) = setup().await;
    let token = gateway.key("ana", &["readers"]);
    let client = gateway.connect("ana", &token).await.unwrap();
    client.query_one("SELECT 1", &[]).await.unwrap();
    let before = peak_rss(gateway.pid);

    let started = Instant::now();
    let rows = client
        .query_raw(
            "SELECT repeat('x', 1000) FROM generate_series(1, 110000)",
            std::iter::empty::<&(dyn tokio_postgres::types::ToSql + Sync)>(),
        )
        .await
        .unwrap();
    let mut rows = std::pin::pin!(rows);
    let mut count = 0i64;
    let mut bytes = 0u64;
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let value: &str = row.get(0);
        assert_eq!(value.len(), 1000);
        bytes += value.len() as u64;
        count += 1;
    }
    assert_eq!(count, ROWS);
    assert!(bytes >= 100_000_000, "{bytes} bytes streamed");
    let elapsed = started.elapsed();

    let peak = peak_rss(gateway.pid);
    println!(
        "streamed {bytes} bytes in {elapsed:?}; gateway VmHWM {} KiB before, {} KiB after",
        before / 1024,
        peak / 1024
    );
    assert!(
        peak.saturating_sub(before) < LIMIT / 4,
        "streaming {bytes} bytes grew the gateway's peak RSS from {} KiB to {} KiB",
        before / 1024,
        peak / 1024
    );
    // The absolute peak includes what the (debug) binary costs at rest, which grows with the
    // program; what the result itself may cost is the growth above.
    assert!(
        peak < bytes,
        "the gateway's peak RSS ({} KiB) must stay below the result size ({bytes} bytes)",
        peak / 1024
    );

    // The session is still fine.
    let row = client.query_one("SELECT 'after'", &[]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "after");
}
