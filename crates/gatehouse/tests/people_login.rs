//! Interactive login for people, end to end against the real binary and a real OpenID Connect
//! provider (`oidc-provider`, see `tests/oidc/provider.mjs`): `gatehouse login` learns the
//! provider from the gateway (`GET /v1/login`), opens `$BROWSER` (a scripted browser that signs
//! in at the provider's pages and follows the redirect to the CLI's loopback callback) or runs
//! the device flow, and exchanges the ID token for a gatehouse token of kind human whose groups
//! drive policy through psql. `gatehouse token` renews it with the provider's refresh token, so
//! group changes at the provider take effect and a disabled account is locked out; forged
//! callbacks, ID tokens for other applications and unknown providers are refused clearly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use support::oidc::{RealIdp, browse, browser_command};
use support::{Gateway, Options, TestDb};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// A gateway with the test IdP as its people's provider, a table to read and write, and a
/// config home of the test's own.
struct People {
    _db: TestDb,
    gateway: Gateway,
    idp: RealIdp,
    home: tempfile::TempDir,
}

impl People {
    /// `None` when the IdP is not installed (outside CI). `ttl`: the gatehouse tokens' `[tokens] ttl`.
    async fn start(ttl: &str) -> Option<People> {
        let idp = RealIdp::start()?;
        let db = TestDb::create().await;
        db.direct()
            .await
            .batch_execute(
                "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one');",
            )
            .await
            .unwrap();
        let extra = format!(
            r#"
[tokens]
ttl = "{ttl}"

[[identity_providers]]
name = "corp"
kind = "human"
issuer = "{issuer}"
client_id = "gatehouse-cli"
audiences = ["gatehouse-cli"]
subject_claim = "email"
groups_claim = "groups"
"#,
            issuer = idp.issuer
        );
        let gateway = Gateway::start_with(
            &db.name,
            Options {
                extra,
                ..Options::default()
            },
        );
        Some(People {
            _db: db,
            gateway,
            idp,
            home: tempfile::tempdir().unwrap(),
        })
    }

    fn api(&self) -> String {
        format!("http://{}", self.gateway.admin_addr)
    }

    fn token_file(&self) -> std::path::PathBuf {
        self.home.path().join("gatehouse/token.json")
    }

    /// `gatehouse ARGS` with this test's config home and `$BROWSER`.
    fn cli(&self, args: &[&str], browser: Option<&Path>) -> Output {
        let mut command = Command::new(support::binary());
        command
            .args(args)
            .env("XDG_CONFIG_HOME", self.home.path())
            .env_remove("BROWSER");
        if let Some(browser) = browser {
            command.env("BROWSER", browser);
        }
        command.output().unwrap()
    }

    /// `gatehouse login` through the scripted browser as `account`.
    fn login(&self, account: &str, browser_flags: &[&str]) -> Output {
        let browser = browser_command(self.home.path(), account, browser_flags);
        self.cli(
            &["login", "--api", &self.api(), "--timeout", "60s"],
            Some(&browser),
        )
    }

    /// `gatehouse token`: (success, stdout, stderr).
    fn token(&self) -> (bool, String, String) {
        let out = self.cli(&["token"], None);
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap().trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn stored(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.token_file()).unwrap()).unwrap()
    }
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn denied(err: &str) -> bool {
    err.contains("denied") || err.contains("not allowed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_in_the_browser_and_works_as_themselves_with_their_groups() {
    let Some(people) = People::start("15m").await else {
        return;
    };
    let out = people.login("alice", &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}\n{}", people.gateway.log());
    assert!(
        err.contains(&format!("logged in as {ALICE} (human; groups: readers)")),
        "{err}"
    );
    assert!(
        err.contains("browser: done"),
        "the browser reached the callback: {err}"
    );
    assert!(out.stdout.is_empty(), "login prints no token");

    // Stored for its owner only, with the provider's refresh token; no token was printed.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(people.token_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored = people.stored();
    assert_eq!(stored["provider"], "corp");
    assert_eq!(stored["client_id"], "gatehouse-cli");
    let refresh = stored["refresh_token"].as_str().unwrap();
    for secret in [refresh, stored["access_token"].as_str().unwrap()] {
        assert!(!err.contains(secret), "a token was printed: {err}");
    }

    let (ok, token, err) = people.token();
    assert!(ok, "{err}");
    assert_eq!(
        token,
        stored["access_token"].as_str().unwrap(),
        "still fresh: not refreshed"
    );
    let claims = claims_of(&token);
    assert_eq!(
        (&claims["sub"], &claims["kind"], &claims["groups"]),
        (&json!(ALICE), &json!("human"), &json!(["readers"]))
    );

    // A reader: reads through psql as herself, cannot write.
    let (ok, out, err) = people.gateway.psql(ALICE, &token, "SELECT name FROM items");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one");
    let (_, _, err) = people
        .gateway
        .psql(ALICE, &token, "INSERT INTO items VALUES (2, 'two')");
    assert!(denied(&err), "{err}");

    // The audit log names the person: the exchange and her statements.
    let events = people.gateway.audit_events();
    let exchange = events
        .iter()
        .find(|e| e["action"] == "token:exchange" && e["decision"] == "allow")
        .expect("the exchange is audited");
    assert_eq!(exchange["identity"]["subject"], ALICE);
    assert_eq!(exchange["identity"]["kind"], "human");
    assert!(
        exchange["detail"].as_str().unwrap().contains("human"),
        "{exchange}"
    );
    assert!(
        events.iter().any(|e| e["action"] == "sql:select"
            && e["identity"]["subject"] == ALICE
            && e["identity"]["kind"] == "human"),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_changes_at_the_provider_take_effect_when_the_token_is_refreshed() {
    // Tokens live 30 s, under the minute before expiry at which `gatehouse token` refreshes:
    // every call refreshes, at once.
    let Some(people) = People::start("30s").await else {
        return;
    };
    let out = people.login("bob", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first_refresh = people.stored()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ok, writer, err) = people.token();
    assert!(ok, "{err}");
    assert_eq!(claims_of(&writer)["groups"], json!(["readers", "writers"]));
    let (ok, _, err) = people
        .gateway
        .psql(BOB, &writer, "INSERT INTO items VALUES (2, 'two')");
    assert!(ok, "{err}");

    // Bob leaves `writers` at the provider: the next refreshed token no longer writes.
    people
        .idp
        .change_account("bob", &json!({"groups": ["readers"]}))
        .await;
    let (ok, reader, err) = people.token();
    assert!(ok, "{err}");
    assert_ne!(reader, writer);
    let claims = claims_of(&reader);
    assert_eq!(
        (&claims["sub"], &claims["kind"], &claims["groups"]),
        (&json!(BOB), &json!("human"), &json!(["readers"]))
    );
    let (_, _, err) = people
        .gateway
        .psql(BOB, &reader, "INSERT INTO items VALUES (3, 'three')");
    assert!(denied(&err), "{err}");
    let (ok, out, err) = people
        .gateway
        .psql(BOB, &reader, "SELECT count(*) FROM items");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "2");
    // The provider rotates refresh tokens; the newest is kept.
    let stored = people.stored();
    assert_eq!(stored["access_token"], json!(reader));
    assert_ne!(stored["refresh_token"], json!(first_refresh));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_disabled_at_the_provider_gets_no_new_token() {
    let Some(people) = People::start("30s").await else {
        return;
    };
    let out = people.login("alice", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = std::fs::read(people.token_file()).unwrap();

    people
        .idp
        .change_account("alice", &json!({"disabled": true}))
        .await;
    let (ok, printed, err) = people.token();
    assert!(!ok, "a disabled person got a token: {printed}");
    assert!(printed.is_empty());
    assert!(
        err.contains("cannot refresh")
            && err.contains("invalid_grant")
            && err.contains("gatehouse login"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(people.token_file()).unwrap(),
        before,
        "nothing new is stored"
    );
}

/// `gatehouse login --device`, with the scripted browser entering the printed code as
/// `account` (`flags` for the browser); returns whether login succeeded and what it printed.
fn device_login(people: &People, account: &str, flags: &[&str]) -> (bool, String) {
    let mut child = Command::new(support::binary())
        .args([
            "login",
            "--api",
            &people.api(),
            "--device",
            "--timeout",
            "60s",
        ])
        .env("XDG_CONFIG_HOME", people.home.path())
        .env_remove("BROWSER")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let complete = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the CLI ended before printing the code: {said}"))
            .unwrap();
        said.push_str(&line);
        said.push('\n');
        if let Some(at) = line.find("http://")
            && line.contains("user_code=")
        {
            break line[at..].trim_end_matches(')').to_owned();
        }
    };
    assert!(said.contains("enter the code"), "{said}");
    let (ok, browsed) = browse(&complete, account, flags);
    assert!(ok, "{browsed}");
    for line in lines {
        said.push_str(&line.unwrap());
        said.push('\n');
    }
    (child.wait().unwrap().success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_with_the_device_flow() {
    let Some(people) = People::start("15m").await else {
        return;
    };
    // Declined at the confirmation page: a clear error, nothing stored.
    let (ok, said) = device_login(&people, "bob", &["--abort"]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("declined") && said.contains("access_denied"),
        "{said}"
    );
    assert!(!people.token_file().exists());

    let (ok, said) = device_login(&people, "bob", &[]);
    assert!(ok, "{said}");
    let (ok, token, err) = people.token();
    assert!(ok, "{err}");
    let claims = claims_of(&token);
    assert_eq!(
        (&claims["sub"], &claims["kind"], &claims["groups"]),
        (&json!(BOB), &json!("human"), &json!(["readers", "writers"]))
    );
    let (ok, _, err) = people
        .gateway
        .psql(BOB, &token, "INSERT INTO items VALUES (2, 'two')");
    assert!(ok, "{err}");
}

/// POST a form to the gateway's token endpoint.
async fn exchange_at_gateway(gateway: &Gateway, id_token: &str) -> (u16, Value) {
    let body = form_urlencoded(&[
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", id_token),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        ),
    ]);
    let answer = support::http(
        &gateway.admin_addr.to_string(),
        "POST",
        "/v1/token",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        &body,
    )
    .await;
    (answer.status, answer.json())
}

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_callbacks_foreign_id_tokens_and_unknown_providers_are_refused_clearly() {
    let Some(people) = People::start("15m").await else {
        return;
    };
    // The gateway says how people log in, publicly.
    let (status, metadata) = admin_get(&people.gateway, "/v1/login").await;
    assert_eq!(status, 200, "{metadata}");
    assert_eq!(
        metadata["providers"],
        json!([{"name": "corp", "issuer": people.idp.issuer, "client_id": "gatehouse-cli",
            "scopes": ["openid", "profile", "email", "offline_access", "groups"]}])
    );

    // A callback whose `state` is not this login's is refused; nothing is stored.
    let out = people.login("alice", &["--tamper-state"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("`state`") && err.contains("refused"), "{err}");
    assert!(
        err.contains("Sign-in failed"),
        "the browser is told too: {err}"
    );
    assert!(!people.token_file().exists());

    // An ID token from the same provider for another application is refused by the gateway.
    let (status, device) = people
        .idp
        .call(
            "POST",
            "/device/auth",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            "client_id=other-app&scope=openid%20email%20groups",
        )
        .await;
    assert_eq!(status, 200, "{device}");
    let (ok, browsed) = browse(
        device["verification_uri_complete"].as_str().unwrap(),
        "alice",
        &[],
    );
    assert!(ok, "{browsed}");
    let (status, tokens) = people
        .idp
        .call(
            "POST",
            "/token",
            "Content-Type: application/x-www-form-urlencoded\r\n",
            &form_urlencoded(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", device["device_code"].as_str().unwrap()),
                ("client_id", "other-app"),
            ]),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let foreign = tokens["id_token"].as_str().unwrap();
    assert_eq!(claims_of(foreign)["aud"], "other-app");
    let (status, answer) = exchange_at_gateway(&people.gateway, foreign).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "invalid_grant");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("audience"),
        "{answer}"
    );
    assert!(answer.get("access_token").is_none());

    // An unknown provider: the error names the known ones.
    let out = people.cli(
        &[
            "login",
            "--api",
            &people.api(),
            "--provider",
            "nope",
            "--no-browser",
        ],
        None,
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("`nope`") && err.contains("known: `corp`"),
        "{err}"
    );
    assert!(!people.token_file().exists());
}

/// GET `path` on the gateway's admin listener: (status, JSON).
async fn admin_get(gateway: &Gateway, path: &str) -> (u16, Value) {
    let answer = support::http(&gateway.admin_addr.to_string(), "GET", path, "", "").await;
    (answer.status, answer.json())
}
