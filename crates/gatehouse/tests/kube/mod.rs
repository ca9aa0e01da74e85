//! What the Kubernetes tests share: the test API server (`gatehouse-kube-testserver`, the
//! stand-in for kube-apiserver, which cannot run here) behind a gatehouse whose `cluster`
//! connection points at it, a kubeconfig written by `gatehouse kubeconfig`, and real kubectl
//! run through it with a gatehouse token in GATEHOUSE_TOKEN (the exec plugin reads it).

// Shared by several test binaries, each of which uses part of it.
#![allow(dead_code)]

pub mod agent;

use crate::support::{Gateway, Options, repo_root};
use gatehouse_kube_testserver::TestApiServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The token gatehouse presents to the test API server: only gatehouse holds it.
pub const CLUSTER_TOKEN: &str = "cluster-admin-token-only-gatehouse-holds";

/// A test API server behind a gateway, and a kubeconfig for it.
pub struct Cluster {
    pub server: TestApiServer,
    pub gateway: Gateway,
    pub kubeconfig: PathBuf,
    /// The cluster's CA and token files (read by whoever holds the credential, for every
    /// request).
    files: tempfile::TempDir,
}

/// The example Kubernetes policy (`policies/kubernetes.cedar`).
pub fn kubernetes_policy() -> String {
    std::fs::read_to_string(repo_root().join("policies/kubernetes.cedar")).unwrap()
}

impl Cluster {
    /// A cluster behind a gateway deciding with `policy`, `connection_extra` added to the
    /// `cluster` connection.
    pub fn start(policy: &str, connection_extra: &str) -> Cluster {
        Cluster::start_full(policy, "", connection_extra)
    }

    /// A cluster behind a gateway whose `[kubernetes]` section also has `listener_extra`.
    pub fn start_with_listener(policy: &str, listener_extra: &str) -> Cluster {
        Cluster::start_full(policy, listener_extra, "")
    }

    fn start_full(policy: &str, listener_extra: &str, connection_extra: &str) -> Cluster {
        Cluster::start_config(policy, |_, cluster| {
            format!(
                "[kubernetes]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n{listener_extra}\n\
                 [[connections]]\nname = \"cluster\"\nkind = \"kubernetes\"\n{}{connection_extra}\n",
                cluster.connection_keys()
            )
        })
    }

    /// A cluster whose `cluster` connection has the keys `define` writes (given the test API
    /// server and a directory for the files they name) after its name and kind.
    pub fn start_defined(
        policy: &str,
        listener_extra: &str,
        define: impl FnOnce(&TestApiServer, &std::path::Path) -> String,
    ) -> Cluster {
        Cluster::start_config(policy, |server, files| {
            format!(
                "[kubernetes]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n{listener_extra}\n\
                 [[connections]]\nname = \"cluster\"\nkind = \"kubernetes\"\n{}\n",
                define(server, &files.dir)
            )
        })
    }

    /// A cluster whose gateway config is `config` (given the test API server and the
    /// cluster's files and address), with a kubeconfig for its `cluster` connection.
    pub fn start_config(
        policy: &str,
        config: impl FnOnce(&TestApiServer, &ClusterFiles) -> String,
    ) -> Cluster {
        let server =
            TestApiServer::start(gatehouse_kube_testserver::Options::new(CLUSTER_TOKEN)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cluster-ca.pem"), server.ca_pem().unwrap()).unwrap();
        std::fs::write(
            dir.path().join("cluster.token"),
            format!("{CLUSTER_TOKEN}\n"),
        )
        .unwrap();
        let files = ClusterFiles {
            url: server.url(),
            dir: dir.path().to_path_buf(),
        };
        let gateway = Gateway::start_with(
            "test",
            Options {
                policy: Some(policy.to_owned()),
                extra: config(&server, &files),
                ..Default::default()
            },
        );
        let mut cluster = Cluster {
            server,
            gateway,
            kubeconfig: PathBuf::new(),
            files: dir,
        };
        cluster.kubeconfig = cluster.write_kubeconfig("cluster");
        cluster
    }

    /// Where the cluster is and how it is reached (for configs written outside the gateway's).
    pub fn files(&self) -> ClusterFiles {
        ClusterFiles {
            url: self.server.url(),
            dir: self.files.path().to_path_buf(),
        }
    }

    /// A kubeconfig (from `gatehouse kubeconfig`) for `connection`.
    pub fn write_kubeconfig(&self, connection: &str) -> PathBuf {
        let kubeconfig = self
            .gateway
            .dir
            .path()
            .join(format!("kubeconfig-{connection}.json"));
        let written = self.gateway.cli(&[
            "kubeconfig",
            connection,
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--output",
            "json",
        ]);
        assert!(
            written.status.success(),
            "gatehouse kubeconfig: {}",
            String::from_utf8_lossy(&written.stderr)
        );
        kubeconfig
    }

    /// `kubectl ARGS` (the default kubectl) as the holder of `token`.
    pub fn kubectl(&self, token: &str, args: &[&str]) -> Output {
        self.kubectl_version("kubectl", token, args)
    }

    /// `PROGRAM ARGS` (a kubectl binary) as the holder of `token`.
    pub fn kubectl_version(&self, program: &str, token: &str, args: &[&str]) -> Output {
        self.kubectl_command(program, token, args).output().unwrap()
    }

    pub fn kubectl_command(&self, program: &str, token: &str, args: &[&str]) -> Command {
        self.kubectl_command_with(program, &self.kubeconfig, token, args)
    }

    /// `kubectl ARGS` with `kubeconfig` (another connection's) as the holder of `token`.
    pub fn kubectl_with(&self, kubeconfig: &Path, token: &str, args: &[&str]) -> Output {
        self.kubectl_command_with("kubectl", kubeconfig, token, args)
            .output()
            .unwrap()
    }

    fn kubectl_command_with(
        &self,
        program: &str,
        kubeconfig: &Path,
        token: &str,
        args: &[&str],
    ) -> Command {
        let mut command = Command::new(program);
        command
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .arg("--request-timeout=20s")
            .args(args)
            .env("GATEHOUSE_TOKEN", token)
            .env_remove("KUBECONFIG")
            .env("HOME", self.gateway.dir.path())
            .stdin(Stdio::null());
        command
    }

    /// The Kubernetes listener's address.
    pub fn address(&self) -> String {
        let text = std::fs::read_to_string(self.gateway.data_dir().join("listeners.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["kubernetes"].as_str().unwrap().to_owned()
    }

    /// The audit events of `action`.
    pub fn audited(&self, action: &str) -> Vec<serde_json::Value> {
        self.gateway
            .audit_events()
            .into_iter()
            .filter(|event| event["action"] == action)
            .collect()
    }
}

/// The test API server's address and the files holding its CA and token.
pub struct ClusterFiles {
    pub url: String,
    pub dir: PathBuf,
}

impl ClusterFiles {
    /// A `kubernetes` connection's keys reaching the cluster with its token.
    pub fn connection_keys(&self) -> String {
        format!(
            "url = \"{}\"\nca_file = \"{}\"\ntoken_file = \"{}\"\n",
            self.url,
            self.dir.join("cluster-ca.pem").display(),
            self.dir.join("cluster.token").display()
        )
    }
}

/// stdout and stderr of a finished command, for messages.
pub fn shown(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What `kube/python_client.py` (the Python `kubernetes` client listing, patching and trying a
/// delete) printed as the holder of `token`; `None` when the client is not installed outside
/// CI (CI must have it).
pub fn python_client(cluster: &Cluster, token: &str) -> Option<serde_json::Value> {
    let script = repo_root().join("crates/gatehouse/tests/kube/python_client.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&cluster.kubeconfig)
        .env("GATEHOUSE_TOKEN", token)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    if !output.status.success()
        && std::env::var_os("CI").is_none()
        && String::from_utf8_lossy(&output.stderr).contains("No module named 'kubernetes'")
    {
        eprintln!(
            "skipped: the Python kubernetes client is not installed (scripts/setup.sh --tests installs it)"
        );
        return None;
    }
    assert!(output.status.success(), "{}", shown(&output));
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

/// A command whose stdout, stderr and exit status an exec must carry back.
pub const EXEC_SCRIPT: &str = "echo out; echo err >&2; exit 3";

/// `kubectl exec web-0 -- sh -c EXEC_SCRIPT` as the holder of `token`, over WebSocket and
/// then over SPDY: both bring back its stdout, stderr and exit status.
pub fn exec_over_websocket_and_spdy(cluster: &Cluster, token: &str) {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let args = ["exec", "web-0", "--", "sh", "-c", EXEC_SCRIPT];
    let websocket = cluster.kubectl(token, &args);
    assert_eq!(text(&websocket.stdout), "out\n", "{}", shown(&websocket));
    assert!(
        text(&websocket.stderr).starts_with("err\n"),
        "{}",
        shown(&websocket)
    );
    assert_eq!(websocket.status.code(), Some(3), "{}", shown(&websocket));
    let spdy = cluster
        .kubectl_command("kubectl", token, &args)
        .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        .output()
        .unwrap();
    assert_eq!(text(&spdy.stdout), "out\n", "{}", shown(&spdy));
    assert_eq!(spdy.status.code(), Some(3), "{}", shown(&spdy));
}

/// `kubectl.VERSION` (`1.27`), when it is installed beside gcloud; CI must have it.
pub fn versioned_kubectl(version: &str) -> Option<String> {
    let name = format!("kubectl.{version}");
    let found = versioned_kubectls()
        .into_iter()
        .find(|path| path.file_name().is_some_and(|file| *file == *name))
        .map(|path| path.to_string_lossy().into_owned());
    assert!(
        found.is_some() || std::env::var_os("CI").is_none(),
        "CI has {name} beside gcloud"
    );
    found
}

/// The versioned kubectl binaries installed beside gcloud (`kubectl.1.27` …).
pub fn versioned_kubectls() -> Vec<PathBuf> {
    let Ok(gcloud) = which("gcloud") else {
        return Vec::new();
    };
    let Some(dir) = std::fs::canonicalize(gcloud)
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
    else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| {
                    path.file_name()
                        .and_then(|name| name.to_str())
                        .is_some_and(|name| name.starts_with("kubectl.1."))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
        .ok_or(())
}

/// One HTTP/1.1 exchange over TLS with the gateway's Kubernetes listener, sent byte for byte
/// as given (`request` is the whole request, head and body): (status, whole answer).
pub async fn raw_exchange(cluster: &Cluster, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(cluster.address())
        .await
        .unwrap();
    let connector =
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(cluster.gateway.tls_client_config()));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    // The gateway may answer and close before the whole request is written (a body over the
    // limit): a failed write is not the test's concern, the answer is.
    let _ = tls.write_all(request).await;
    let _ = tls.flush().await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tls.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A TLS connection to the gateway's Kubernetes listener that agreed on ALPN `h2`.
pub async fn h2_tls(cluster: &Cluster) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    crate::support::raw_h2::h2_tls(
        &cluster.address(),
        cluster.gateway.tls_client_config(),
        "127.0.0.1",
    )
    .await
}

/// An HTTP/2 connection (TLS, ALPN `h2`) to the gateway's Kubernetes listener.
pub async fn h2_connection(cluster: &Cluster) -> h2::client::SendRequest<bytes::Bytes> {
    let (send, connection) = h2::client::handshake(h2_tls(cluster).await).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

/// The body of a raw HTTP/1.1 answer, its chunked transfer coding undone.
pub fn body_of(answer: &str) -> String {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_owned();
    }
    let mut rest = body;
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    out
}
