//! SSH through gatehouse with OpenSSH's own clients against Debian's sshd on a loopback port
//! (`ssh/mod.rs`), under the quickstart policy: readers run an allowlist of read-only
//! programs on command lines without shell syntax, writers a few more (sudo after approval),
//! admins anything, and shells only after another admin approves them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod sshhost;
mod support;

use sshhost::{SshHost, shown};

#[test]
fn a_reader_runs_allowed_programs_and_every_evasion_of_the_allowlist_is_refused() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let victim = tempfile::tempdir().unwrap();
    let marker = victim.path().join("keep-me");
    std::fs::write(&marker, "still here").unwrap();

    let listed = host.ssh(&reader, &format!("ls {}", victim.path().display()));
    assert!(listed.status.success(), "{}", shown(&listed));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "keep-me");
    let outcome = host
        .gateway
        .outcome_of("ssh:exec", &format!("ls {}", victim.path().display()));
    assert_eq!(outcome["command_tag"], "exit 0", "{outcome:#}");

    let dir = victim.path().display();
    for command in [
        format!("rm -rf {dir}"),
        format!("r\"\"m -rf {dir}"),
        format!("env rm -rf {dir}"),
        format!("sh -c 'rm -rf {dir}'"),
        format!("\\rm -rf {dir}"),
        format!("ls {dir}; rm -rf {dir}"),
        format!("ls $(rm -rf {dir})"),
        format!("find {dir} -delete"),
    ] {
        let refused = host.ssh(&reader, &command);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(
            refused.status.code(),
            Some(126),
            "{command}: {}",
            shown(&refused)
        );
        assert!(
            stderr.contains("gatehouse: permission denied") && stderr.contains("ssh:exec"),
            "{command}: {}",
            shown(&refused)
        );
        assert!(marker.exists(), "{command} reached the target");
    }

    // The audit log has the allowed command and every refusal.
    let events = host.gateway.audit_events();
    let execs: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["action"] == "ssh:exec")
        .collect();
    assert_eq!(execs.len(), 9, "{execs:#?}");
    assert_eq!(
        execs.iter().filter(|e| e["decision"] == "allow").count(),
        1,
        "{execs:#?}"
    );
}

/// The approval id in a "held for approval ID:" line.
fn approval_id(text: &str) -> String {
    text.split("held for approval ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no approval id in {text}"))
        .to_owned()
}

/// The recorded sessions of the `box` connection as `sessions replay` shows them (timeline
/// and asciicast).
fn replays(host: &SshHost) -> Vec<(String, String)> {
    let listed = host.gateway.cli(&["sessions", "list", "--output", "json"]);
    let sessions: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["connection"] == "box")
        .map(|s| {
            let id = s["session"].as_str().unwrap();
            let text = |args: &[&str]| {
                String::from_utf8_lossy(&host.gateway.cli(args).stdout).into_owned()
            };
            (
                text(&["sessions", "replay", id]),
                text(&["sessions", "replay", id, "--asciicast"]),
            )
        })
        .collect()
}

#[test]
fn an_admins_shell_opens_after_another_admin_approves_and_is_recorded_for_replay() {
    let host = SshHost::start();
    let ana = host.gateway.key("ana", &["admins"]);
    let bo = host.gateway.key("bo", &["admins"]);

    let held = host.shell(&ana, "exit\n");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&held.stdout),
        String::from_utf8_lossy(&held.stderr)
    );
    assert_eq!(held.status.code(), Some(126), "{}", shown(&held));
    assert!(said.contains("held for approval"), "{said}");
    let id = approval_id(&said);
    assert!(
        !host.sshd.log().contains("session opened")
            && !host.sshd.log().contains("Starting session"),
        "nothing reached sshd: {}",
        host.sshd.log()
    );

    let approved = host.gateway.cli_as(&bo, &["approvals", "approve", &id]);
    assert!(approved.status.success(), "{}", shown(&approved));

    let shell = host.shell(&ana, "echo hello-$((40+2))\nexit\n");
    let output = String::from_utf8_lossy(&shell.stdout);
    assert!(output.contains("hello-42"), "{}", shown(&shell));

    let recorded = replays(&host);
    assert!(
        recorded
            .iter()
            .any(|(timeline, cast)| timeline.contains("ssh:shell")
                && timeline.contains("hello-42")
                && cast.contains("hello-42")
                && cast.contains("echo hello-$((40+2))")),
        "{recorded:#?}"
    );
}

#[test]
fn readers_download_with_scp_and_sftp_and_their_uploads_are_refused() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let writer = host.gateway.key("walt", &["writers"]);
    let remote = tempfile::tempdir().unwrap();
    let local = tempfile::tempdir().unwrap();
    let report = remote.path().join("report.txt");
    std::fs::write(&report, "quarterly numbers\n").unwrap();
    let upload = local.path().join("upload.txt");
    std::fs::write(&upload, "from the laptop\n").unwrap();
    let remote_dir = remote.path().display().to_string();

    // scp over SFTP (OpenSSH's default) and legacy scp (-O): downloads work.
    for legacy in [false, true] {
        let copy = local.path().join(format!("copy-{legacy}.txt"));
        let mut args = vec![];
        if legacy {
            args.push("-O");
        }
        let source = format!("box@127.0.0.1:{}", report.display());
        let target = copy.display().to_string();
        args.extend([source.as_str(), target.as_str()]);
        let downloaded = host.scp(&reader, &args);
        assert!(
            downloaded.status.success(),
            "legacy {legacy}: {}",
            shown(&downloaded)
        );
        assert_eq!(
            std::fs::read_to_string(&copy).unwrap(),
            "quarterly numbers\n"
        );
    }

    // Uploads are refused either way, and nothing arrives.
    for legacy in [false, true] {
        let mut args = vec![];
        if legacy {
            args.push("-O");
        }
        let source = upload.display().to_string();
        let target = format!("box@127.0.0.1:{remote_dir}/uploaded-{legacy}.txt");
        args.extend([source.as_str(), target.as_str()]);
        let refused = host.scp(&reader, &args);
        assert!(
            !refused.status.success(),
            "legacy {legacy}: {}",
            shown(&refused)
        );
        assert!(
            String::from_utf8_lossy(&refused.stderr)
                .to_lowercase()
                .contains("permission denied"),
            "legacy {legacy}: {}",
            shown(&refused)
        );
        assert!(
            !remote
                .path()
                .join(format!("uploaded-{legacy}.txt"))
                .exists()
        );
    }

    // sftp: a listing and a get work, a put, mkdir and rm are refused one by one while the
    // session goes on.
    let batch = format!(
        "ls {remote_dir}\nget {report} {local}/got.txt\n-put {upload} {remote_dir}/put.txt\n\
         -mkdir {remote_dir}/newdir\n-rm {report}\nls {remote_dir}\n",
        report = report.display(),
        local = local.path().display(),
        upload = upload.display(),
    );
    let session = host.sftp(&reader, &batch);
    let stdout = String::from_utf8_lossy(&session.stdout);
    let stderr = String::from_utf8_lossy(&session.stderr);
    assert!(session.status.success(), "{}", shown(&session));
    assert!(stdout.contains("report.txt"), "{}", shown(&session));
    assert_eq!(
        std::fs::read_to_string(local.path().join("got.txt")).unwrap(),
        "quarterly numbers\n"
    );
    assert!(
        stderr.to_lowercase().contains("permission denied"),
        "{}",
        shown(&session)
    );
    assert!(!remote.path().join("put.txt").exists());
    assert!(!remote.path().join("newdir").exists());
    assert!(report.exists());

    // A writer may upload.
    let target = format!("box@127.0.0.1:{remote_dir}/from-walt.txt");
    let uploaded = host.scp(&writer, &[&upload.display().to_string(), &target]);
    assert!(uploaded.status.success(), "{}", shown(&uploaded));
    assert_eq!(
        std::fs::read_to_string(remote.path().join("from-walt.txt")).unwrap(),
        "from the laptop\n"
    );

    // Each decided operation is audited: the refused put among them.
    let events = host.gateway.audit_events();
    assert!(
        events.iter().any(|e| e["action"] == "ssh:sftp"
            && e["decision"] == "deny"
            && e["statement"]
                .as_str()
                .unwrap_or_default()
                .contains("put.txt")),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "ssh:scp" && e["decision"] == "deny"),
        "{events:#?}"
    );
}

#[test]
fn a_local_forward_to_an_allowed_port_works_and_to_another_port_is_refused() {
    let host = SshHost::start();
    let writer = host.gateway.key("walt", &["writers"]);
    let port = |p: u16| -> u16 {
        let _ = p;
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let allowed_local = port(0);
    let refused_local = port(0);
    // `-N` keeps the connection for the forwards only; ExitOnForwardFailure makes a refused
    // forward visible at once.
    let mut forwarding = host
        .client("ssh", &writer)
        .arg("-N")
        .arg("-p")
        .arg(host.port().to_string())
        .arg("-L")
        .arg(format!("{allowed_local}:127.0.0.1:5432"))
        .arg("-L")
        .arg(format!("{refused_local}:127.0.0.1:6379"))
        .arg("box@127.0.0.1")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", allowed_local)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no forward"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // PostgreSQL answers through the allowed forward.
    let psql = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &allowed_local.to_string(),
            "-U",
            "postgres",
            "-d",
            "test",
            "-tAc",
            "SELECT 40 + 2",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&psql.stdout).trim(),
        "42",
        "{}",
        shown(&psql)
    );

    // Redis's port is not one writers may reach: the channel is refused, nothing answers.
    use std::io::{Read, Write};
    let mut redis = std::net::TcpStream::connect(("127.0.0.1", refused_local)).unwrap();
    redis
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = redis.write_all(b"PING\r\n");
    let mut answer = Vec::new();
    let _ = redis.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("PONG"),
        "{answer:?}"
    );
    let _ = forwarding.kill();
    let _ = forwarding.wait();
    let events = host.gateway.audit_events();
    assert!(
        events.iter().any(|e| e["action"] == "ssh:forward"
            && e["decision"] == "allow"
            && e["statement"] == "forward 127.0.0.1:5432"),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e["action"] == "ssh:forward"
            && e["decision"] == "deny"
            && e["statement"] == "forward 127.0.0.1:6379"),
        "{events:#?}"
    );
}

#[test]
fn revoking_the_identity_ends_an_open_shell_within_five_seconds_with_the_reason() {
    let host = SshHost::start_with(&policy_with_reader_shells(), "");
    let reader = host.gateway.key("rita", &["readers"]);
    let mut shell = host.spawn_shell(&reader);
    let stdin = shell.stdin.take();
    // The shell is open once sshd says so.
    let started = std::time::Instant::now();
    while !host.sshd.log().contains("Starting session: shell") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "{}",
            host.sshd.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let revoked_at = std::time::Instant::now();
    let revoked = host
        .gateway
        .cli(&["identities", "revoke", "rita", "--reason", "laptop stolen"]);
    assert!(revoked.status.success(), "{}", shown(&revoked));
    let status = support::wait_exit(&mut shell, std::time::Duration::from_secs(10), "ssh");
    let elapsed = revoked_at.elapsed();
    drop(stdin);
    assert!(
        elapsed < std::time::Duration::from_secs(5),
        "ended after {elapsed:?}"
    );
    assert!(!status.success());
    let mut said = String::new();
    use std::io::Read;
    let _ = shell.stdout.take().unwrap().read_to_string(&mut said);
    let _ = shell.stderr.take().unwrap().read_to_string(&mut said);
    assert!(said.contains("laptop stolen"), "{said}");
}

#[test]
fn a_target_presenting_another_host_key_is_refused_and_the_client_is_told_why() {
    let sshd = sshhost::Sshd::start();
    let other = russh_free_other_key();
    let connections = sshhost::box_connection(&sshd, "box", &other);
    let host = SshHost::serving(sshd, &support::quickstart_policy(), "", &connections);
    let admin = host.gateway.key("ana", &["admins"]);
    let refused = host.ssh(&admin, "uname");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(255), "{}", shown(&refused));
    assert!(stderr.contains("host key"), "{}", shown(&refused));
    assert!(
        !host.sshd.log().contains("Accepted publickey"),
        "{}",
        host.sshd.log()
    );
}

/// A host key that is not the test sshd's.
fn russh_free_other_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn command_output_is_masked_for_readers_and_raw_for_admins_and_binary_output_is_cut() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let admin = host.gateway.key("ana", &["admins"]);
    let files = tempfile::tempdir().unwrap();
    let customers = files.path().join("customers.csv");
    std::fs::write(
        &customers,
        "name,email,card\nAna,ana.lopez@example.com,4111 1111 1111 1111\n",
    )
    .unwrap();
    let command = format!("cat {}", customers.display());

    let masked = host.ssh(&reader, &command);
    let seen = String::from_utf8_lossy(&masked.stdout);
    assert!(masked.status.success(), "{}", shown(&masked));
    assert!(seen.starts_with("name,email,card\nAna,"), "{seen}");
    assert!(!seen.contains("ana.lopez@example.com"), "{seen}");
    assert!(!seen.contains("4111 1111 1111 1111"), "{seen}");
    let outcome = host.gateway.outcome_of("ssh:exec", &command);
    assert!(
        outcome["masked"].as_object().is_some_and(|m| !m.is_empty()),
        "{outcome:#}"
    );

    let raw = host.ssh(&admin, &command);
    assert!(
        String::from_utf8_lossy(&raw.stdout).contains("ana.lopez@example.com,4111 1111 1111 1111"),
        "{}",
        shown(&raw)
    );

    // Output that is not text cannot be masked: the reader gets it cut, with the reason.
    let binary = host.ssh(&reader, "cat /usr/bin/true");
    assert_eq!(binary.status.code(), Some(126), "{}", shown(&binary));
    assert!(
        String::from_utf8_lossy(&binary.stderr).contains("cannot be masked"),
        "{}",
        shown(&binary)
    );
}

/// The quickstart policy plus shells for readers (to keep shells open in tests without an
/// approval round).
fn policy_with_reader_shells() -> String {
    format!(
        "{}\n@id(\"readers-shells\")\npermit (principal in Gatehouse::Group::\"readers\", action == Gatehouse::Action::\"ssh:shell\", resource);\n",
        support::quickstart_policy()
    )
}

#[test]
fn keyboard_interactive_takes_the_token_and_a_wrong_token_is_refused() {
    let host = SshHost::start();
    let reader = host.gateway.key("rita", &["readers"]);
    let run = |token: &str| {
        let mut ssh = std::process::Command::new("ssh");
        host.answer_with(&mut ssh, token);
        ssh.args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PreferredAuthentications=keyboard-interactive",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
            "-p",
            &host.port().to_string(),
            "box@127.0.0.1",
            "whoami",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
    };
    let accepted = run(&reader);
    assert!(accepted.status.success(), "{}", shown(&accepted));
    assert_eq!(
        String::from_utf8_lossy(&accepted.stdout).trim(),
        sshhost::login_user()
    );
    let forged = run(&format!("{reader}x"));
    assert_eq!(forged.status.code(), Some(255), "{}", shown(&forged));
    assert!(
        String::from_utf8_lossy(&forged.stderr).contains("Permission denied"),
        "{}",
        shown(&forged)
    );
}

#[test]
fn a_writers_sudo_is_held_until_an_admin_approves_that_exact_command_line() {
    let host = SshHost::start();
    let walt = host.gateway.key("walt", &["writers"]);
    let ana = host.gateway.key("ana", &["admins"]);
    let held = host.ssh(&walt, "sudo -n true");
    let stderr = String::from_utf8_lossy(&held.stderr).into_owned();
    assert_eq!(held.status.code(), Some(126), "{}", shown(&held));
    let id = approval_id(&stderr);
    assert!(stderr.contains("gatehouse approvals approve"), "{stderr}");

    // Another command line is not covered by that approval.
    let other = host.ssh(&walt, "sudo -n id");
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("held for approval"),
        "{}",
        shown(&other)
    );
    let approved = host.gateway.cli_as(&ana, &["approvals", "approve", &id]);
    assert!(approved.status.success(), "{}", shown(&approved));
    let ran = host.ssh(&walt, "sudo -n true");
    assert_ne!(ran.status.code(), Some(126), "{}", shown(&ran));
    assert!(
        !String::from_utf8_lossy(&ran.stderr).contains("gatehouse:"),
        "{}",
        shown(&ran)
    );
    let events = host.gateway.audit_events();
    assert!(
        events.iter().any(|e| e["action"] == "ssh:exec"
            && e["statement"] == "sudo -n true"
            && e["decision"] == "allow"),
        "{events:#?}"
    );
}

#[test]
fn a_shell_outlives_its_short_token_and_ends_at_the_maximum_session_length() {
    let host = SshHost::start_with(&policy_with_reader_shells(), "max_session_length = \"6s\"");
    let reader = host
        .gateway
        .key_with("rita", &["readers"], &["--ttl", "2s"]);
    let opened = std::time::Instant::now();
    // Typed after the token expired (at 4 s): the shell still runs it.
    let mut shell = host.spawn_shell(&reader);
    let mut stdin = shell.stdin.take().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    use std::io::Write;
    stdin.write_all(b"echo still-$((6*7))\n").unwrap();
    let status = support::wait_exit(&mut shell, std::time::Duration::from_secs(15), "ssh");
    let lasted = opened.elapsed();
    drop(stdin);
    let output = shell.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success());
    assert!(said.contains("still-42"), "{said}");
    assert!(said.contains("maximum length"), "{said}");
    assert!(
        lasted >= std::time::Duration::from_secs(5) && lasted < std::time::Duration::from_secs(12),
        "{lasted:?}"
    );
}

#[test]
fn paramiko_and_rsync_work_through_the_gateway() {
    let host = SshHost::start();
    let admin = host.gateway.key("ana", &["admins"]);
    let reader = host.gateway.key("rita", &["readers"]);
    let script = r#"
import sys, paramiko
client = paramiko.SSHClient()
client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
client.connect("127.0.0.1", port=int(sys.argv[1]), username="box", password=sys.argv[2],
               look_for_keys=False, allow_agent=False)
for command in ("uname", "rm -rf /tmp/nothing-here"):
    stdin, stdout, stderr = client.exec_command(command)
    print(command, "->", stdout.channel.recv_exit_status(), stdout.read().decode().strip(),
          stderr.read().decode().strip())
"#;
    let python = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(host.port().to_string())
        .arg(&reader)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&python.stdout);
    assert!(python.status.success(), "{}", shown(&python));
    assert!(said.contains("uname -> 0 Linux"), "{said}");
    assert!(
        said.contains("rm -rf /tmp/nothing-here -> 126")
            && said.contains("gatehouse: permission denied"),
        "{said}"
    );

    // rsync runs `rsync --server ...` on the far end: an admin's sync arrives whole.
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("a.txt"), "alpha\n").unwrap();
    std::fs::create_dir(source.path().join("sub")).unwrap();
    std::fs::write(source.path().join("sub/b.txt"), "beta\n").unwrap();
    let target = tempfile::tempdir().unwrap();
    let ssh = format!("ssh {} -p {}", host.client_options().join(" "), host.port());
    let mut rsync = std::process::Command::new("rsync");
    host.answer_with(&mut rsync, &admin);
    let synced = rsync
        .args(["-a", "-e", &ssh])
        .arg(format!("{}/", source.path().display()))
        .arg(format!("box@127.0.0.1:{}/", target.path().display()))
        .output()
        .unwrap();
    assert!(synced.status.success(), "{}", shown(&synced));
    assert_eq!(
        std::fs::read_to_string(target.path().join("sub/b.txt")).unwrap(),
        "beta\n"
    );
}

#[test]
fn a_target_pinned_by_its_sha256_fingerprint_is_reached_and_another_fingerprint_refused() {
    let sshd = sshhost::Sshd::start();
    let fingerprint_of = |public: &std::path::Path| {
        let listed = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(public)
            .output()
            .unwrap();
        String::from_utf8_lossy(&listed.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    let right = fingerprint_of(&sshd.dir.path().join("host_key.pub"));
    let wrong = fingerprint_of(&sshd.dir.path().join("gatehouse_key.pub"));
    assert!(right.starts_with("SHA256:"), "{right}");
    let connections = format!(
        "{}\n{}",
        sshhost::box_connection(&sshd, "box", &right),
        sshhost::box_connection(&sshd, "impostor", &wrong)
    );
    let host = SshHost::serving(sshd, &support::quickstart_policy(), "", &connections);
    let admin = host.gateway.key("ana", &["admins"]);
    let reached = host.ssh(&admin, "uname");
    assert!(reached.status.success(), "{}", shown(&reached));
    let refused = host.ssh_args(&admin, &["-l", "impostor"], "uname");
    assert_eq!(refused.status.code(), Some(255), "{}", shown(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(&right.replace("SHA256:", "")),
        "the error shows the key the target presented: {}",
        shown(&refused)
    );
}

#[test]
fn policy_check_reads_an_ssh_command_line_as_the_gateway_does() {
    let host = SshHost::start();
    let check = |command: &str| {
        host.gateway.cli(&[
            "policy",
            "check",
            "--identity",
            "rita",
            "--groups",
            "readers",
            "--connection",
            "box",
            "--ssh",
            command,
            "--output",
            "json",
        ])
    };
    let allowed = check("ls -la /tmp");
    assert_eq!(allowed.status.code(), Some(0), "{}", shown(&allowed));
    let evasion = check("r\"\"m -rf /tmp/x");
    assert_eq!(evasion.status.code(), Some(4), "{}", shown(&evasion));
    let answer = String::from_utf8_lossy(&evasion.stdout);
    assert!(answer.contains("ssh:exec"), "{answer}");
    let upload = check("scp -t /tmp/");
    assert_eq!(upload.status.code(), Some(4), "{}", shown(&upload));
    assert!(String::from_utf8_lossy(&upload.stdout).contains("ssh:scp"));
    let download = check("scp -f /etc/hostname");
    assert_eq!(download.status.code(), Some(0), "{}", shown(&download));
}

#[test]
fn the_clients_agent_reaches_the_target_only_where_policy_permits_agent_forwarding() {
    let policy = format!(
        "{}\n@id(\"admins-forward-their-agent\")\npermit (principal in Gatehouse::Group::\"admins\", action == Gatehouse::Action::\"ssh:agent_forward\", resource);\n",
        support::quickstart_policy()
    );
    let host = SshHost::start_with(&policy, "");
    let admin = host.gateway.key("ana", &["admins"]);
    let writer = host.gateway.key("walt", &["writers"]);

    // A real ssh-agent holding a key of its own.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no ssh-agent"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let key = dir.path().join("laptop_key");
    let made = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "laptop-key-in-agent",
            "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let added = std::process::Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", shown(&added));

    let list_through = |token: &str| {
        host.client("ssh", token)
            .env("SSH_AUTH_SOCK", &socket)
            .arg("-A")
            .arg("-p")
            .arg(host.port().to_string())
            .arg("box@127.0.0.1")
            .arg("ssh-add -l")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let forwarded = list_through(&admin);
    assert!(
        String::from_utf8_lossy(&forwarded.stdout).contains("laptop-key-in-agent"),
        "{}",
        shown(&forwarded)
    );
    // Writers may run commands but not offer their agent: the target sees none.
    let refused = list_through(&writer);
    assert!(
        !String::from_utf8_lossy(&refused.stdout).contains("laptop-key-in-agent"),
        "{}",
        shown(&refused)
    );
    let _ = agent.kill();
    let _ = agent.wait();
    let events = host.gateway.audit_events();
    assert!(
        events.iter().any(|e| e["action"] == "ssh:agent_forward"
            && e["decision"] == "allow"
            && e["identity"]["subject"] == "ana"),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e["action"] == "ssh:agent_forward"
            && e["decision"] == "deny"
            && e["identity"]["subject"] == "walt"),
        "{events:#?}"
    );
}
