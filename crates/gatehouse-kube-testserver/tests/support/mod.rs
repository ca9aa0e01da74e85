//! Running the machine's real kubectl against a test API server: a temporary kubeconfig with
//! the server's URL, CA and token, a private discovery cache, and the versioned binaries
//! (`kubectl.1.27` …) found beside the default one.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use gatehouse_kube_testserver::TestApiServer;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "test-token-8c1f";

/// The kubectl found on `PATH`, or `None` (after saying so) when there is none and this is not
/// CI; under `CI=true` a missing kubectl fails the test.
pub fn default_kubectl() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "kubectl is not installed");
        eprintln!("SKIPPED: kubectl is not installed");
    }
    found
}

/// The versioned kubectl binaries (`kubectl.1.27` …) beside the default one, oldest first.
pub fn versioned_kubectls(default: &Path) -> Vec<(String, PathBuf)> {
    let Some(dir) = std::fs::canonicalize(default)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let minor = name.strip_prefix("kubectl.1.")?.parse::<u32>().ok()?;
            Some((minor, format!("1.{minor}"), entry.path()))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, version, path)| (version, path))
        .collect()
}

/// The versioned kubectl `kubectl.VERSION` beside `default`, or `None` (after saying so) when
/// there is none.
pub fn versioned_kubectl(default: &Path, version: &str) -> Option<PathBuf> {
    let found = versioned_kubectls(default)
        .into_iter()
        .find(|(v, _)| v == version)
        .map(|(_, path)| path);
    if found.is_none() {
        eprintln!("SKIPPED: no kubectl.{version} beside {}", default.display());
    }
    found
}

/// One kubectl binary pointed at one server.
pub struct Kubectl {
    pub binary: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    pub fn new(binary: PathBuf, server: &TestApiServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), server.kubeconfig()).unwrap();
        Self { binary, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env("KUBECONFIG", self.path("kubeconfig"))
            .arg(format!("--cache-dir={}", self.path("cache").display()))
            .arg("--request-timeout=30s")
            .args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Run with `stdin` as its input and `env` added to its environment; killed, and the test
    /// failed, if it has not ended `within`.
    pub fn run_with(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: &[u8],
        within: Duration,
    ) -> Output {
        let mut command = self.command(args);
        run_bounded(command.envs(env.iter().copied()), stdin, within)
    }

    /// Run, require success, and return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Run, require failure, and return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "kubectl {args:?} succeeded");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// Start a long-running kubectl (`get -w`, `logs -f`) whose stdout lines arrive on the
    /// returned channel; the process is killed when the guard drops.
    pub fn stream(&self, args: &[&str]) -> (Running, mpsc::Receiver<String>) {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        (Running(child), received)
    }
}

/// Run `command` with `stdin` as its input; kill it, and fail the test, if it has not ended
/// `within`.
pub fn run_bounded(command: &mut Command, stdin: &[u8], within: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    std::thread::spawn(move || input.write_all(&stdin));
    let collect = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = collect(Box::new(child.stdout.take().unwrap()));
    let stderr = collect(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not end within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A kubectl process that is killed and reaped when dropped.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines from `lines` until one satisfies `wanted`, or panic after `within`.
pub fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    within: Duration,
    wanted: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if wanted(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no wanted line within {within:?}; got {seen:#?}"),
        }
    }
}

/// Wait until `condition` holds, or panic after `within`.
pub fn wait_until(within: Duration, what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
