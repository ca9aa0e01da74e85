//! What the SSH tests share: Debian's `sshd` started on a loopback port with its own config,
//! host key and one authorized key (gatehouse's: only the gateway's config names the private
//! half), a gateway whose `ssh` connection `box` logs in there as the user running the tests,
//! and OpenSSH's own `ssh`, `scp` and `sftp` run through it with a gatehouse token as the
//! password (answered by an `SSH_ASKPASS` program, so the clients' stdin stays the test's).

// Shared by several test binaries, each of which uses part of it.
#![allow(dead_code)]

use crate::support::{Gateway, Options, quickstart_policy};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running sshd on 127.0.0.1.
pub struct Sshd {
    child: Child,
    pub port: u16,
    /// Its config, keys, pid file and log.
    pub dir: tempfile::TempDir,
    /// Its host key as `TYPE BASE64`.
    pub host_key: String,
    /// The private key gatehouse logs in with.
    pub client_key: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (Debian openssh-client) is installed by scripts/setup.sh --tests");
    assert!(status.success());
}

/// A port that was free a moment ago (sshd cannot bind port 0 and say which it got).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    pub fn start() -> Sshd {
        std::fs::create_dir_all("/run/sshd").expect("sshd's privilege separation directory");
        let dir = tempfile::tempdir().unwrap();
        let host_key_path = dir.path().join("host_key");
        let client_key = dir.path().join("gatehouse_key");
        keygen(&host_key_path);
        keygen(&client_key);
        std::fs::copy(
            dir.path().join("gatehouse_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let host_key = std::fs::read_to_string(dir.path().join("host_key.pub"))
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        for _attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {dir}/sshd.pid\n\
                     AuthorizedKeysFile {dir}/authorized_keys\nUsePAM no\nStrictModes no\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                     AllowTcpForwarding yes\nX11Forwarding no\nPrintMotd no\nPrintLastLog no\n\
                     Subsystem sftp internal-sftp\nLogLevel VERBOSE\n",
                    host = host_key_path.display(),
                    dir = dir.path().display(),
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
            let mut child = Command::new("/usr/sbin/sshd")
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("sshd (Debian openssh-server) is installed by scripts/setup.sh --tests");
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Sshd {
                        child,
                        port,
                        dir,
                        host_key,
                        client_key,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not start: {}",
            std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
        );
    }

    /// What sshd logged (one line per login, channel and subsystem request).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

/// The user the tests run as: gatehouse logs in to the test sshd as this user.
pub fn login_user() -> String {
    let output = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A gateway with the `ssh` connection `box` to a fresh sshd.
pub struct SshHost {
    pub gateway: Gateway,
    pub sshd: Sshd,
}

/// The `[[connections]]` entry of `box`.
pub fn box_connection(sshd: &Sshd, name: &str, host_key: &str) -> String {
    format!(
        "[[connections]]\nname = \"{name}\"\nkind = \"ssh\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         user = \"{user}\"\nprivate_key_file = \"{key}\"\nhost_key = \"{host_key}\"\n",
        port = sshd.port,
        user = login_user(),
        key = sshd.client_key.display(),
    )
}

impl SshHost {
    /// The quickstart policy.
    pub fn start() -> SshHost {
        SshHost::start_with(&quickstart_policy(), "")
    }

    /// `policy`, and `ssh_extra` inside `[ssh]`.
    pub fn start_with(policy: &str, ssh_extra: &str) -> SshHost {
        let sshd = Sshd::start();
        let connections = box_connection(&sshd, "box", &sshd.host_key);
        SshHost::serving(sshd, policy, ssh_extra, &connections)
    }

    /// A gateway in front of `sshd` with `connections` (`[[connections]]` entries) under
    /// `policy`, and `ssh_extra` inside `[ssh]`.
    pub fn serving(sshd: Sshd, policy: &str, ssh_extra: &str, connections: &str) -> SshHost {
        let extra = format!(
            "[ssh]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n{ssh_extra}\n\n{connections}"
        );
        let gateway = Gateway::start_with(
            "test",
            Options {
                policy: Some(policy.to_owned()),
                extra,
                ..Default::default()
            },
        );
        SshHost { gateway, sshd }
    }

    /// The SSH listener's port.
    pub fn port(&self) -> u16 {
        let text = std::fs::read_to_string(self.gateway.data_dir().join("listeners.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["ssh"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// `ssh` options every client run shares: the gateway's port, no known_hosts (the
    /// host-key tests pin it themselves), the token as the password.
    pub fn client_options(&self) -> Vec<String> {
        [
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "NumberOfPasswordPrompts=1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    /// An OpenSSH client (`ssh`, `scp`, `sftp`) that answers the password prompt with
    /// `token`, with the shared options.
    pub fn client(&self, program: &str, token: &str) -> Command {
        let mut command = Command::new(program);
        command.args(self.client_options());
        self.answer_with(&mut command, token);
        command
    }

    /// Have OpenSSH (run by `command` or by a program it starts, as rsync does) answer the
    /// password prompt with `token`.
    pub fn answer_with(&self, command: &mut Command, token: &str) {
        let askpass = self.sshd.dir.path().join("askpass.sh");
        if !askpass.exists() {
            std::fs::write(
                &askpass,
                "#!/bin/sh\nprintf '%s\\n' \"$GATEHOUSE_TEST_TOKEN\"\n",
            )
            .unwrap();
            std::fs::set_permissions(
                &askpass,
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
        }
        command
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("GATEHOUSE_TEST_TOKEN", token)
            .env("TERM", "xterm");
    }

    /// `ssh -p PORT box@127.0.0.1 COMMAND` with `token` as the password.
    pub fn ssh(&self, token: &str, command: &str) -> Output {
        self.ssh_args(token, &[], command)
    }

    /// `ssh` with `args` before the destination.
    pub fn ssh_args(&self, token: &str, args: &[&str], command: &str) -> Output {
        self.client("ssh", token)
            .arg("-p")
            .arg(self.port().to_string())
            .args(args)
            .arg("box@127.0.0.1")
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// An interactive shell (`ssh -tt`) on `box`, its stdin, stdout and stderr piped.
    pub fn spawn_shell(&self, token: &str) -> Child {
        self.client("ssh", token)
            .arg("-tt")
            .arg("-p")
            .arg(self.port().to_string())
            .arg("box@127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// An interactive shell (`ssh -tt`) typing `input`, until the shell or gatehouse ends it.
    pub fn shell(&self, token: &str, input: &str) -> Output {
        let mut child = self.spawn_shell(token);
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_owned();
        std::thread::spawn(move || {
            // Typed after the shell is up, as a person would.
            std::thread::sleep(Duration::from_millis(700));
            let _ = stdin.write_all(input.as_bytes());
            std::thread::sleep(Duration::from_secs(20));
        });
        child.wait_with_output().unwrap()
    }

    /// `scp` (SFTP underneath, or legacy scp with `-O`) with `token` as the password.
    pub fn scp(&self, token: &str, args: &[&str]) -> Output {
        self.client("scp", token)
            .arg("-P")
            .arg(self.port().to_string())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `sftp -b -` running `batch` with `token` as the password.
    pub fn sftp(&self, token: &str, batch: &str) -> Output {
        let mut child = self
            .client("sftp", token)
            .arg("-o")
            .arg("BatchMode=no")
            .arg("-P")
            .arg(self.port().to_string())
            .arg("-b")
            .arg("-")
            .arg("box@127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(batch.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
}

/// stdout, stderr and status of a client run, for assertion messages.
pub fn shown(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
