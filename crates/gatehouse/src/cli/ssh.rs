//! `gatehouse ssh-cert` and `gatehouse ssh-config`: OpenSSH clients log in to the gateway's SSH
//! listener with no prompt only with a key, so `ssh-cert` makes a key pair here and trades the
//! public half and the user's token for a short-lived certificate from the gateway's user CA
//! (`POST /v1/ssh/certificate`), written where `ssh -i KEY` finds it; `ssh-config` writes the
//! ssh_config blocks and the known_hosts line that make `ssh CONNECTION.gatehouse` use that
//! certificate and verify the gateway's host key (`GET /v1/ssh`).

use crate::cli::args::{AdminApiArgs, SshCertArgs, SshConfigArgs};
use crate::config::setup::Setup;
use crate::http_client::HttpClient;
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use hyper::Method;
use russh::keys::ssh_key::LineEnding;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How long the gateway may take to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// The key file `gatehouse ssh-cert` writes unless told otherwise (under ~/.ssh).
const DEFAULT_KEY: &str = "gatehouse_ed25519";

/// The known_hosts file `gatehouse ssh-config` writes unless told otherwise (under ~/.ssh).
const DEFAULT_KNOWN_HOSTS: &str = "gatehouse_known_hosts";

/// The name the gateway's host key is pinned under, whatever address it is reached at.
const HOST_KEY_ALIAS: &str = "gatehouse-ssh";

/// The lines around the block `--write` owns in ~/.ssh/config.
const BLOCK_START: &str = "# >>> gatehouse ssh-config >>>";
const BLOCK_END: &str = "# <<< gatehouse ssh-config <<<";

/// The gateway's admin API as this command reaches it.
struct AdminApi {
    url: String,
    http: HttpClient,
    token: String,
}

impl AdminApi {
    /// `--api`, else the gateway running with this configuration (its listeners file), else
    /// the gateway `gatehouse login` used, else the configured `[admin] listen`.
    async fn find(
        config: Option<&Path>,
        data_dir: Option<&Path>,
        args: &AdminApiArgs,
    ) -> Result<AdminApi> {
        let mut ca_file = args.ca_file.clone();
        let url = match &args.api {
            Some(api) => api.trim_end_matches('/').to_owned(),
            None => {
                let setup = match Setup::load(config, data_dir) {
                    Ok(setup) => Some(setup),
                    Err(error) if config.is_some() => return Err(error),
                    Err(_) => None,
                };
                let running = setup.as_ref().and_then(|setup| {
                    crate::server::serve::running_listener(&setup.data_dir, "admin")
                });
                let login = crate::client::token_store::stored_login();
                match (running, login, setup) {
                    (Some(address), _, _) => format!("http://{address}"),
                    (None, Some(login), _) => {
                        if ca_file.is_none() {
                            ca_file = login.ca_file.clone();
                        }
                        login.api.trim_end_matches('/').to_owned()
                    }
                    (None, None, Some(setup)) => format!("http://{}", setup.config.admin.listen),
                    (None, None, None) => bail!(
                        "cannot tell where the gateway's admin API is: pass --api URL, or run `gatehouse login --api URL` first"
                    ),
                }
            }
        };
        let token = crate::client::token::find(args.token_file.as_deref()).await?;
        let http = HttpClient::new(ca_file.as_deref(), ANSWER_WITHIN)?;
        Ok(AdminApi { url, http, token })
    }

    /// `method path` with the token, and the JSON answer if it is a 200.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.url);
        let authorization = format!("Bearer {}", self.token);
        let headers = [
            ("Accept", "application/json"),
            ("Authorization", authorization.as_str()),
        ];
        let body = body.map(|body| ("application/json", Bytes::from(body.to_string())));
        let response = self
            .http
            .send(method, &url, &headers, body)
            .await
            .with_context(|| format!("cannot reach the gateway's admin API at `{}`", self.url))?;
        let answer: Value = serde_json::from_slice(&response.body).map_err(|_| {
            anyhow!(
                "`{url}` answered HTTP {} without JSON; is `{}` the gateway's admin listener (--api)?",
                response.status,
                self.url
            )
        })?;
        if response.status != 200 {
            let error = answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            bail!("the gateway refused (HTTP {}): {error}", response.status);
        }
        Ok(answer)
    }

    /// `GET /v1/ssh`.
    async fn describe(&self) -> Result<SshListener> {
        let answer = self.call(Method::GET, "/v1/ssh", None).await?;
        let text = |key: &str| -> Result<String> {
            answer
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("the gateway's GET /v1/ssh has no `{key}`"))
        };
        let listen: std::net::SocketAddr = text("listen")?
            .parse()
            .context("the gateway's GET /v1/ssh `listen` is not HOST:PORT")?;
        let host = if listen.ip().is_unspecified() {
            host_of(&self.url).unwrap_or_else(|| "127.0.0.1".to_owned())
        } else {
            listen.ip().to_string()
        };
        Ok(SshListener {
            host,
            port: listen.port(),
            host_key: text("host_key")?,
            connections: answer
                .get("connections")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect(),
        })
    }
}

/// What `GET /v1/ssh` says.
struct SshListener {
    /// Where clients reach it.
    host: String,
    port: u16,
    /// gatehouse's host key, `ssh-ed25519 AAAA...`.
    host_key: String,
    /// The SSH connections the caller may connect to.
    connections: Vec<String>,
}

/// The host of an `http://HOST:PORT/...` URL.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_owned())
}

fn home_ssh(file: &str) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set; name the file with an option")?;
    Ok(PathBuf::from(home).join(".ssh").join(file))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve `{}`", path.display()))
}

/// The key path of `--key`, absolute, else ~/.ssh/gatehouse_ed25519.
fn key_path(key: Option<&Path>) -> Result<PathBuf> {
    match key {
        Some(key) => absolute(key),
        None => home_ssh(DEFAULT_KEY),
    }
}

/// `PATH` with `suffix` appended to its file name (`.pub`, `-cert.pub`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Create `path`'s directory (owner-only when it is new, as ~/.ssh must be).
fn make_parent(path: &Path) -> Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Replace `path` with `bytes` at once (a new file renamed over it), readable by its owner
/// only when `private`.
fn replace_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    make_parent(path)?;
    let staging = with_suffix(path, &format!(".{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&staging);
    if private {
        crate::server::identity::write_private(&staging, bytes)?;
    } else {
        std::fs::write(&staging, bytes)
            .with_context(|| format!("cannot write `{}`", staging.display()))?;
    }
    std::fs::rename(&staging, path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// `gatehouse ssh-cert`.
pub async fn certificate(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: SshCertArgs,
) -> Result<ExitCode> {
    let key_path = key_path(args.key.as_deref())?;
    let api = AdminApi::find(config, data_dir, &args.api).await?;
    let listener = api.describe().await?;
    let key = gatehouse_ssh_gateway::keys::generate_ed25519("gatehouse")
        .map_err(|error| anyhow!("cannot make a key pair: {error}"))?;
    let public_line = gatehouse_ssh_gateway::keys::public_key_line(key.public_key());
    let issued = api
        .call(
            Method::POST,
            "/v1/ssh/certificate",
            Some(json!({ "public_key": public_line })),
        )
        .await?;
    let text = |name: &str| {
        issued
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let certificate = text("certificate");
    if certificate.is_empty() {
        bail!("the gateway's answer has no certificate");
    }
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|error| anyhow!("cannot encode the private key: {error}"))?;
    let public_path = with_suffix(&key_path, ".pub");
    let certificate_path = with_suffix(&key_path, "-cert.pub");
    replace_file(&key_path, private.as_bytes(), true)?;
    replace_file(
        &public_path,
        format!("{public_line} gatehouse\n").as_bytes(),
        false,
    )?;
    replace_file(
        &certificate_path,
        format!("{certificate}\n").as_bytes(),
        false,
    )?;
    let connection = listener
        .connections
        .first()
        .cloned()
        .unwrap_or_else(|| "CONNECTION".to_owned());
    let command = format!(
        "ssh -i {} -p {} {connection}@{}",
        key_path.display(),
        listener.port,
        listener.host
    );
    if args.output.is_json() {
        println!(
            "{}",
            json!({
                "key": key_path.display().to_string(),
                "public_key": public_path.display().to_string(),
                "certificate": certificate_path.display().to_string(),
                "principal": issued.get("principal"),
                "key_id": issued.get("key_id"),
                "serial": issued.get("serial"),
                "fingerprint": issued.get("fingerprint"),
                "valid_before": issued.get("valid_before"),
                "valid_before_unix": issued.get("valid_before_unix"),
                "connections": listener.connections,
                "ssh": command,
            })
        );
    } else {
        println!(
            "wrote {} (private key), {} and {} (certificate)",
            key_path.display(),
            public_path.display(),
            certificate_path.display()
        );
        println!(
            "certificate for `{}` (key id {}), valid until {}",
            text("principal"),
            text("key_id"),
            text("valid_before")
        );
        if listener.connections.is_empty() {
            println!("your policy lets you connect to no SSH connection of this gateway yet");
        } else {
            println!(
                "SSH connections you may use: {}",
                listener.connections.join(", ")
            );
        }
        println!("try: {command} uptime");
        println!("or: gatehouse ssh-config --write, then ssh {connection}.gatehouse");
    }
    Ok(ExitCode::SUCCESS)
}

/// One `Host` block of `gatehouse ssh-config`.
struct HostBlock {
    alias: String,
    connection: String,
}

/// A path as ssh_config reads it (quoted when it has spaces).
fn config_path(path: &Path) -> String {
    let shown = path.display().to_string();
    if shown.contains(char::is_whitespace) {
        format!("\"{shown}\"")
    } else {
        shown
    }
}

/// The marked block of ssh_config text for `hosts`.
fn config_block(
    hosts: &[HostBlock],
    listener: &SshListener,
    host: &str,
    key: &Path,
    known_hosts: &Path,
) -> String {
    let mut block = format!(
        "{BLOCK_START}\n# Written by `gatehouse ssh-config`; running it again with --write replaces this block.\n"
    );
    for entry in hosts {
        block.push_str(&format!(
            "Host {alias}\n    HostName {host}\n    Port {port}\n    User {user}\n    \
             IdentityFile {key}\n    CertificateFile {certificate}\n    IdentitiesOnly yes\n    \
             HostKeyAlias {HOST_KEY_ALIAS}\n    UserKnownHostsFile {known}\n    \
             StrictHostKeyChecking yes\n",
            alias = entry.alias,
            port = listener.port,
            user = entry.connection,
            key = config_path(key),
            certificate = config_path(&with_suffix(key, "-cert.pub")),
            known = config_path(known_hosts),
        ));
    }
    block.push_str(BLOCK_END);
    block.push('\n');
    block
}

/// `existing` with its marked block replaced by `block`, or `block` appended.
fn merge_block(existing: &str, block: &str) -> Result<String> {
    let start = existing.find(BLOCK_START);
    let end = existing.find(BLOCK_END);
    match (start, end) {
        (Some(start), Some(end)) if start < end => {
            let after = existing
                .get(end..)
                .map(|rest| rest.split_once('\n').map_or("", |(_, after)| after))
                .unwrap_or_default();
            let before = existing.get(..start).unwrap_or_default();
            Ok(format!("{before}{block}{after}"))
        }
        (None, None) => {
            let mut merged = existing.to_owned();
            if !merged.is_empty() && !merged.ends_with('\n') {
                merged.push('\n');
            }
            if !merged.is_empty() {
                merged.push('\n');
            }
            merged.push_str(block);
            Ok(merged)
        }
        _ => bail!(
            "the file has a damaged gatehouse block (`{BLOCK_START}` ... `{BLOCK_END}`); remove what is left of it and run again"
        ),
    }
}

/// `gatehouse ssh-config`.
pub async fn config(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: SshConfigArgs,
) -> Result<ExitCode> {
    let key = key_path(args.key.as_deref())?;
    let known_hosts = match &args.known_hosts {
        Some(path) => absolute(path)?,
        None => home_ssh(DEFAULT_KNOWN_HOSTS)?,
    };
    let api = AdminApi::find(config, data_dir, &args.api).await?;
    let listener = api.describe().await?;
    let host = args.host.clone().unwrap_or_else(|| listener.host.clone());
    let hosts: Vec<HostBlock> = listener
        .connections
        .iter()
        .map(|connection| HostBlock {
            alias: format!("{connection}.gatehouse"),
            connection: connection.clone(),
        })
        .collect();
    if hosts.is_empty() {
        eprintln!("note: your policy lets you connect to no SSH connection of this gateway");
    }
    let known_line = format!("{HOST_KEY_ALIAS} {}", listener.host_key);
    replace_file(&known_hosts, format!("{known_line}\n").as_bytes(), false)?;
    let block = config_block(&hosts, &listener, &host, &key, &known_hosts);
    let written = if args.write {
        let path = match &args.ssh_config {
            Some(path) => absolute(path)?,
            None => home_ssh("config")?,
        };
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read `{}`", path.display()));
            }
        };
        let merged = merge_block(&existing, &block)
            .with_context(|| format!("cannot edit `{}`", path.display()))?;
        replace_file(&path, merged.as_bytes(), true)?;
        Some(path)
    } else {
        None
    };
    let certificate = with_suffix(&key, "-cert.pub");
    let missing_certificate = !certificate.exists();
    if args.output.is_json() {
        println!(
            "{}",
            json!({
                "hosts": hosts.iter().map(|entry| json!({
                    "host": entry.alias,
                    "connection": entry.connection,
                    "hostname": host,
                    "port": listener.port,
                })).collect::<Vec<_>>(),
                "config": block,
                "ssh_config": written.as_ref().map(|path| path.display().to_string()),
                "known_hosts": known_hosts.display().to_string(),
                "known_hosts_line": known_line,
                "key": key.display().to_string(),
                "certificate": certificate.display().to_string(),
                "certificate_exists": !missing_certificate,
            })
        );
    } else {
        match &written {
            Some(path) => println!(
                "wrote {} host block(s) to {} and the gateway's host key to {}",
                hosts.len(),
                path.display(),
                known_hosts.display()
            ),
            None => {
                print!("{block}");
                eprintln!(
                    "wrote the gateway's host key to {} ({known_line})",
                    known_hosts.display()
                );
            }
        }
        if let Some(first) = hosts.first() {
            eprintln!("try: ssh {} uname -a", first.alias);
        }
        if missing_certificate {
            eprintln!(
                "note: no certificate at {} yet: run `gatehouse ssh-cert{}` first",
                certificate.display(),
                args.key
                    .as_ref()
                    .map(|_| format!(" --key {}", key.display()))
                    .unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_block_is_appended_once_and_then_replaced_in_place() {
        let block = format!("{BLOCK_START}\nHost a.gatehouse\n{BLOCK_END}\n");
        let mine = "Host work\n    User me";
        let first = merge_block(mine, &block).unwrap();
        assert_eq!(first, format!("Host work\n    User me\n\n{block}"));
        let again = format!("{first}Host later\n");
        let other = format!("{BLOCK_START}\nHost b.gatehouse\n{BLOCK_END}\n");
        let replaced = merge_block(&again, &other).unwrap();
        assert_eq!(
            replaced,
            format!("Host work\n    User me\n\n{other}Host later\n")
        );
        assert_eq!(merge_block("", &block).unwrap(), block);
        assert!(merge_block(&format!("{BLOCK_START}\nHost x\n"), &block).is_err());
    }

    #[test]
    fn hosts_are_read_from_api_urls() {
        assert_eq!(
            host_of("http://gatehouse.internal:8009").as_deref(),
            Some("gatehouse.internal")
        );
        assert_eq!(host_of("https://[::1]:8009/").as_deref(), Some("::1"));
        assert_eq!(host_of("http://10.0.0.1").as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn key_files_follow_openssh_naming() {
        let key = Path::new("/home/me/.ssh/gatehouse_ed25519");
        assert_eq!(
            with_suffix(key, "-cert.pub"),
            PathBuf::from("/home/me/.ssh/gatehouse_ed25519-cert.pub")
        );
        assert_eq!(config_path(Path::new("/a b/k")), "\"/a b/k\"");
    }
}
