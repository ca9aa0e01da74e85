//! The WebSocket forms kubectl does not use, with a client written here against the plaintext
//! server: exec over `v4.channel.k8s.io` (no way to close stdin; the status is JSON),
//! kubelet's port-forward channels (`v4.channel.k8s.io`, port-prefixed data and error
//! channels), and the negotiation's refusals.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_kube_testserver::{Options, StreamKind, TestApiServer, Transport};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

const TOKEN: &str = "ws-token";

fn server() -> TestApiServer {
    TestApiServer::start(Options::new(TOKEN).plaintext()).unwrap()
}

/// Send a WebSocket upgrade for `target` offering `protocols`; the status line and headers.
fn upgrade(server: &TestApiServer, target: &str, protocols: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {protocols}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

/// A masked frame, as a client must send it: 2 binary, 9 ping.
fn send(stream: &mut TcpStream, opcode: u8, payload: &[u8]) {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x80 | opcode, 0x80 | u8::try_from(payload.len()).unwrap()];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    stream.write_all(&frame).unwrap();
}

/// The next frame's opcode and payload.
fn receive(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(head[1] & 0x80, 0, "a server's frames are not masked");
    let length = match head[1] & 0x7f {
        126 => {
            let mut extended = [0u8; 2];
            stream.read_exact(&mut extended).unwrap();
            usize::from(u16::from_be_bytes(extended))
        }
        short => usize::from(short),
    };
    let mut payload = vec![0; length];
    stream.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

#[test]
fn exec_over_v4_channels_sends_output_then_a_json_status_then_closes() {
    let server = server();
    let target = "/api/v1/namespaces/default/pods/web-0/exec?command=sh&command=-c\
                  &command=echo+hi%3B+exit+4&stdout=true&stderr=true";
    let (mut stream, head) = upgrade(&server, target, "v9.channel.k8s.io, v4.channel.k8s.io");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("sec-websocket-protocol: v4.channel.k8s.io"),
        "{head}"
    );
    assert!(
        lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert_eq!(receive(&mut stream), (2, b"\x01hi\n".to_vec()));
    let (opcode, status) = receive(&mut stream);
    assert_eq!((opcode, status[0]), (2, 3));
    let status: Value = serde_json::from_slice(&status[1..]).unwrap();
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "4");
    assert_eq!(receive(&mut stream), (8, 1000u16.to_be_bytes().to_vec()));
    let session = &server.sessions()[0];
    assert_eq!(
        (
            session.transport,
            session.protocol.as_str(),
            session.exit_code
        ),
        (Transport::WebSocket, "v4.channel.k8s.io", Some(4))
    );
}

#[test]
fn port_forward_over_v4_channels_prefixes_each_channel_with_its_port() {
    let server = server();
    let echo = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_pod_port("default", "web-1", 5432, echo.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut conn, _) = echo.accept().unwrap();
        let mut reader = conn.try_clone().unwrap();
        let _ = std::io::copy(&mut reader, &mut conn);
    });
    let target = "/api/v1/namespaces/default/pods/web-1/portforward?ports=5432";
    let (mut stream, head) = upgrade(&server, target, "v4.channel.k8s.io");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let port = 5432u16.to_le_bytes();
    assert_eq!(receive(&mut stream), (2, vec![0, port[0], port[1]]));
    assert_eq!(receive(&mut stream), (2, vec![1, port[0], port[1]]));
    send(&mut stream, 2, b"\x00ping");
    assert_eq!(receive(&mut stream), (2, b"\x00ping".to_vec()));
    // A WebSocket ping (kubectl sends one every 5 s) gets its pong.
    send(&mut stream, 9, b"beat");
    assert_eq!(receive(&mut stream), (10, b"beat".to_vec()));
    let session = &server.sessions()[0];
    assert_eq!(
        (session.kind, session.ports.as_slice()),
        (StreamKind::PortForward, &[5432][..])
    );
}

/// A protocol nobody speaks (403), kubelet's port-forward channels without ports (400), a pod
/// that does not exist (404): refused before any upgrade, and no session recorded.
#[test]
fn refusals_before_the_upgrade() {
    let server = server();
    let target = "/api/v1/namespaces/default/pods/web-0/exec?command=ls&stdout=true";
    let (_, head) = upgrade(&server, target, "base64.channel.k8s.io");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let (_, head) = upgrade(
        &server,
        "/api/v1/namespaces/default/pods/nope/exec?command=ls&stdout=true",
        "v5.channel.k8s.io",
    );
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(server.sessions().is_empty());
}
