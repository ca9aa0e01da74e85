//! Bad input to gatehouse's SSH listener: what is not SSH, packets longer than any SSH
//! implementation sends, and well-formed SSH with malformed requests inside (a command line
//! that is not UTF-8, an unknown subsystem, a second program on one channel, sftp packets with
//! impossible lengths, a forward to a port that cannot exist). Each gets a clear refusal or
//! disconnect, the gateway keeps serving, and nothing of it reaches the target.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sshhost;
mod support;

use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::{ChannelMsg, Disconnect};
use sshhost::{SshHost, shown};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the gateway may take to drop a connection that sent nonsense.
const DISCONNECT_WITHIN: Duration = Duration::from_secs(10);

/// A raw TCP connection to the SSH listener, past the gateway's version line.
fn raw(host: &SshHost) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", host.port())).unwrap();
    stream.set_read_timeout(Some(DISCONNECT_WITHIN)).unwrap();
    let mut version = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut version)
        .unwrap();
    assert!(version.starts_with("SSH-2.0-gatehouse"), "{version:?}");
    stream
}

/// Read until the gateway closes the connection; panics if it does not within the bound.
fn closed_by_gateway(mut stream: TcpStream) {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(error) => panic!("the gateway kept the connection open: {error}"),
        }
        assert!(started.elapsed() < DISCONNECT_WITHIN, "still open");
    }
}

/// sshd's count of connections it accepted (the harness's readiness check among them).
fn target_connections(host: &SshHost) -> usize {
    host.sshd.log().matches("Connection from").count()
}

#[test]
fn what_is_not_ssh_and_oversized_packets_are_disconnected_and_the_gateway_keeps_serving() {
    let host = SshHost::start();
    let admin = host.gateway.key("ana", &["admins"]);
    // The harness's own check that sshd listens.
    let before = target_connections(&host);

    let mut http = raw(&host);
    http.write_all(b"GET / HTTP/1.1\r\nHost: gatehouse\r\n\r\n")
        .unwrap();
    closed_by_gateway(http);

    let mut huge = raw(&host);
    huge.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
    huge.write_all(&0xFFFF_FFF0u32.to_be_bytes()).unwrap();
    huge.write_all(&[0u8; 64]).unwrap();
    closed_by_gateway(huge);

    let mut garbage = raw(&host);
    garbage.write_all(b"SSH-2.0-x\r\n").unwrap();
    garbage
        .write_all(&[0x00, 0x00, 0x00, 0x0c, 0x0a, 0x99])
        .unwrap();
    garbage.write_all(&[0xAB; 16]).unwrap();
    closed_by_gateway(garbage);

    assert_eq!(target_connections(&host), before, "{}", host.sshd.log());
    let still = host.ssh(&admin, "uname");
    assert!(still.status.success(), "{}", shown(&still));
}

/// A russh client that trusts any host key (the gateway's key is not what is tested here).
struct Trusting;

impl client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Everything a channel said until it closed: stdout, stderr, exit status.
async fn collect(channel: &mut russh::Channel<client::Msg>) -> (String, String, Option<u32>) {
    let (mut out, mut err, mut status) = (Vec::new(), Vec::new(), None);
    while let Ok(Some(message)) = tokio::time::timeout(DISCONNECT_WITHIN, channel.wait()).await {
        match message {
            ChannelMsg::Data { data } => out.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, .. } => err.extend_from_slice(&data),
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        status,
    )
}

/// The reply to the request just sent on `channel` (success or failure).
async fn reply(channel: &mut russh::Channel<client::Msg>) -> bool {
    loop {
        match tokio::time::timeout(DISCONNECT_WITHIN, channel.wait()).await {
            Ok(Some(ChannelMsg::Success)) => return true,
            Ok(Some(ChannelMsg::Failure)) => return false,
            Ok(Some(_)) => {}
            other => panic!("no reply: {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_requests_inside_a_session_get_clear_answers_and_never_reach_the_target() {
    let host = SshHost::start();
    let admin = host.gateway.key("ana", &["admins"]);
    let config = Arc::new(client::Config::default());
    let mut session = client::connect(config, ("127.0.0.1", host.port()), Trusting)
        .await
        .unwrap();
    assert!(
        session
            .authenticate_password("box", admin.clone())
            .await
            .unwrap()
            .success()
    );

    // A command line that is not UTF-8 cannot be decided: refused with the reason.
    let mut channel = session.channel_open_session().await.unwrap();
    channel.exec(true, &b"ls \xff\xfe /tmp"[..]).await.unwrap();
    let (_, stderr, status) = collect(&mut channel).await;
    assert_eq!(status, Some(126), "{stderr}");
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");

    // An unknown subsystem is refused; the channel can still run a program afterwards, and a
    // second program on the same channel is refused.
    let mut channel = session.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "backdoor").await.unwrap();
    assert!(!reply(&mut channel).await);
    channel.exec(true, "echo first").await.unwrap();
    assert!(reply(&mut channel).await);
    channel.exec(true, "echo second").await.unwrap();
    let (stdout, _, status) = collect(&mut channel).await;
    assert_eq!(stdout, "first\n");
    assert_eq!(status, Some(0));

    // sftp with an impossible packet length: the channel ends with the reason and nothing of
    // it is forwarded.
    let mut channel = session.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    assert!(reply(&mut channel).await);
    let mut packet = 0xFFFF_FFFFu32.to_be_bytes().to_vec();
    packet.extend_from_slice(&[1, 0, 0, 0, 3]);
    channel.data_bytes(packet).await.unwrap();
    let (_, stderr, _) = collect(&mut channel).await;
    assert!(stderr.contains("gatehouse:"), "{stderr}");

    // A forward to a port that cannot exist is refused at once.
    let refused = session
        .channel_open_direct_tcpip("127.0.0.1", 70_000, "127.0.0.1", 1)
        .await;
    assert!(refused.is_err(), "a forward to port 70000 opened");

    let _ = session
        .disconnect(Disconnect::ByApplication, "done", "en")
        .await;
    let log = host.sshd.log();
    assert!(!log.contains("\\xff"), "{log}");
    assert!(!log.contains("backdoor"), "{log}");
    assert!(!log.contains("second"), "{log}");
}
