//! A kubeconfig user's exec credential plugin (`gke-gcloud-auth-plugin`, `aws eks get-token`,
//! `kubelogin`, ...), run the way kubectl runs it: `KUBERNETES_EXEC_INFO` holds an
//! `ExecCredential` request (no terminal: gatehouse is unattended), the plugin prints an
//! `ExecCredential` whose `status` has a token or a client certificate and key. The credential
//! is kept until its `expirationTimestamp` (or, without one, until the API server answers 401)
//! and shared by every request of the connection; one run at a time, so a burst of requests
//! after expiry runs the plugin once. A run is bounded in time and output: a plugin that hangs
//! or floods is killed and the request answered with a `Status` naming the connection.

use gatehouse_core::SecretString;
use gatehouse_http::upstream::Upstream;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The `ExecCredential` API versions gatehouse speaks (kubectl's own).
pub const API_VERSIONS: &[&str] = &[
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// How long one run of a plugin may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a plugin may print on stdout (an `ExecCredential` is a few KiB).
const MAX_OUTPUT_BYTES: u64 = 256 * 1024;

/// How much of a failing plugin's stderr is kept for gatehouse's log.
const MAX_STDERR_BYTES: u64 = 2048;

/// The plugin as the kubeconfig defines it.
pub struct ExecPlugin {
    /// The program (a path with a `/` is relative to the kubeconfig's directory; a bare name
    /// is looked up on PATH).
    pub command: PathBuf,
    pub args: Vec<String>,
    /// Extra environment (values may be credentials, so they do not print).
    pub env: Vec<(String, SecretString)>,
    /// The `ExecCredential` version the plugin speaks.
    pub api_version: String,
    /// `spec.cluster` when the kubeconfig asks for `provideClusterInfo`.
    pub cluster: Option<Value>,
}

/// What one run of the plugin issued.
#[derive(Clone)]
pub struct Issued {
    /// The bearer token, when the plugin issued one.
    pub token: Option<SecretString>,
    /// An upstream whose TLS presents the client certificate the plugin issued.
    pub upstream: Option<Upstream>,
    expires: Option<SystemTime>,
    run: u64,
}

/// A connection's exec plugin and the credential it last issued.
pub struct ExecCredentials {
    plugin: ExecPlugin,
    /// Where the API server is and the CA that verifies it: a client certificate the plugin
    /// issues needs an upstream of its own.
    url: String,
    ca_pem: Vec<u8>,
    connect_timeout: Duration,
    run_timeout: Duration,
    cached: tokio::sync::Mutex<Option<Issued>>,
    runs: AtomicU64,
}

impl ExecCredentials {
    pub fn new(plugin: ExecPlugin, url: &str, ca_pem: Vec<u8>, connect_timeout: Duration) -> Self {
        ExecCredentials {
            plugin,
            url: url.to_owned(),
            ca_pem,
            connect_timeout,
            run_timeout: RUN_TIMEOUT,
            cached: tokio::sync::Mutex::new(None),
            runs: AtomicU64::new(0),
        }
    }

    /// The program, for messages.
    pub fn program(&self) -> String {
        self.plugin.command.display().to_string()
    }

    /// The credential to present now: the cached one until it expires, else a new run's.
    /// `Err` says why the plugin gave none (for gatehouse's log).
    pub async fn current(&self) -> Result<Issued, String> {
        let mut cached = self.cached.lock().await;
        if let Some(issued) = cached.as_ref()
            && issued
                .expires
                .is_none_or(|expires| SystemTime::now() < expires)
        {
            return Ok(issued.clone());
        }
        let issued = self.run().await?;
        *cached = Some(issued.clone());
        Ok(issued)
    }

    /// The API server refused `issued` (401): the next request runs the plugin again.
    pub async fn forget(&self, issued: &Issued) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|current| current.run == issued.run)
        {
            *cached = None;
        }
    }

    async fn run(&self) -> Result<Issued, String> {
        let run = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
        let plugin = &self.plugin;
        let mut spec = serde_json::Map::new();
        spec.insert("interactive".to_owned(), Value::Bool(false));
        if let Some(cluster) = &plugin.cluster {
            spec.insert("cluster".to_owned(), cluster.clone());
        }
        let request = json!({
            "apiVersion": plugin.api_version,
            "kind": "ExecCredential",
            "spec": spec,
        });
        let mut command = tokio::process::Command::new(&plugin.command);
        command
            .args(&plugin.args)
            .env("KUBERNETES_EXEC_INFO", request.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in &plugin.env {
            command.env(name, value.expose());
        }
        let mut child = command
            .spawn()
            .map_err(|error| format!("it cannot be started: {error}"))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let finished = tokio::time::timeout(self.run_timeout, async {
            let (out, err, status) = tokio::join!(
                bounded(stdout, MAX_OUTPUT_BYTES + 1),
                bounded(stderr, MAX_STDERR_BYTES),
                child.wait()
            );
            (out, err, status)
        })
        .await;
        let Ok((out, err, status)) = finished else {
            let _ = child.kill().await;
            return Err(format!(
                "it did not finish within {} ms and was killed",
                self.run_timeout.as_millis()
            ));
        };
        let status = status.map_err(|error| format!("it could not be waited for: {error}"))?;
        if !status.success() {
            return Err(format!(
                "it failed ({status}); it said: {}",
                String::from_utf8_lossy(&err).trim()
            ));
        }
        if u64::try_from(out.len()).unwrap_or(u64::MAX) > MAX_OUTPUT_BYTES {
            return Err(format!(
                "it printed more than {MAX_OUTPUT_BYTES} bytes, more than any ExecCredential"
            ));
        }
        self.issued(&out, run)
    }

    /// The credential in a plugin's output.
    fn issued(&self, out: &[u8], run: u64) -> Result<Issued, String> {
        let credential: Value = serde_json::from_slice(out)
            .map_err(|error| format!("its output is not an ExecCredential (JSON: {error})"))?;
        let text =
            |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        if text(&credential, "kind").as_deref() != Some("ExecCredential")
            || text(&credential, "apiVersion").as_deref() != Some(&self.plugin.api_version)
        {
            return Err(format!(
                "its output is not an ExecCredential of `{}`",
                self.plugin.api_version
            ));
        }
        let status = credential
            .get("status")
            .ok_or("its ExecCredential has no `status`")?;
        let expires = match text(status, "expirationTimestamp") {
            Some(stamp) => Some(expiry(&stamp)?),
            None => None,
        };
        let token = text(status, "token").filter(|token| !token.is_empty());
        let certificate = text(status, "clientCertificateData");
        let key = text(status, "clientKeyData");
        let upstream = match (certificate, key) {
            (Some(certificate), Some(key)) => Some(self.certificate_upstream(&certificate, &key)?),
            (None, None) => None,
            _ => {
                return Err(
                    "its ExecCredential has a client certificate without its key, or a key without its certificate".to_owned(),
                );
            }
        };
        if token.is_none() && upstream.is_none() {
            return Err(
                "its ExecCredential has neither `status.token` nor `status.clientCertificateData` with `clientKeyData`".to_owned(),
            );
        }
        Ok(Issued {
            token: token.map(SecretString::new),
            upstream,
            expires,
            run,
        })
    }

    fn certificate_upstream(&self, certificate: &str, key: &str) -> Result<Upstream, String> {
        if !self.url.starts_with("https:") {
            return Err("it issued a client certificate for a server that is not https".to_owned());
        }
        let tls = gatehouse_http::upstream::client_tls(
            &self.ca_pem,
            Some((certificate.as_bytes(), key.as_bytes())),
        )
        .map_err(|error| format!("its client certificate cannot be used: {error}"))?;
        Upstream::new(&self.url, Some(tls), self.connect_timeout).map_err(|error| error.to_string())
    }
}

/// At most `limit` bytes of a pipe, the rest drained so the plugin is not blocked writing.
async fn bounded(pipe: Option<impl AsyncRead + Unpin>, limit: u64) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let _ = (&mut pipe).take(limit).read_to_end(&mut kept).await;
    let _ = tokio::io::copy(&mut pipe, &mut tokio::io::sink()).await;
    kept
}

fn expiry(stamp: &str) -> Result<SystemTime, String> {
    let parsed = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
        .map_err(|_| format!("its `expirationTimestamp` `{stamp}` is not an RFC 3339 time"))?;
    Ok(SystemTime::from(parsed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn plugin(dir: &std::path::Path, script: &str) -> ExecCredentials {
        let path = dir.join("plugin.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        ExecCredentials::new(
            ExecPlugin {
                command: path,
                args: vec!["--flag".to_owned()],
                env: vec![("PLUGIN_SECRET".to_owned(), SecretString::new("s3"))],
                api_version: "client.authentication.k8s.io/v1".to_owned(),
                cluster: None,
            },
            "https://127.0.0.1:6443",
            Vec::new(),
            Duration::from_secs(1),
        )
    }

    fn credential(status: &str) -> String {
        format!(
            "echo '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{status}}}'"
        )
    }

    #[tokio::test]
    async fn the_token_is_kept_until_it_expires_and_after_a_401_the_plugin_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let script = format!(
            "echo \"$1 $PLUGIN_SECRET $KUBERNETES_EXEC_INFO\" >> {}\n{}",
            runs.display(),
            credential("{\"token\":\"t1\",\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}")
        );
        let credentials = plugin(dir.path(), &script);
        let first = credentials.current().await.unwrap();
        assert_eq!(first.token.as_ref().unwrap().expose(), "t1");
        credentials.current().await.unwrap();
        let seen = std::fs::read_to_string(&runs).unwrap();
        assert_eq!(seen.lines().count(), 1, "{seen}");
        assert!(seen.starts_with("--flag s3 {"), "{seen}");
        assert!(seen.contains("\"interactive\":false"), "{seen}");
        credentials.forget(&first).await;
        credentials.current().await.unwrap();
        assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2);
    }

    #[tokio::test]
    async fn an_expired_credential_runs_the_plugin_again() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let script = format!(
            "echo run >> {}\n{}",
            runs.display(),
            credential("{\"token\":\"t\",\"expirationTimestamp\":\"2001-01-01T00:00:00Z\"}")
        );
        let credentials = plugin(dir.path(), &script);
        credentials.current().await.unwrap();
        credentials.current().await.unwrap();
        assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2);
    }

    #[tokio::test]
    async fn a_failing_plugin_is_an_error_that_says_what_it_said() {
        let dir = tempfile::tempdir().unwrap();
        let failed = plugin(dir.path(), "echo 'login required' >&2\nexit 3")
            .current()
            .await
            .err()
            .unwrap();
        assert!(failed.contains("exit status: 3"), "{failed}");
        assert!(failed.contains("login required"), "{failed}");
        let garbage = plugin(dir.path(), "echo hello")
            .current()
            .await
            .err()
            .unwrap();
        assert!(garbage.contains("not an ExecCredential"), "{garbage}");
        let empty = plugin(dir.path(), &credential("{}"))
            .current()
            .await
            .err()
            .unwrap();
        assert!(empty.contains("neither `status.token`"), "{empty}");
        let bad_time = plugin(
            dir.path(),
            &credential("{\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}"),
        )
        .current()
        .await
        .err()
        .unwrap();
        assert!(bad_time.contains("not an RFC 3339 time"), "{bad_time}");
        let flood = plugin(dir.path(), "head -c 1000000 /dev/zero")
            .current()
            .await
            .err()
            .unwrap();
        assert!(flood.contains("printed more than"), "{flood}");
        let mut hanging = plugin(dir.path(), "exec sleep 60");
        hanging.run_timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        let hung = hanging.current().await.err().unwrap();
        assert!(hung.contains("did not finish within 300 ms"), "{hung}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
