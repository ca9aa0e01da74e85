//! Token exchange for machines and agents, end to end against the real binary: a workload
//! identity provider played by an HTTP server in this test (a real OIDC discovery document and
//! JWKS, keys generated here, JWTs signed with them — ES256 for the workload issuer, EdDSA for a
//! people issuer configured with a static `jwks_file`), the gateway fetching and caching the
//! JWKS, `gatehouse login --exchange-token-file` doing the RFC 8693 exchange, and the issued
//! gatehouse token used as the PostgreSQL password through tokio-postgres and psql, where policy
//! sees the groups from the workload's claim. Every way a workload token can be wrong is
//! refused with an RFC 6749 error that says what is wrong, nothing is issued, and every attempt
//! is in the audit log; forged, foreign, expired and revoked gatehouse tokens are refused by the
//! PostgreSQL listener with the same generic error as a bad API key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::oidc::RealIdp;
use support::{Gateway, Options, TestDb, sqlstate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// A key the test signs JWTs with.
enum Key {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

struct SigningKey {
    kid: String,
    key: Key,
}

impl SigningKey {
    fn es256(kid: &str) -> SigningKey {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        SigningKey {
            kid: kid.to_owned(),
            key: Key::Es256(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap()),
        }
    }

    fn ed25519(kid: &str) -> SigningKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        SigningKey::ed25519_from(kid, pkcs8.as_ref())
    }

    fn ed25519_from(kid: &str, pkcs8: &[u8]) -> SigningKey {
        SigningKey {
            kid: kid.to_owned(),
            key: Key::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8).unwrap()),
        }
    }

    fn alg(&self) -> &'static str {
        match self.key {
            Key::Es256(_) => "ES256",
            Key::Ed25519(_) => "EdDSA",
        }
    }

    fn jwk(&self) -> Value {
        match &self.key {
            Key::Es256(key) => {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": "ES256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])})
            }
            Key::Ed25519(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "alg": "EdDSA",
                "x": URL_SAFE_NO_PAD.encode(key.public_key().as_ref())})
            }
        }
    }

    fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
        );
        let signature = match &self.key {
            Key::Es256(key) => key
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            Key::Ed25519(key) => key.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }
}

/// The workload identity provider: discovery document and JWKS over HTTP.
struct Issuer {
    url: String,
    jwks: Arc<Mutex<Vec<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
    /// While true, every request is answered 503 (the provider is down).
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Issuer {
    async fn start(keys: Vec<Value>) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let jwks = Arc::new(Mutex::new(keys));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (state, fetches, issuer) = (jwks.clone(), jwks_fetches.clone(), url.clone());
        let is_down = down.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (state, fetches, issuer) = (state.clone(), fetches.clone(), issuer.clone());
                let is_down = is_down.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                    let (status, body) = match path.as_str() {
                        _ if is_down.load(Ordering::SeqCst) => {
                            ("503 Service Unavailable", "{}".to_owned())
                        }
                        "/.well-known/openid-configuration" => (
                            "200 OK",
                            json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks"),
                                "id_token_signing_alg_values_supported": ["ES256"]})
                            .to_string(),
                        ),
                        "/jwks" => {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            let keys = state.lock().unwrap().clone();
                            ("200 OK", json!({ "keys": keys }).to_string())
                        }
                        _ => ("404 Not Found", "{}".to_owned()),
                    };
                    // Chunked, as many real servers answer, to exercise the client's framing.
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Issuer {
            url,
            jwks,
            jwks_fetches,
            down,
        }
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A CI job's token: right issuer, audience, lifetime, groups and repository, plus `extra`.
fn ci_claims(issuer: &str, extra: Value) -> Value {
    let mut claims = json!({
        "iss": issuer, "sub": "repo:acme/api:ref:refs/heads/main", "aud": "gatehouse",
        "iat": now(), "exp": now() + 300, "groups": ["readers"], "repository": "acme/api",
    });
    if let Value::Object(extra) = extra {
        claims.as_object_mut().unwrap().extend(extra);
    }
    claims
}

/// POST a form to the gateway's token endpoint; returns the status and the JSON answer.
async fn post_form(admin: SocketAddr, content_type: &str, body: &str) -> (u16, Value) {
    let answer = support::http(
        &admin.to_string(),
        "POST",
        "/v1/token",
        &format!("Content-Type: {content_type}\r\n"),
        body,
    )
    .await;
    assert_eq!(
        answer.header("cache-control").as_deref(),
        Some("no-store"),
        "{}",
        answer.head
    );
    (answer.status, answer.json())
}

/// `GET /v1/approvals` with `token` as the bearer token; returns the status.
async fn bearer_status(admin: SocketAddr, token: &str) -> u16 {
    support::http(
        &admin.to_string(),
        "GET",
        "/v1/approvals",
        &format!("Authorization: Bearer {token}\r\n"),
        "",
    )
    .await
    .status
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn exchange(admin: SocketAddr, subject_token: &str) -> (u16, Value) {
    post_form(
        admin,
        "application/x-www-form-urlencoded",
        &form(&[
            ("grant_type", GRANT),
            ("subject_token", subject_token),
            ("subject_token_type", JWT),
        ]),
    )
    .await
}

/// The exchange is refused with `error` and a description containing `says`; no token.
async fn assert_refused(admin: SocketAddr, token: &str, error: &str, says: &str) {
    let (status, answer) = exchange(admin, token).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], error, "{answer}");
    let description = answer["error_description"].as_str().unwrap();
    assert!(description.contains(says), "`{says}` not in: {description}");
    assert!(answer.get("access_token").is_none(), "{answer}");
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn setup() -> (
    TestDb,
    Gateway,
    Issuer,
    SigningKey,
    SigningKey,
    tempfile::TempDir,
) {
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one');",
        )
        .await
        .unwrap();
    let ci_key = SigningKey::es256("ci-1");
    let issuer = Issuer::start(vec![ci_key.jwk()]).await;
    let person_key = SigningKey::ed25519("people-1");
    let files = tempfile::tempdir().unwrap();
    let people_jwks = files.path().join("people-jwks.json");
    std::fs::write(
        &people_jwks,
        json!({"keys": [person_key.jwk()]}).to_string(),
    )
    .unwrap();
    let extra = format!(
        r#"
[[identity_providers]]
name = "ci"
issuer = "{issuer}"
audiences = ["gatehouse"]
groups_claim = "groups"
claims = {{ repository = "acme/api" }}
min_refresh_interval = "1s"

[[identity_providers]]
name = "people"
kind = "human"
issuer = "{issuer}/people"
audiences = ["gatehouse"]
client_id = "gatehouse"
subject_claim = "email"
jwks_file = "{jwks}"
"#,
        issuer = issuer.url,
        jwks = people_jwks.display()
    );
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            extra,
            ..Options::default()
        },
    );
    (db, gateway, issuer, ci_key, person_key, files)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_exchanges_its_token_and_works_through_the_gateway_as_itself() {
    let (db, gateway, issuer, ci_key, person_key, files) = setup().await;
    let subject_token = ci_key.sign(&ci_claims(&issuer.url, json!({})));
    let person_token = person_key.sign(&json!({
        "iss": format!("{}/people", issuer.url), "sub": "00u1", "email": "ana@example.com",
        "aud": ["gatehouse"], "exp": now() + 300,
    }));
    let subject_file = files.path().join("ci-token");
    let actor_file = files.path().join("person-token");
    std::fs::write(&subject_file, &subject_token).unwrap();
    std::fs::write(&actor_file, &person_token).unwrap();
    let home = files.path().join("config");

    // The CLI does the exchange and stores the token, readable only by its owner.
    let login = Command::new(support::binary())
        .args(["login", "--api", &format!("http://{}", gateway.admin_addr)])
        .arg("--exchange-token-file")
        .arg(&subject_file)
        .arg("--actor-token-file")
        .arg(&actor_file)
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "login failed: {}\n{}",
        String::from_utf8_lossy(&login.stderr),
        gateway.log()
    );
    let stored = home.join("gatehouse/token.json");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&stored).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the stored token is private");
    }
    let printed = Command::new(support::binary())
        .arg("token")
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .unwrap();
    assert!(printed.status.success());
    let token = String::from_utf8(printed.stdout).unwrap().trim().to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["sub"], "repo:acme/api:ref:refs/heads/main");
    assert_eq!(claims["kind"], "machine");
    assert_eq!(claims["groups"], json!(["readers"]));
    assert_eq!(claims["acting_for"], json!(["ana@example.com"]));
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 15 * 60, "default lifetime 15 minutes");
    assert_eq!(
        issuer.fetches(),
        1,
        "the JWKS was fetched through discovery"
    );

    // The token is the PostgreSQL password; policy sees the groups from the claim.
    let client = gateway.connect("gatehouse", &token).await.unwrap();
    let row = client
        .query_one("SELECT name FROM items WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "one");
    let denied = client
        .simple_query("INSERT INTO items VALUES (2, 'two')")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&denied).as_deref(), Some("42501"), "{denied}");
    drop(client);
    let (ok, out, err) = gateway.psql("gatehouse", &token, "SELECT count(*) FROM items");
    assert!(ok, "psql with the exchanged token: {err}");
    assert_eq!(out.trim(), "1");
    assert_eq!(support::count(&db.direct().await, "items").await, 1);

    // A second exchange within the cache lifetime does not refetch the keys.
    let (status, _) = exchange(gateway.admin_addr, &subject_token).await;
    assert_eq!(status, 200);
    assert_eq!(issuer.fetches(), 1);

    // Forged gatehouse tokens: tampered claims, another gateway's key, expired, revoked.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut elevated = claims.clone();
    elevated["groups"] = json!(["admins"]);
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&elevated).unwrap());
    let tampered = parts.join(".");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    let kid = header["kid"].as_str().unwrap();
    let foreign = SigningKey::ed25519(kid).sign_with_header(&header, &elevated);
    let real_key = std::fs::read(gateway.data_dir().join("token.key")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(gateway.data_dir().join("token.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the signing key is private");
    }
    let real = SigningKey::ed25519_from(kid, &real_key);
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(now() - 5);
    let expired = real.sign_with_header(&header, &expired_claims);
    for (what, bad) in [
        ("tampered", &tampered),
        ("foreign key", &foreign),
        ("expired", &expired),
    ] {
        let error = gateway
            .connect("gatehouse", bad)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what} accepted"));
        assert_eq!(
            sqlstate(&error).as_deref(),
            Some("28P01"),
            "{what}: {error}"
        );
    }
    // Signed by the real key: accepted — until its jti is revoked.
    let mut fresh = claims.clone();
    fresh["jti"] = json!("test-revoked-jti");
    let to_revoke = real.sign_with_header(&header, &fresh);
    gateway.connect("gatehouse", &to_revoke).await.unwrap();
    let revoked = gateway.cli(&["tokens", "revoke", "test-revoked-jti", "--reason", "leaked"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let error = gateway
        .connect("gatehouse", &to_revoke)
        .await
        .err()
        .unwrap();
    assert_eq!(sqlstate(&error).as_deref(), Some("28P01"), "{error}");
    // The reviewer API takes the same token as its bearer token (and refuses a forged one).
    assert_eq!(bearer_status(gateway.admin_addr, &token).await, 200);
    assert_eq!(bearer_status(gateway.admin_addr, &tampered).await, 401);

    // The audit log: the exchange with its delegation chain, sessions carrying it, no token.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = gateway.audit_events();
    let granted: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "token:exchange" && e["decision"] == "allow")
        .collect();
    assert_eq!(granted.len(), 2, "{events:#?}");
    assert_eq!(
        granted[0]["identity"]["subject"],
        "repo:acme/api:ref:refs/heads/main"
    );
    assert_eq!(granted[0]["acting_for"], json!(["ana@example.com"]));
    let detail = granted[0]["detail"].as_str().unwrap();
    assert!(detail.contains(claims["jti"].as_str().unwrap()), "{detail}");
    assert!(detail.contains("identity provider `ci`"), "{detail}");
    assert!(detail.contains("acting for `ana@example.com`"), "{detail}");
    let select = events
        .iter()
        .find(|e| e["statement"] == "SELECT name FROM items WHERE id = 1")
        .expect("the session's statement is audited");
    assert_eq!(
        select["identity"]["subject"],
        "repo:acme/api:ref:refs/heads/main"
    );
    assert_eq!(select["identity"]["kind"], "machine");
    assert_eq!(select["acting_for"], json!(["ana@example.com"]));
    assert!(events.iter().any(|e| e["action"] == "token:revoke"));
    let exported = serde_json::to_string(&events).unwrap();
    for secret in [&subject_token, &person_token, &token] {
        assert!(
            !exported.contains(secret.as_str()),
            "a token reached the audit log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_workload_token_is_refused_with_a_clear_error_and_audited() {
    let (_db, gateway, issuer, ci_key, person_key, _files) = setup().await;
    let admin = gateway.admin_addr;
    let good = |extra: Value| ci_key.sign(&ci_claims(&issuer.url, extra));

    assert_refused(
        admin,
        &good(json!({"aud": "someone-else"})),
        "invalid_grant",
        "audience",
    )
    .await;
    assert_refused(
        admin,
        &good(json!({"exp": now() - 120})),
        "invalid_grant",
        "expired",
    )
    .await;
    assert_refused(
        admin,
        &good(json!({"nbf": now() + 600})),
        "invalid_grant",
        "not valid yet",
    )
    .await;
    assert_refused(
        admin,
        &good(json!({"repository": "evil/api"})),
        "invalid_grant",
        "repository",
    )
    .await;
    let impostor = SigningKey::es256("ci-1");
    assert_refused(
        admin,
        &impostor.sign(&ci_claims(&issuer.url, json!({}))),
        "invalid_grant",
        "signature does not verify",
    )
    .await;
    let mut tampered: Vec<String> = good(json!({})).split('.').map(str::to_owned).collect();
    tampered[1] = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&ci_claims(&issuer.url, json!({"groups": ["admins"]}))).unwrap(),
    );
    assert_refused(
        admin,
        &tampered.join("."),
        "invalid_grant",
        "signature does not verify",
    )
    .await;
    assert_refused(
        admin,
        &ci_key.sign(&ci_claims("https://other-issuer.example", json!({}))),
        "invalid_grant",
        "not a configured identity provider",
    )
    .await;
    // A people provider's ID token meant for another application is refused.
    let person = person_key.sign(&json!({
        "iss": format!("{}/people", issuer.url), "email": "ana@example.com",
        "aud": "other-app", "exp": now() + 300,
    }));
    assert_refused(admin, &person, "invalid_grant", "audience").await;
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(ci_claims(&issuer.url, json!({})).to_string())
    );
    assert_refused(admin, &unsigned, "invalid_grant", "`none` is not accepted").await;
    let hs256 = impostor.sign_with_header(
        &json!({"alg": "HS256", "kid": "ci-1"}),
        &ci_claims(&issuer.url, json!({})),
    );
    assert_refused(admin, &hs256, "invalid_grant", "`HS256` is not accepted").await;
    assert_refused(admin, "not-a-jwt", "invalid_grant", "not a JWT").await;

    // Unknown kid: the JWKS is fetched again (keys may have rotated), but at most once per
    // min_refresh_interval, so made-up kids cannot hammer the issuer.
    let before = issuer.fetches();
    let rotated = SigningKey::es256("ci-2");
    let rotated_token = rotated.sign(&ci_claims(&issuer.url, json!({})));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_refused(
        admin,
        &rotated_token,
        "invalid_grant",
        "no key with id `ci-2`",
    )
    .await;
    assert_eq!(issuer.fetches(), before + 1, "refetched on an unknown kid");
    assert_refused(
        admin,
        &rotated_token,
        "invalid_grant",
        "no key with id `ci-2`",
    )
    .await;
    assert_eq!(
        issuer.fetches(),
        before + 1,
        "not again within the interval"
    );
    // The issuer rotates: after the interval the new key is fetched and accepted.
    issuer.jwks.lock().unwrap().push(rotated.jwk());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, answer) = exchange(admin, &rotated_token).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(
        answer["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(answer["expires_in"], 900);

    // Malformed requests.
    let (status, answer) = post_form(
        admin,
        "application/x-www-form-urlencoded",
        &form(&[
            ("subject_token", &good(json!({}))),
            ("subject_token_type", JWT),
        ]),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, answer) = post_form(
        admin,
        "application/x-www-form-urlencoded",
        &form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let (status, answer) = post_form(
        admin,
        "application/x-www-form-urlencoded",
        &form(&[
            ("grant_type", GRANT),
            ("subject_token", &good(json!({}))),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:saml2",
            ),
        ]),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, answer) = post_form(admin, "application/json", "{}").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // A bad actor token refuses the whole exchange.
    let (status, answer) = post_form(
        admin,
        "application/x-www-form-urlencoded",
        &form(&[
            ("grant_type", GRANT),
            ("subject_token", &good(json!({}))),
            ("subject_token_type", JWT),
            (
                "actor_token",
                &impostor.sign(&ci_claims(&issuer.url, json!({}))),
            ),
            ("actor_token_type", JWT),
        ]),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .starts_with("actor_token refused")
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = gateway.audit_events();
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "token:exchange" && e["decision"] == "deny")
        .collect();
    assert!(
        refused.len() >= 15,
        "every refusal is audited: {}",
        refused.len()
    );
    assert!(
        refused
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("audience"))
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "token:exchange" && e["decision"] == "allow")
            .count(),
        1,
        "only the rotated-key exchange was granted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_oidc_providers_machine_token_is_exchanged_and_its_groups_drive_policy() {
    let Some(idp) = RealIdp::start() else {
        return;
    };
    let db = TestDb::create().await;
    db.direct()
        .await
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one');")
        .await
        .unwrap();
    let extra = format!(
        r#"
[[identity_providers]]
name = "corp-idp"
issuer = "{}"
audiences = ["urn:gatehouse"]
groups_claim = "groups"
claims = {{ repository = "acme/api" }}
"#,
        idp.issuer
    );
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            extra,
            ..Options::default()
        },
    );
    let home = tempfile::tempdir().unwrap();
    let login = |idp_token: &str| {
        Command::new(support::binary())
            .args(["login", "--api", &format!("http://{}", gateway.admin_addr)])
            .args(["--exchange-token-env", "CI_ID_TOKEN"])
            .env("CI_ID_TOKEN", idp_token)
            .env("XDG_CONFIG_HOME", home.path())
            .output()
            .unwrap()
    };
    let token = || {
        let out = Command::new(support::binary())
            .arg("token")
            .env("XDG_CONFIG_HOME", home.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };

    // A reader: reads, cannot write.
    let idp_token = idp.machine_token("ci-job").await;
    let out = login(&idp_token);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gateway.log()
    );
    let reader = token();
    assert_eq!(claims_of(&reader)["sub"], "ci-job");
    let (ok, out, err) = gateway.psql("ci-job", &reader, "SELECT name FROM items");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "one");
    let (_, _, err) = gateway.psql("ci-job", &reader, "INSERT INTO items VALUES (2, 'two')");
    assert!(
        err.contains("denied") || err.contains("not allowed"),
        "{err}"
    );

    // A writer (its IdP groups include `writers`): the insert is allowed.
    let out = login(&idp.machine_token("ci-writer").await);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let writer = token();
    let client = gateway.connect("ci-writer", &writer).await.unwrap();
    client
        .simple_query("INSERT INTO items VALUES (2, 'two')")
        .await
        .unwrap();
    assert_eq!(support::count(&db.direct().await, "items").await, 2);

    // A token for another repository fails the provider's claim condition, whatever its groups.
    let out = login(&idp.machine_token("ci-other-repo").await);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid_grant") && err.contains("repository"),
        "{err}"
    );

    // The IdP's RS256 signature is really checked: a tampered payload is refused.
    let mut parts: Vec<String> = idp_token.split('.').map(str::to_owned).collect();
    let mut claims = claims_of(&idp_token);
    claims["groups"] = json!(["admins"]);
    parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    assert_refused(
        gateway.admin_addr,
        &parts.join("."),
        "invalid_grant",
        "signature does not verify",
    )
    .await;
}

/// The identity provider is down (its address refuses connections) and no keys were ever
/// cached: the exchange is refused as temporarily unavailable — never let in on an unverified
/// token — the refusal is audited, and the gateway goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_identity_provider_refuses_exchanges_and_lets_nothing_in() {
    let db = TestDb::create().await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let key = SigningKey::es256("down-1");
    let gateway = Gateway::start_with(
        &db.name,
        Options {
            extra: format!(
                "[[identity_providers]]\nname = \"down\"\nissuer = \"{issuer}\"\naudiences = [\"gatehouse\"]\n"
            ),
            ..Options::default()
        },
    );
    let token = key.sign(&ci_claims(&issuer, json!({})));
    let (status, answer) = exchange(gateway.admin_addr, &token).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "temporarily_unavailable", "{answer}");
    assert!(answer.get("access_token").is_none(), "{answer}");
    let description = answer["error_description"].as_str().unwrap();
    assert!(!description.is_empty(), "{answer}");
    let events = gateway.audit_events();
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "token:exchange" && e["decision"] == "deny"),
        "the refused exchange is audited"
    );
    // Still serving: the same request is answered again, just as clearly.
    let (status, _) = exchange(gateway.admin_addr, &token).await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_person_an_agent_acts_for_ends_its_session_and_refuses_its_exchanges() {
    let (_db, gateway, issuer, ci_key, person_key, _files) = setup().await;
    let subject_token = ci_key.sign(&ci_claims(&issuer.url, json!({})));
    let person_token = person_key.sign(&json!({
        "iss": format!("{}/people", issuer.url), "sub": "00u2", "email": "lee@example.com",
        "aud": ["gatehouse"], "exp": now() + 300,
    }));
    let with_actor = form(&[
        ("grant_type", GRANT),
        ("subject_token", &subject_token),
        ("subject_token_type", JWT),
        ("actor_token", &person_token),
        ("actor_token_type", JWT),
    ]);
    let (status, answer) = post_form(
        gateway.admin_addr,
        "application/x-www-form-urlencoded",
        &with_actor,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["access_token"].as_str().unwrap().to_owned();

    // The agent's session, acting for lee, is live.
    let (client, connection) = gateway
        .client_config("gatehouse", &token, "demo")
        .connect(gateway.tls())
        .await
        .unwrap();
    let ended = tokio::spawn(connection);
    client.simple_query("SELECT 1").await.unwrap();

    let revoked = gateway.cli(&[
        "identities",
        "revoke",
        "lee@example.com",
        "--reason",
        "on leave",
    ]);
    assert!(revoked.status.success());
    let error = tokio::time::timeout(Duration::from_secs(5), ended)
        .await
        .expect("the agent's session ended within 5 s of revoking the person it acts for")
        .unwrap()
        .unwrap_err();
    assert_eq!(sqlstate(&error).as_deref(), Some("57P01"), "{error:?}");
    assert!(
        support::message(&error).contains("identity `lee@example.com` was revoked: on leave"),
        "{error:?}"
    );

    // No new token acting for lee, and the old one no longer opens sessions.
    let (status, answer) = post_form(
        gateway.admin_addr,
        "application/x-www-form-urlencoded",
        &with_actor,
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains("the identity `lee@example.com` is revoked"),
        "{answer}"
    );
    assert!(gateway.connect("gatehouse", &token).await.is_err());
    // The workload on its own (acting for nobody) is not affected.
    let (status, _) = exchange(gateway.admin_addr, &subject_token).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_provider_is_down_cached_keys_serve_until_max_key_age_then_exchanges_fail_closed()
{
    let ci_key = SigningKey::es256("ci-1");
    let issuer = Issuer::start(vec![ci_key.jwk()]).await;
    let gateway = Gateway::start_with(
        "test",
        Options {
            extra: format!(
                r#"
[[identity_providers]]
name = "ci"
issuer = "{}"
audiences = ["gatehouse"]
min_refresh_interval = "1s"
max_key_age = "3s"
"#,
                issuer.url
            ),
            ..Options::default()
        },
    );
    let token = ci_key.sign(&ci_claims(&issuer.url, json!({})));
    let (status, answer) = exchange(gateway.admin_addr, &token).await;
    assert_eq!(status, 200, "{answer}");

    // Down, keys just fetched: exchanges go on with the cached keys.
    issuer.down.store(true, Ordering::SeqCst);
    let (status, answer) = exchange(gateway.admin_addr, &token).await;
    assert_eq!(
        status, 200,
        "cached keys serve while the provider is down: {answer}"
    );

    // Down, keys older than max_key_age: refused, saying why; nothing issued.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, answer) = exchange(gateway.admin_addr, &token).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "temporarily_unavailable");
    let description = answer["error_description"].as_str().unwrap();
    assert!(
        description.contains("older than `max_key_age` (3s)"),
        "{description}"
    );
    assert!(answer.get("access_token").is_none());

    // Back up: the next exchange (past the refetch interval) fetches fresh keys and works.
    issuer.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, answer) = exchange(gateway.admin_addr, &token).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_flooding_the_token_endpoint_is_slowed_down_with_retry_after() {
    let ci_key = SigningKey::es256("ci-1");
    let issuer = Issuer::start(vec![ci_key.jwk()]).await;
    let gateway = Gateway::start_with(
        "test",
        Options {
            extra: format!(
                "[tokens]\nexchanges_per_minute = 3\n\n[[identity_providers]]\nname = \"ci\"\nissuer = \"{}\"\naudiences = [\"gatehouse\"]\n",
                issuer.url
            ),
            ..Options::default()
        },
    );
    let token = ci_key.sign(&ci_claims(&issuer.url, json!({})));
    // Good and bad requests alike count.
    let (status, _) = exchange(gateway.admin_addr, "not-a-jwt").await;
    assert_eq!(status, 400);
    for _ in 0..2 {
        let (status, answer) = exchange(gateway.admin_addr, &token).await;
        assert_eq!(status, 200, "{answer}");
    }
    let body = form(&[
        ("grant_type", GRANT),
        ("subject_token", &token),
        ("subject_token_type", JWT),
    ]);
    let answer = support::http(
        &gateway.admin_addr.to_string(),
        "POST",
        "/v1/token",
        "Content-Type: application/x-www-form-urlencoded\r\n",
        &body,
    )
    .await;
    assert_eq!(answer.status, 429, "{}", answer.head);
    let retry_after: u64 = answer
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .unwrap();
    assert!((1..=21).contains(&retry_after), "{retry_after}");
    let answer = answer.json();
    assert_eq!(answer["error"], "slow_down");
    assert!(answer.get("access_token").is_none());
    // Nothing was issued for it: only the two granted exchanges are in the audit log.
    let granted = gateway
        .audit_events()
        .iter()
        .filter(|e| e["action"] == "token:exchange" && e["decision"] == "allow")
        .count();
    assert_eq!(granted, 2);
}
