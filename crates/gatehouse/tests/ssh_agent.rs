//! An SSH connection served by a `gatehouse agent`: the agent's config holds the target's
//! address, login, private key and host key; the gateway's names only the agent. The gateway
//! still speaks SSH to Debian's sshd (over the stream the agent opens) and decides, records and
//! relays as for a connection it dials itself, but its login's signature is made at the agent,
//! so the private key never reaches anything the gateway keeps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sshhost;
mod support;

use sshhost::{SshHost, Sshd, box_connection, login_user, shown};
use std::path::Path;
use support::agent_process::AgentProcess;
use support::{Gateway, Options, quickstart_policy};

/// A gateway whose `box` is served by agent `dc1`, and that agent, holding sshd's client key.
fn start() -> (SshHost, AgentProcess) {
    start_pinning(|sshd| sshd.host_key.clone())
}

/// The same, the agent's config pinning the host key `pinned` says.
fn start_pinning(pinned: impl Fn(&Sshd) -> String) -> (SshHost, AgentProcess) {
    let sshd = Sshd::start();
    let gateway = Gateway::start_with(
        "test",
        Options {
            policy: Some(quickstart_policy()),
            extra: "[agents]\nlisten = \"127.0.0.1:0\"\n\n\
                    [ssh]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n\n\
                    [[connections]]\nname = \"box\"\nkind = \"ssh\"\nagents = [\"dc1\"]\n"
                .to_owned(),
            ..Default::default()
        },
    );
    let agent = AgentProcess::start(
        &gateway,
        "dc1",
        &box_connection(&sshd, "box", &pinned(&sshd)),
    );
    (SshHost { gateway, sshd }, agent)
}

/// Every file under `dir` (recursively) whose bytes contain one of `needles`.
fn files_containing(dir: &Path, needles: &[Vec<u8>]) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if needles
                .iter()
                .any(|needle| bytes.windows(needle.len()).any(|window| window == needle))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

/// What would betray the private key in `path`: its whole text, its base64 body (joined, and
/// line by line but for the first, the format header every unencrypted OpenSSH key starts
/// with), and the raw Ed25519 seed.
fn private_key_traces(path: &Path) -> Vec<Vec<u8>> {
    let text = std::fs::read_to_string(path).unwrap();
    let body: Vec<&str> = text
        .lines()
        .filter(|line| !line.starts_with("-----") && !line.trim().is_empty())
        .collect();
    let key = russh::keys::PrivateKey::from_openssh(text.as_bytes()).unwrap();
    let seed = key
        .key_data()
        .ed25519()
        .unwrap()
        .private
        .to_bytes()
        .to_vec();
    let mut traces = vec![text.clone().into_bytes(), body.concat().into_bytes(), seed];
    traces.extend(body.iter().skip(1).map(|line| line.as_bytes().to_vec()));
    traces
}

#[test]
fn a_readers_ls_runs_through_the_agent_and_the_private_key_never_reaches_the_gateway() {
    let (host, agent) = start();
    let reader = host.gateway.key("rita", &["readers"]);
    let victim = tempfile::tempdir().unwrap();
    let marker = victim.path().join("keep-me");
    std::fs::write(&marker, "still here").unwrap();
    let dir = victim.path().display();

    let listed = host.ssh(&reader, &format!("ls {dir}"));
    assert!(
        listed.status.success(),
        "{}\ngateway log:\n{}\nagent log:\n{}",
        shown(&listed),
        host.gateway.log(),
        agent.log_text()
    );
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "keep-me");
    let outcome = host.gateway.outcome_of("ssh:exec", &format!("ls {dir}"));
    assert_eq!(outcome["command_tag"], "exit 0", "{outcome:#}");
    assert!(
        host.sshd
            .log()
            .contains(&format!("Accepted publickey for {}", login_user())),
        "sshd saw the agent-signed key login: {}",
        host.sshd.log()
    );

    let refused = host.ssh(&reader, &format!("rm -rf {dir}"));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(126), "{}", shown(&refused));
    assert!(
        stderr.contains("gatehouse: permission denied") && stderr.contains("ssh:exec"),
        "{}",
        shown(&refused)
    );
    assert!(marker.exists(), "the refused rm reached the target");

    // Nothing the gateway keeps (its config, data directory with the audit database and
    // recordings, its log) holds the private key, in any form.
    let traces = private_key_traces(&host.sshd.client_key);
    let leaked = files_containing(host.gateway.dir.path(), &traces);
    assert!(leaked.is_empty(), "the private key is in {leaked:?}");
    if !host.gateway.data_dir().starts_with(host.gateway.dir.path()) {
        let leaked = files_containing(&host.gateway.data_dir(), &traces);
        assert!(leaked.is_empty(), "the private key is in {leaked:?}");
    }
    // The search finds it where it is: the key file, which only the agent's config names.
    let found = files_containing(host.sshd.dir.path(), &traces);
    assert!(
        found.contains(&host.sshd.client_key.display().to_string()),
        "{found:?}"
    );
    let agent_config = std::fs::read_to_string(agent.config_path()).unwrap();
    assert!(
        agent_config.contains(&host.sshd.client_key.display().to_string()),
        "{agent_config}"
    );
    let gateway_config = std::fs::read_to_string(host.gateway.config_path()).unwrap();
    assert!(
        !gateway_config.contains(&host.sshd.client_key.display().to_string())
            && !gateway_config.contains(&host.sshd.host_key),
        "{gateway_config}"
    );
}

#[test]
fn with_the_agent_stopped_ssh_says_the_target_is_unavailable() {
    let (host, mut agent) = start();
    let reader = host.gateway.key("rita", &["readers"]);
    agent.stop();
    agent.wait_disconnected(&host.gateway);

    let failed = host.ssh(&reader, "ls /");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(255), "{}", shown(&failed));
    assert!(
        stderr.contains("gatehouse: the target is unavailable")
            && stderr.contains("`dc1`")
            && stderr.contains("not connected"),
        "{}",
        shown(&failed)
    );
    assert!(
        !host.sshd.log().contains("Accepted publickey"),
        "nothing reached sshd: {}",
        host.sshd.log()
    );
}

#[test]
fn the_host_key_pinned_in_the_agents_config_is_checked_by_the_gateway() {
    // The agent's config pins another key than sshd's (the client key's public half).
    let (host, _agent) = start_pinning(|sshd| {
        std::fs::read_to_string(sshd.dir.path().join("gatehouse_key.pub"))
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    });
    let reader = host.gateway.key("rita", &["readers"]);
    let failed = host.ssh(&reader, "ls /");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(255), "{}", shown(&failed));
    assert!(
        stderr.contains("the target is unavailable")
            && stderr.contains(&format!("presented the host key {}", host.sshd.host_key)),
        "{}",
        shown(&failed)
    );
    assert!(
        !host.sshd.log().contains("Accepted publickey"),
        "no login was made: {}",
        host.sshd.log()
    );
}
