//! The test identity provider: the OpenID-certified `oidc-provider` (npm, `tests/oidc`), run
//! by Node on a loopback port (see `tests/oidc/provider.mjs` for its clients and accounts),
//! and the scripted browser that signs people in through it (`tests/oidc/browser.mjs`).

use base64::Engine;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// `tests/oidc`.
pub fn dir() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// The running provider; killed when dropped.
pub struct RealIdp {
    child: Child,
    pub issuer: String,
}

impl Drop for RealIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RealIdp {
    /// `None` (after saying why) when its npm packages are not installed and this is not CI;
    /// under CI=true a missing install fails the test.
    pub fn start() -> Option<RealIdp> {
        let dir = dir();
        if !dir.join("node_modules/oidc-provider").exists() {
            let how = format!("npm ci --prefix {}", dir.display());
            assert!(
                std::env::var_os("CI").is_none(),
                "the test identity provider is not installed: run `{how}`"
            );
            eprintln!("SKIPPED: the test identity provider is not installed; run `{how}`");
            return None;
        }
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node (the test identity provider needs Node.js)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let started: Value = serde_json::from_str(&line).expect("the provider prints its issuer");
        let issuer = started["issuer"].as_str().unwrap().to_owned();
        Some(RealIdp { child, issuer })
    }

    /// Send one request to the provider; returns the status and the JSON answer.
    pub async fn call(&self, method: &str, path: &str, headers: &str, body: &str) -> (u16, Value) {
        let addr = self.issuer.trim_start_matches("http://");
        let answer = super::http(addr, method, path, headers, body).await;
        // The provider may answer chunked: the JSON is between the outermost braces.
        let text = answer.body;
        let status = answer.status;
        let json = match (text.find('{'), text.rfind('}')) {
            (Some(start), Some(end)) => {
                serde_json::from_str(&text[start..=end]).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        (status, json)
    }

    /// A client-credentials access token (RS256 JWT for `urn:gatehouse`) for `client`.
    pub async fn machine_token(&self, client: &str) -> String {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{client}:{client}-secret"));
        let (_, answer) = self
            .call(
                "POST",
                "/token",
                &format!(
                    "Authorization: Basic {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                ),
                "grant_type=client_credentials&scope=db&resource=urn%3Agatehouse",
            )
            .await;
        answer["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token from the IdP: {answer}"))
            .to_owned()
    }

    /// Test-only account change (`POST /test/accounts/<account>`): groups, disabled.
    pub async fn change_account(&self, account: &str, change: &Value) {
        let (status, answer) = self
            .call(
                "POST",
                &format!("/test/accounts/{account}"),
                "Content-Type: application/json\r\n",
                &change.to_string(),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// Run the scripted browser on `url` as `account` (extra arguments after); returns whether it
/// finished and what it printed.
pub fn browse(url: &str, account: &str, extra: &[&str]) -> (bool, String) {
    let output = Command::new("node")
        .arg(dir().join("browser.mjs"))
        .args([url, account])
        .args(extra)
        .output()
        .expect("run node browser.mjs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A `$BROWSER` for the CLI: a script that hands the URL to the scripted browser as `account`.
pub fn browser_command(in_dir: &std::path::Path, account: &str, extra: &[&str]) -> PathBuf {
    let path = in_dir.join(format!("browser-{account}{}.sh", extra.join("")));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nexec node '{}' \"$1\" {account} {}\n",
            dir().join("browser.mjs").display(),
            extra.join(" ")
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    path
}
