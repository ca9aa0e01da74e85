//! Certificate logins through gatehouse with OpenSSH's own `ssh`, in batch mode so that no
//! password can be given: `gatehouse ssh-cert` makes a key and gets it certified by the
//! gateway's user CA, `gatehouse ssh-config` writes the ssh_config and known_hosts that make
//! `ssh box.gatehouse` work with gatehouse's host key pinned; revoked, foreign, expired and
//! uncertified keys are refused before anything reaches the target.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sshhost;
mod support;

use sshhost::{SshHost, shown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// `ssh` with only public key authentication (batch mode: no prompt, so no password), the
/// key `key` (and its `-cert.pub`, which ssh loads by itself), no user config and no agent.
fn ssh_with_key(host: &SshHost, key: &Path, command: &str) -> Output {
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-i",
        ])
        .arg(key)
        .arg("-p")
        .arg(host.port().to_string())
        .arg("box@127.0.0.1")
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `gatehouse ssh-cert --key KEY --output json` as the holder of `token`.
fn ssh_cert(host: &SshHost, token: &str, key: &Path) -> serde_json::Value {
    let output = host.gateway.cli_as(
        token,
        &[
            "ssh-cert",
            "--key",
            key.to_str().unwrap(),
            "--output",
            "json",
        ],
    );
    assert!(output.status.success(), "ssh-cert: {}", shown(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `ssh-keygen -L -f FILE`: what a certificate says (times in UTC).
fn certificate_listing(path: &Path) -> String {
    let output = Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .arg("-L")
        .arg("-f")
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "ssh-keygen -L: {}", shown(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// How many logins sshd accepted so far (gatehouse's own, one per client session).
fn target_logins(host: &SshHost) -> usize {
    host.sshd.log().matches("Accepted publickey").count()
}

fn execs(host: &SshHost) -> usize {
    host.gateway
        .audit_events()
        .iter()
        .filter(|e| e["action"] == "ssh:exec")
        .count()
}

/// ssh was refused at login, and neither the target nor the audit log saw a command.
fn assert_refused_at_login(host: &SshHost, key: &Path, what: &str) {
    let logins = target_logins(host);
    let commands = execs(host);
    let refused = ssh_with_key(host, key, "id");
    assert_eq!(
        refused.status.code(),
        Some(255),
        "{what}: {}",
        shown(&refused)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Permission denied"),
        "{what}: {}",
        shown(&refused)
    );
    assert!(refused.stdout.is_empty(), "{what}: {}", shown(&refused));
    assert_eq!(target_logins(host), logins, "{what} reached sshd");
    assert_eq!(execs(host), commands, "{what} ran a command");
}

/// A fresh public key as one line, `ssh-ed25519 AAAA...`.
fn public_key_line() -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    keygen(&key);
    std::fs::read_to_string(with_suffix(&key, ".pub"))
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

#[test]
fn ssh_cert_gives_a_certificate_ssh_logs_in_with_without_a_prompt() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_gatehouse");

    let issued = ssh_cert(&host, &reader, &key);
    assert_eq!(issued["principal"], "rita", "{issued:#}");
    assert_eq!(issued["connections"], serde_json::json!(["box"]));
    let key_id = issued["key_id"].as_str().unwrap();
    assert!(key_id.starts_with("gatehouse:rita:"), "{issued:#}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let ssh_line = issued["ssh"].as_str().unwrap();
    assert!(
        ssh_line.contains(&format!("-p {} box@127.0.0.1", host.port())),
        "{ssh_line}"
    );

    // What ssh-keygen reads in the certificate is what the gateway said it issued.
    let listing = certificate_listing(&with_suffix(&key, "-cert.pub"));
    assert!(listing.contains("user certificate"), "{listing}");
    assert!(
        listing.contains(&format!("Key ID: \"{key_id}\"")),
        "{listing}"
    );
    let principals = listing
        .split("Principals:")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert_eq!(principals, "rita", "{listing}");
    let valid_before = issued["valid_before_unix"].as_i64().unwrap();
    let expected_end = time::OffsetDateTime::from_unix_timestamp(valid_before).unwrap();
    let shown_end = format!(
        "to {:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        expected_end.year(),
        u8::from(expected_end.month()),
        expected_end.day(),
        expected_end.hour(),
        expected_end.minute(),
        expected_end.second()
    );
    assert!(listing.contains(&shown_end), "{shown_end} in {listing}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now..=now + 12 * 3600 + 60).contains(&valid_before),
        "a certificate ends with its key, at the latest after 12h: {issued:#}"
    );
    // A key that lasts longer than [ssh] certificate_validity (12h) gets 12 hours.
    let lasting = host
        .gateway
        .key_with("rita", &["readers"], &["--ttl", "20h"]);
    let capped = ssh_cert(&host, &lasting, &dir.path().join("lasting"));
    let capped_end = capped["valid_before_unix"].as_i64().unwrap();
    assert!(
        (now + 12 * 3600 - 60..=now + 12 * 3600 + 60).contains(&capped_end),
        "{capped:#}"
    );

    let listed = ssh_with_key(&host, &key, "ls /tmp");
    assert!(listed.status.success(), "{}", shown(&listed));
    let exec = host
        .gateway
        .audit_events()
        .into_iter()
        .rfind(|e| e["action"] == "ssh:exec" && e["statement"] == "ls /tmp")
        .expect("the exec is audited");
    assert_eq!(exec["identity"]["subject"], "rita", "{exec:#}");
    assert_eq!(exec["decision"], "allow", "{exec:#}");

    // The issuance is audited with the key's fingerprint and never the token.
    let events = host.gateway.audit_events();
    let issuance = events
        .iter()
        .find(|e| e["action"] == "ssh_certificate:issue")
        .expect("the issuance is audited");
    assert_eq!(issuance["identity"]["subject"], "rita");
    let detail = issuance["detail"].as_str().unwrap();
    assert!(
        detail.contains(issued["fingerprint"].as_str().unwrap()),
        "{detail}"
    );
    assert!(detail.contains("SHA256:"), "{detail}");
    // `gh_<hex key id>_<secret>`: the secret is URL-safe base64 and may itself hold `_`.
    let secret = reader.splitn(3, '_').nth(2).unwrap();
    assert_eq!(secret.len(), 43);
    assert!(
        !events.iter().any(|e| e.to_string().contains(secret)),
        "the token is in the audit log"
    );

    // Running it again replaces the key and the certificate.
    let before = std::fs::read_to_string(&key).unwrap();
    let again = ssh_cert(&host, &reader, &key);
    assert_ne!(again["key_id"], serde_json::Value::Null);
    assert_ne!(std::fs::read_to_string(&key).unwrap(), before);
    let listed = ssh_with_key(&host, &key, "uname");
    assert!(listed.status.success(), "{}", shown(&listed));
}

#[test]
fn ssh_config_makes_ssh_connection_dot_gatehouse_work_with_the_host_key_pinned() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_gatehouse");
    let known_hosts = dir.path().join("known_hosts");
    ssh_cert(&host, &reader, &key);

    let output = host.gateway.cli_as(
        &reader,
        &[
            "ssh-config",
            "--key",
            key.to_str().unwrap(),
            "--known-hosts",
            known_hosts.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "ssh-config: {}", shown(&output));
    let block = String::from_utf8_lossy(&output.stdout).into_owned();
    for line in [
        "Host box.gatehouse".to_owned(),
        format!("Port {}", host.port()),
        "User box".to_owned(),
        format!("IdentityFile {}", key.display()),
        format!("CertificateFile {}-cert.pub", key.display()),
        "HostKeyAlias gatehouse-ssh".to_owned(),
        format!("UserKnownHostsFile {}", known_hosts.display()),
        "StrictHostKeyChecking yes".to_owned(),
    ] {
        assert!(block.contains(&line), "{line} in {block}");
    }
    let pinned = std::fs::read_to_string(&known_hosts).unwrap();
    let host_key = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(host.gateway.data_dir().join("ssh_host_ed25519_key"))
        .output()
        .unwrap();
    let host_key: Vec<String> = String::from_utf8_lossy(&host_key.stdout)
        .split_whitespace()
        .take(2)
        .map(str::to_owned)
        .collect();
    assert_eq!(pinned, format!("gatehouse-ssh {}\n", host_key.join(" ")));

    let config = dir.path().join("ssh_config");
    std::fs::write(&config, &block).unwrap();
    let run = |config: &Path| {
        Command::new("ssh")
            .arg("-F")
            .arg(config)
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "PreferredAuthentications=publickey",
                "-o",
                "IdentityAgent=none",
                "box.gatehouse",
                "uname",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let worked = run(&config);
    assert!(worked.status.success(), "{}", shown(&worked));
    assert_eq!(String::from_utf8_lossy(&worked.stdout).trim(), "Linux");

    // Another key pinned for gatehouse-ssh: ssh refuses the gateway.
    let impostor = dir.path().join("impostor");
    keygen(&impostor);
    let impostor_key = std::fs::read_to_string(with_suffix(&impostor, ".pub")).unwrap();
    let other_known = dir.path().join("other_known_hosts");
    let words: Vec<&str> = impostor_key.split_whitespace().take(2).collect();
    std::fs::write(&other_known, format!("gatehouse-ssh {}\n", words.join(" "))).unwrap();
    let swapped = dir.path().join("swapped_config");
    std::fs::write(
        &swapped,
        block.replace(
            &known_hosts.display().to_string(),
            &other_known.display().to_string(),
        ),
    )
    .unwrap();
    let logins = target_logins(&host);
    let refused = run(&swapped);
    assert_eq!(refused.status.code(), Some(255), "{}", shown(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Host key verification failed"),
        "{}",
        shown(&refused)
    );
    assert_eq!(target_logins(&host), logins);

    // --write puts the block in an ssh_config file between markers, once.
    let user_config = dir.path().join("user_config");
    std::fs::write(&user_config, "Host elsewhere\n    User me\n").unwrap();
    for _ in 0..2 {
        let output = host.gateway.cli_as(
            &reader,
            &[
                "ssh-config",
                "--write",
                "--ssh-config",
                user_config.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
                "--known-hosts",
                known_hosts.to_str().unwrap(),
                "--output",
                "json",
            ],
        );
        assert!(output.status.success(), "{}", shown(&output));
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(answer["hosts"][0]["host"], "box.gatehouse", "{answer:#}");
    }
    let written = std::fs::read_to_string(&user_config).unwrap();
    assert!(
        written.starts_with("Host elsewhere\n    User me\n"),
        "{written}"
    );
    assert_eq!(
        written.matches("Host box.gatehouse").count(),
        1,
        "{written}"
    );
    let worked = run(&user_config);
    assert!(worked.status.success(), "{}", shown(&worked));
}

#[test]
fn revoked_foreign_expired_and_plain_keys_are_refused_before_the_target() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let dir = tempfile::tempdir().unwrap();

    // A plain key, no certificate.
    let plain = dir.path().join("plain");
    keygen(&plain);
    assert_refused_at_login(&host, &plain, "a plain key");

    // A certificate from another CA, with gatehouse's extensions.
    let revoked_key = dir.path().join("issued");
    let issued = ssh_cert(&host, &reader, &revoked_key);
    let key_id = issued["key_id"].as_str().unwrap().to_owned();
    let credential = key_id.rsplit(':').next().unwrap().to_owned();
    let foreign_ca = dir.path().join("foreign_ca");
    keygen(&foreign_ca);
    let forged = dir.path().join("forged");
    keygen(&forged);
    let sign = |ca: &Path, key: &Path, validity: &str| {
        let output = Command::new("ssh-keygen")
            .arg("-q")
            .arg("-s")
            .arg(ca)
            .args(["-I", &key_id, "-n", "rita", "-O"])
            .arg(format!("extension:credential@gatehouse={credential}"))
            .args(["-O", "extension:kind@gatehouse=human"])
            .args(["-O", "extension:groups@gatehouse=admins"])
            .args(["-V", validity])
            .arg(with_suffix(key, ".pub"))
            .output()
            .unwrap();
        assert!(output.status.success(), "ssh-keygen -s: {}", shown(&output));
    };
    sign(&foreign_ca, &forged, "+1h");
    assert_refused_at_login(&host, &forged, "a foreign CA's certificate");

    // A certificate of the real CA that has expired.
    let expired = dir.path().join("expired");
    keygen(&expired);
    sign(
        &host.gateway.data_dir().join("ssh_user_ca_key"),
        &expired,
        "-2h:-1h",
    );
    assert_refused_at_login(&host, &expired, "an expired certificate");
    // The same CA, in date: the control that shows the refusal was the expiry.
    let in_date = dir.path().join("in_date");
    keygen(&in_date);
    sign(
        &host.gateway.data_dir().join("ssh_user_ca_key"),
        &in_date,
        "-5m:+1h",
    );
    let logins = target_logins(&host);
    let admitted = ssh_with_key(&host, &in_date, "id");
    assert!(admitted.status.success(), "{}", shown(&admitted));
    assert!(
        target_logins(&host) > logins,
        "sshd's log shows gatehouse's logins, so an unchanged count means none"
    );

    // A certificate that expires with its short-lived key.
    let short = host
        .gateway
        .key_with("rita", &["readers"], &["--ttl", "3s"]);
    let short_key = dir.path().join("short");
    let short_issued = ssh_cert(&host, &short, &short_key);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        short_issued["valid_before_unix"].as_i64().unwrap() <= now + 3,
        "{short_issued:#}"
    );
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_refused_at_login(&host, &short_key, "a certificate past its key's expiry");

    // The issued certificate works until its key is revoked.
    let worked = ssh_with_key(&host, &revoked_key, "id");
    assert!(worked.status.success(), "{}", shown(&worked));
    let output = host.gateway.cli(&["keys", "revoke", &credential]);
    assert!(output.status.success(), "keys revoke: {}", shown(&output));
    assert_refused_at_login(&host, &revoked_key, "a revoked key's certificate");
}

#[tokio::test]
async fn the_certificate_endpoint_refuses_bad_tokens_and_malformed_keys() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let admin = host.gateway.admin_addr.to_string();
    let body = format!("{{\"public_key\": \"{}\"}}", public_key_line());
    let json = "Content-Type: application/json\r\n";

    for authorization in [
        String::new(),
        "Authorization: Bearer gh_forged_0000000000000000\r\n".to_owned(),
        format!("Authorization: Bearer {}x\r\n", reader),
    ] {
        let answer = support::http(
            &admin,
            "POST",
            "/v1/ssh/certificate",
            &format!("{json}{authorization}"),
            &body,
        )
        .await;
        assert_eq!(answer.status, 401, "{authorization}: {}", answer.body);
        assert!(answer.json()["certificate"].is_null());
        let described = support::http(&admin, "GET", "/v1/ssh", &authorization, "").await;
        assert_eq!(described.status, 401, "{}", described.body);
    }

    let bearer = format!("{json}Authorization: Bearer {reader}\r\n");
    for bad in [
        "{\"public_key\": \"not a key\"}".to_owned(),
        "{\"public_key\": \"ssh-ed25519 AAAAnotbase64!\"}".to_owned(),
        "{\"key\": \"ssh-ed25519 AAAA\"}".to_owned(),
        "not json".to_owned(),
    ] {
        let answer = support::http(&admin, "POST", "/v1/ssh/certificate", &bearer, &bad).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(answer.json()["error"].is_string(), "{}", answer.body);
    }

    let answer = support::http(&admin, "POST", "/v1/ssh/certificate", &bearer, &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let issued = answer.json();
    assert!(
        issued["certificate"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519-cert-v01@openssh.com "),
        "{issued:#}"
    );
    assert_eq!(issued["principal"], "rita");
    assert!(issued["valid_before"].as_str().unwrap().ends_with('Z'));

    let described = support::http(
        &admin,
        "GET",
        "/v1/ssh",
        &format!("Authorization: Bearer {reader}\r\n"),
        "",
    )
    .await;
    assert_eq!(described.status, 200, "{}", described.body);
    let described = described.json();
    assert_eq!(described["connections"], serde_json::json!(["box"]));
    assert_eq!(
        described["listen"].as_str().unwrap(),
        format!("127.0.0.1:{}", host.port())
    );
    assert!(
        described["host_key"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519 ")
    );
    assert!(
        described["user_ca"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519 ")
    );
}

#[tokio::test]
async fn a_gateway_without_ssh_connections_says_so() {
    let gateway = support::Gateway::start("test");
    let token = gateway.key("rita", &["readers"]);
    let admin = gateway.admin_addr.to_string();
    let answer = support::http(
        &admin,
        "POST",
        "/v1/ssh/certificate",
        &format!("Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"),
        &format!("{{\"public_key\": \"{}\"}}", public_key_line()),
    )
    .await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("no SSH connection"),
        "{}",
        answer.body
    );
}
