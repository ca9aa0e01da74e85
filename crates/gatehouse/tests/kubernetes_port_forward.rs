//! `kubectl port-forward` through gatehouse, decided port by port: the request is decided as
//! `k8s:portforward`, then each port again with `port` in the context. Over plain SPDY
//! (kubectl 1.27) and over SPDY inside WebSocket (kubectl ≥ 1.31) a refused port's stream is
//! reset towards kubectl and never reaches the API server, and the other ports go on; over
//! WebSocket (the Python client) the ports in the query are decided before the request is
//! forwarded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod kube;
mod support;

use kube::{Cluster, shown, versioned_kubectl};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

/// Admins may port-forward, to port 8080 only.
const POLICY: &str = r#"
@id("admins-work")
permit (principal in Gatehouse::Group::"admins", action in [
  Gatehouse::Action::"connect", Gatehouse::Action::"k8s:read"
], resource);

@id("admins-forward-8080")
permit (principal in Gatehouse::Group::"admins", action == Gatehouse::Action::"k8s:portforward", resource)
when { if context has port then context.port == 8080 else true };
"#;

const ALLOWED: u16 = 8080;
const REFUSED: u16 = 9090;

/// A cluster whose pod `web-0` echoes on both ports, and an admin's token.
fn cluster() -> (Cluster, String) {
    let cluster = Cluster::start(POLICY, "");
    for port in [ALLOWED, REFUSED] {
        cluster.server.set_pod_port(
            "default",
            "web-0",
            port,
            gatehouse_kube_testserver::echo_server().unwrap(),
        );
    }
    let admin = cluster.gateway.key("ana", &["admins"]);
    (cluster, admin)
}

/// `PROGRAM port-forward pod/web-0 :8080 :9090`, and the local port of each pod port.
fn port_forward(cluster: &Cluster, program: &str, token: &str) -> (Child, HashMap<u16, u16>) {
    let mut child = cluster
        .kubectl_command(
            program,
            token,
            &[
                "port-forward",
                "pod/web-0",
                &format!(":{ALLOWED}"),
                &format!(":{REFUSED}"),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut local = HashMap::new();
    while local.len() < 2 {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("{program} port-forward printed no forwarding lines");
        };
        // `Forwarding from 127.0.0.1:LOCAL -> POD`
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:")
            && let Some((from, to)) = rest.split_once(" -> ")
        {
            local.insert(to.trim().parse().unwrap(), from.parse().unwrap());
        }
    }
    // The rest of stdout is not read; kubectl writes a line per connection there.
    std::thread::spawn(move || lines.for_each(drop));
    (child, local)
}

/// What comes back for a line sent to `local` (empty when the connection ends first).
fn echo(local: u16, line: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", local)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let _ = writeln!(stream, "{line}");
    let mut answer = String::new();
    let _ = BufReader::new(&stream).read_line(&mut answer);
    answer
}

/// The port decisions audited: (port, decision).
fn port_decisions(cluster: &Cluster) -> Vec<(u16, String)> {
    cluster
        .audited("k8s:portforward")
        .iter()
        .filter_map(|event| {
            let text = event["statement"].as_str().unwrap_or_default();
            let port = text.rsplit_once(" port ")?.1.parse().ok()?;
            Some((
                port,
                event["decision"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// Every port the API server saw a stream for, over all port-forward sessions.
fn ports_reaching_the_server(cluster: &Cluster) -> Vec<u16> {
    let sessions = cluster.server.sessions();
    let mut ports: Vec<u16> = sessions
        .iter()
        .flat_map(|s| {
            s.stream_ports
                .iter()
                .chain(s.forwards.iter().map(|f| &f.port))
        })
        .copied()
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

#[test]
fn kubectl_1_27_over_spdy_gets_its_allowed_port_and_a_reset_for_the_refused_one() {
    let Some(old) = versioned_kubectl("1.27") else {
        return;
    };
    let (cluster, admin) = cluster();
    let (forward, local) = port_forward(&cluster, &old, &admin);

    refused_port_reset_and_allowed_port_kept(forward, &local);

    assert_eq!(ports_reaching_the_server(&cluster), [ALLOWED]);
    let sessions = cluster.server.sessions();
    let forwards: Vec<_> = sessions.iter().flat_map(|s| &s.forwards).collect();
    assert_eq!(forwards.len(), 2, "{forwards:#?}");
    assert!(forwards.iter().all(|f| f.port == ALLOWED));
    assert_eq!(
        port_decisions(&cluster),
        [(ALLOWED, "allow".to_owned()), (REFUSED, "deny".to_owned())],
        "each port decided once, in order"
    );
}

/// Through a running `kubectl port-forward` of both ports: the allowed port carries bytes
/// before and after the refused one is tried, kubectl keeps running, and it says the refused
/// port's stream was reset (`error creating error stream for port LOCAL -> 9090: Stream
/// reset`).
fn refused_port_reset_and_allowed_port_kept(mut forward: Child, local: &HashMap<u16, u16>) {
    assert_eq!(echo(local[&ALLOWED], "first"), "first\n");
    assert_eq!(echo(local[&REFUSED], "never delivered"), "");
    // The connection survived the refused stream: the allowed port still carries bytes.
    assert_eq!(echo(local[&ALLOWED], "second"), "second\n");
    assert!(
        forward.try_wait().unwrap().is_none(),
        "kubectl port-forward ended"
    );
    let _ = forward.kill();
    let mut stderr = String::new();
    let _ = forward.stderr.take().unwrap().read_to_string(&mut stderr);
    let _ = forward.wait();
    assert!(
        stderr.contains(&format!("-> {REFUSED}: Stream reset")),
        "kubectl says the stream for {REFUSED} was reset: {stderr}"
    );
}

#[test]
fn the_default_kubectl_over_spdy_in_websocket_gets_its_allowed_port_and_a_reset_for_the_refused_one()
 {
    let (cluster, admin) = cluster();
    let (forward, local) = port_forward(&cluster, "kubectl", &admin);

    refused_port_reset_and_allowed_port_kept(forward, &local);

    let sessions = cluster.server.sessions();
    assert!(
        !sessions.is_empty()
            && sessions
                .iter()
                .all(|s| s.transport == gatehouse_kube_testserver::Transport::SpdyOverWebSocket),
        "{sessions:#?}"
    );
    assert_eq!(ports_reaching_the_server(&cluster), [ALLOWED]);
    let forwards: Vec<_> = sessions.iter().flat_map(|s| &s.forwards).collect();
    assert_eq!(forwards.len(), 2, "{forwards:#?}");
    assert_eq!(
        port_decisions(&cluster),
        [(ALLOWED, "allow".to_owned()), (REFUSED, "deny".to_owned())],
        "each port decided once, in order"
    );
}

#[test]
fn the_python_client_over_websocket_is_decided_on_the_ports_it_names() {
    let (cluster, admin) = cluster();
    let script = support::repo_root().join("crates/gatehouse/tests/kube/python_port_forward.py");
    let run = |ports: &str| {
        let output = std::process::Command::new("python3")
            .arg(&script)
            .arg(&cluster.kubeconfig)
            .arg(ports)
            .env("GATEHOUSE_TOKEN", &admin)
            .env("HOME", cluster.gateway.dir.path())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", shown(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .unwrap_or_else(|_| panic!("{}", shown(&output)))
    };

    let allowed = run("8080");
    assert_eq!(allowed["echoed"], "through gatehouse\n", "{allowed}");

    for refused in ["9090", "8080,9090"] {
        let answer = run(refused);
        assert!(answer.get("echoed").is_none(), "{answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains("403"), "{refused}: {answer}");
    }
    // Only the allowed request reached the API server.
    let sessions = cluster.server.sessions();
    assert_eq!(sessions.len(), 1, "{sessions:#?}");
    assert_eq!(sessions[0].ports, [ALLOWED]);

    assert_eq!(
        port_decisions(&cluster),
        [
            (ALLOWED, "allow".to_owned()),
            (REFUSED, "deny".to_owned()),
            (ALLOWED, "allow".to_owned()),
            (REFUSED, "deny".to_owned())
        ]
    );
}
