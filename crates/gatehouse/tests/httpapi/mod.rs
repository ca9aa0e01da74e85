//! What the HTTP API tests share: a gateway with two `http` connections — `rabbit`, RabbitMQ's
//! management API on 127.0.0.1:15672 (a real HTTP API that is not ours; gatehouse logs in as
//! its own service user), and `echo`, a small target that misbehaves on purpose
//! (`echo_target.py`: echoes the injected credential, redirects anywhere, streams 100 MB) and
//! logs every request that reached it — and real clients (curl, httpx) run through it with a
//! gatehouse token.

// Shared by several test binaries, each of which uses part of it.
#![allow(dead_code)]

use crate::support::{Gateway, Options, random_suffix, repo_root};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// RabbitMQ's management API.
pub const RABBIT: &str = "http://127.0.0.1:15672";
/// The RabbitMQ user gatehouse logs in as: only gatehouse's config names its password.
pub const SERVICE_USER: &str = "gatehouse-test-service";
pub const SERVICE_PASSWORD: &str = "svc-password-only-gatehouse-holds-5d81c7";
/// The bearer token gatehouse presents to the echo target.
pub const ECHO_TOKEN: &str = "echo-target-token-only-gatehouse-holds-93ab";

/// The example HTTP API policy (`policies/http.cedar`).
pub fn http_policy() -> String {
    std::fs::read_to_string(repo_root().join("policies/http.cedar")).unwrap()
}

/// A gateway in front of RabbitMQ's management API and the echo target.
pub struct Api {
    pub gateway: Gateway,
    echo: Child,
    pub echo_port: u16,
    echo_log: PathBuf,
    /// The echo target's port file and log, and the files the connections name.
    pub files: tempfile::TempDir,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.echo.kill();
        let _ = self.echo.wait();
    }
}

/// What a client got back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Response headers, one `name: value` per line, names lower-case.
    pub headers: String,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .lines()
            .find_map(|line| line.strip_prefix(&prefix).map(|v| v.trim().to_owned()))
    }
}

impl Api {
    /// The gateway deciding with `policy`; `http_extra` goes into `[http]`.
    pub fn start(policy: &str, http_extra: &str) -> Api {
        Api::start_config(policy, |echo_port, dir| {
            let password_file = dir.join("rabbit.password");
            std::fs::write(&password_file, format!("{SERVICE_PASSWORD}\n")).unwrap();
            format!(
                "[http]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n{http_extra}\n\n\
                 [[connections]]\nname = \"rabbit\"\nkind = \"http\"\nurl = \"{RABBIT}\"\n\
                 basic_user = \"{SERVICE_USER}\"\npassword_file = \"{}\"\n\n\
                 [[connections]]\nname = \"echo\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{echo_port}\"\n\
                 token_env = \"ECHO_TARGET_TOKEN\"\nredirect_hosts = [\"docs.example\"]\n\
                 mask_json_paths = [\"**.password\"]\n",
                password_file.display()
            )
        })
    }

    /// The gateway deciding with `policy`, with the config `config` writes (given the echo
    /// target's port and a directory for files it names) after the standard sections.
    pub fn start_config(policy: &str, config: impl FnOnce(u16, &std::path::Path) -> String) -> Api {
        ensure_service_user();
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("echo.port");
        let echo_log = dir.path().join("echo.log");
        std::fs::write(&echo_log, "").unwrap();
        let echo = Command::new("python3")
            .arg(repo_root().join("crates/gatehouse/tests/httpapi/echo_target.py"))
            .arg(&port_file)
            .arg(&echo_log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let echo_port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse::<u16>().unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "echo target did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let extra = config(echo_port, dir.path());
        let gateway = Gateway::start_with(
            "test",
            Options {
                policy: Some(policy.to_owned()),
                extra,
                env: vec![("ECHO_TARGET_TOKEN".to_owned(), ECHO_TOKEN.to_owned())],
                ..Default::default()
            },
        );
        Api {
            gateway,
            echo,
            echo_port,
            echo_log,
            files: dir,
        }
    }

    /// The HTTP API listener's address.
    pub fn address(&self) -> String {
        let text = std::fs::read_to_string(self.gateway.data_dir().join("listeners.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["http"].as_str().unwrap().to_owned()
    }

    /// `https://127.0.0.1:PORT/c/CONNECTION`.
    pub fn base(&self, connection: &str) -> String {
        format!("https://{}/c/{connection}", self.address())
    }

    /// `curl` with the gateway's CA: `args` then the URL `base(connection) + path`, as the
    /// holder of `token` (`None`: no token).
    pub fn curl(&self, token: Option<&str>, connection: &str, path: &str, args: &[&str]) -> Answer {
        let url = format!("{}{path}", self.base(connection));
        self.curl_url(token, &url, args)
    }

    pub fn curl_url(&self, token: Option<&str>, url: &str, args: &[&str]) -> Answer {
        let dir = tempfile::tempdir().unwrap();
        let headers = dir.path().join("headers");
        let mut command = Command::new("curl");
        command
            .args(["-sS", "--max-time", "60", "--cacert"])
            .arg(self.gateway.ca_file())
            .arg("-D")
            .arg(&headers)
            .args(["-o", "-"])
            .args(args)
            .stdin(Stdio::null());
        if let Some(token) = token {
            command.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let output = command.arg(url).output().unwrap();
        assert!(
            output.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let head = std::fs::read_to_string(&headers).unwrap_or_default();
        // With redirects or 100-continue there are several heads: the last one is the answer.
        let last = head
            .split("\r\n\r\n")
            .filter(|block| block.starts_with("HTTP/"))
            .last()
            .unwrap_or_default()
            .to_owned();
        let status = last
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let headers = last
            .lines()
            .skip(1)
            .map(|line| match line.split_once(':') {
                Some((name, value)) => format!("{}: {}", name.to_ascii_lowercase(), value.trim()),
                None => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&output.stdout).into_owned(),
        }
    }

    /// Run Python `script` (which gets `BASE`, `CA` and `TOKEN` in its environment) and
    /// return what it printed.
    pub fn python(&self, token: &str, script: &str) -> Output {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .env("BASE", self.base("rabbit"))
            .env("ECHO_BASE", self.base("echo"))
            .env("RELEASE", self.events_release_file())
            .env("CA", self.gateway.ca_file())
            .env("TOKEN", token)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `request` written as is over TLS (HTTP/1.1) to the listener; what came back until the
    /// gateway closed the connection (or 10 s passed).
    pub async fn raw(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let tcp = tokio::net::TcpStream::connect(self.address())
            .await
            .unwrap();
        let connector =
            tokio_rustls::TlsConnector::from(std::sync::Arc::new(self.gateway.tls_client_config()));
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    /// Where a client tells the echo target's `/events` that the first event arrived.
    pub fn events_release_file(&self) -> PathBuf {
        let mut path = self.echo_log.clone().into_os_string();
        path.push(".release");
        PathBuf::from(path)
    }

    /// Every request that reached the echo target.
    pub fn echo_requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.echo_log)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// `gatehouse connect CONNECTION --http` as the holder of `token`, and the local address
    /// it announced.
    pub fn connect_http(&self, connection: &str, token: &str) -> (Child, String) {
        let mut args = vec!["connect", connection, "--http", "--gateway"];
        let address = self.address();
        args.push(&address);
        let ca = self.gateway.ca_file();
        args.extend(["--ca-file", ca.to_str().unwrap()]);
        let (child, announced) = self.connect(&args, token);
        assert_eq!(announced["connection"], connection);
        (child, announced["listen"].as_str().unwrap().to_owned())
    }

    /// `gatehouse ARGS --output json` (a `connect`) as the holder of `token`, and the JSON
    /// line it announced itself with.
    pub fn connect(&self, args: &[&str], token: &str) -> (Child, serde_json::Value) {
        use std::io::BufRead;
        let mut connect = Command::new(crate::support::binary())
            .args(args)
            .args(["--output", "json"])
            .env("GATEHOUSE_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(connect.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        (connect, serde_json::from_str(&line).unwrap())
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

/// A queue of its own on RabbitMQ's default vhost `/`, created directly (not through
/// gatehouse).
pub fn new_queue() -> String {
    let name = format!("gatehouse-test-{}", random_suffix());
    let (status, body) = rabbit(
        "PUT",
        &format!("/api/queues/%2F/{name}"),
        r#"{"durable":false}"#,
    );
    assert!(status == 201 || status == 204, "{status} {body}");
    name
}

/// A request straight to RabbitMQ's management API as `guest`.
pub fn rabbit(method: &str, path: &str, body: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-u", "guest:guest", "-X", method])
        .args([
            "-H",
            "Content-Type: application/json",
            "-w",
            "\n%{http_code}",
        ])
        .args(if body.is_empty() {
            vec![]
        } else {
            vec!["--data-binary", body]
        })
        .arg(format!("{RABBIT}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

/// RabbitMQ's user for gatehouse, with its password (idempotent: every test sets the same).
fn ensure_service_user() {
    let (status, body) = rabbit(
        "PUT",
        &format!("/api/users/{SERVICE_USER}"),
        &format!(r#"{{"password":"{SERVICE_PASSWORD}","tags":"administrator"}}"#),
    );
    assert!(
        status == 201 || status == 204,
        "RabbitMQ's management API (enabled by scripts/setup.sh --tests): {status} {body}"
    );
    let (status, body) = rabbit(
        "PUT",
        &format!("/api/permissions/%2F/{SERVICE_USER}"),
        r#"{"configure":".*","write":".*","read":".*"}"#,
    );
    assert!(status == 201 || status == 204, "{status} {body}");
}
