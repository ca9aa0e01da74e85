//! The token `gatehouse login` stores in the user's config directory (mode 0600), and
//! [`current_token`], which every command that connects on the user's behalf
//! (`gatehouse token`, `gatehouse connect`) reads it through. A person's login also stores the
//! IdP's refresh token: a gatehouse token about to expire is renewed by getting a new ID token
//! from the IdP and exchanging it at the gateway again, so group changes at the IdP take effect
//! at the next refresh and a person disabled there gets no new token.

use crate::http::token::ID_TOKEN_TYPE;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// A token with less than this left is refreshed (when it can be).
const REFRESH_BEFORE_SECS: i64 = 60;
/// A stale refresh lock (a crashed process) is taken over after this long.
const LOCK_STALE: Duration = Duration::from_secs(60);

/// The stored token, in `<config dir>/gatehouse/token.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Stored {
    pub access_token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub api: String,
    /// The CA certificate the gateway's https:// `api` is verified with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A person's login: the identity provider (its name at the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A person's login: the IdP's token endpoint, for refreshing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// A person's login: the public client the refresh token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A person's login: the IdP's refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The CA certificate the IdP's https:// endpoints are verified with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_ca_file: Option<PathBuf>,
}

/// `$XDG_CONFIG_HOME/gatehouse`, else `$HOME/.config/gatehouse`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("gatehouse"));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            anyhow!("neither XDG_CONFIG_HOME nor HOME is set: cannot store the token")
        })?;
    Ok(PathBuf::from(home).join(".config").join("gatehouse"))
}

pub fn token_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("token.json"))
}

pub fn save(path: &Path, stored: &Stored) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| anyhow!("`{}` has no directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let staging = dir.join(format!("token.json.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&staging);
    let text = serde_json::to_vec_pretty(stored)?;
    crate::server::identity::write_private(&staging, &text)?;
    std::fs::rename(&staging, path).with_context(|| format!("cannot write `{}`", path.display()))
}

fn load(path: &Path) -> Result<Stored> {
    let text = std::fs::read_to_string(path).map_err(|_| {
        anyhow!(
            "no stored token in `{}`: run `gatehouse login --api URL` first",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "`{}` is not a stored token; run `gatehouse login` again",
            path.display()
        )
    })
}

/// What `gatehouse login` stored, as it is (no refresh), when there is a login: where its
/// gateway's admin API is, for commands that talk to it.
pub fn stored_login() -> Option<Stored> {
    let path = token_file().ok()?;
    path.exists().then(|| load(&path).ok()).flatten()
}

/// The stored token if it is valid for a minute more; else, after a person's login, a
/// refreshed one (stored); else an error saying to log in again.
pub async fn current_token() -> Result<Stored> {
    let path = token_file()?;
    let stored = load(&path)?;
    if !needs_refresh(&stored) {
        return Ok(stored);
    }
    if stored.refresh_token.is_none() {
        return usable(stored);
    }
    // One refresh at a time: the IdP rotates refresh tokens, and a reused one revokes the login.
    let _lock = RefreshLock::take(&path).await?;
    let stored = load(&path)?;
    if !needs_refresh(&stored) {
        return Ok(stored);
    }
    let refreshed = refresh(&stored).await.map_err(|error| {
        anyhow!(
            "cannot refresh the gatehouse token: {error:#}; run `gatehouse login --api {}` again",
            stored.api
        )
    })?;
    save(&path, &refreshed)?;
    Ok(refreshed)
}

fn needs_refresh(stored: &Stored) -> bool {
    stored.expires_at - gatehouse_identity::now_unix() < REFRESH_BEFORE_SECS
}

/// A token that cannot be refreshed is used while it lasts.
fn usable(stored: Stored) -> Result<Stored> {
    if stored.expires_at <= gatehouse_identity::now_unix() + 5 {
        bail!(
            "the stored token expired at {}; run `gatehouse login` again (tokens are refreshed, not extended)",
            gatehouse_pipeline::rfc3339(stored.expires_at.saturating_mul(1000))
        );
    }
    Ok(stored)
}

/// A new ID token from the IdP (refresh token grant), exchanged at the gateway.
async fn refresh(stored: &Stored) -> Result<Stored> {
    let (Some(endpoint), Some(client_id), Some(refresh_token)) = (
        stored.token_endpoint.as_deref(),
        stored.client_id.as_deref(),
        stored.refresh_token.as_deref(),
    ) else {
        bail!("the stored login lacks the identity provider's token endpoint or client id");
    };
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .append_pair("client_id", client_id)
        .finish();
    let idp = crate::client::oidc::client(stored.idp_ca_file.as_deref())?;
    let tokens = crate::client::oidc::token_call(&idp, endpoint, &form)
        .await?
        .map_err(|answer| {
            anyhow!(
                "the identity provider refused the refresh ({})",
                crate::client::oidc::oauth_error(&answer)
            )
        })?;
    let gateway = crate::client::oidc::client(stored.ca_file.as_deref())?;
    let issued = crate::client::oidc::exchange(
        &gateway,
        &stored.api,
        (&tokens.id_token, ID_TOKEN_TYPE),
        None,
    )
    .await?;
    Ok(Stored {
        access_token: issued.access_token,
        expires_at: gatehouse_identity::now_unix().saturating_add(issued.expires_in),
        api: stored.api.clone(),
        ca_file: stored.ca_file.clone(),
        provider: stored.provider.clone(),
        token_endpoint: stored.token_endpoint.clone(),
        client_id: stored.client_id.clone(),
        refresh_token: tokens
            .refresh_token
            .or_else(|| stored.refresh_token.clone()),
        idp_ca_file: stored.idp_ca_file.clone(),
    })
}

/// `token.json.lock`, created exclusively; removed when dropped.
struct RefreshLock(PathBuf);

impl RefreshLock {
    async fn take(token_file: &Path) -> Result<RefreshLock> {
        let path = token_file.with_extension("json.lock");
        let started = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(RefreshLock(path)),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|at| SystemTime::now().duration_since(at).ok());
                    if age.is_some_and(|age| age > LOCK_STALE) {
                        let _ = std::fs::remove_file(&path);
                    } else if started.elapsed() > LOCK_STALE {
                        bail!(
                            "another gatehouse process is refreshing the token (`{}` exists)",
                            path.display()
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => {
                    return Err(error)
                        .with_context(|| format!("cannot create `{}`", path.display()));
                }
            }
        }
    }
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `gatehouse token`: print the current token.
pub async fn print_token() -> Result<ExitCode> {
    let stored = current_token().await?;
    println!("{}", stored.access_token);
    Ok(ExitCode::SUCCESS)
}
