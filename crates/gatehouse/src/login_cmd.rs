//! `gatehouse login --exchange-token-file F | --exchange-token-env VAR`: exchange a workload's
//! JWT (a CI job's OIDC token, an agent's workload identity) at the gateway's `POST /v1/token`
//! for a gatehouse token, stored with mode 0600 in the user's config directory;
//! `gatehouse token` prints it (`PGPASSWORD=$(gatehouse token)`), and
//! `gatehouse tokens revoke JTI` puts an issued token on the revocation list.

use crate::args::{LoginArgs, TokensRevokeArgs};
use crate::audit_cmd::operator_event;
use crate::identity_http;
use crate::setup::Setup;
use crate::token_api::{GRANT_TYPE, JWT_TYPE};
use anyhow::{Context, Result, anyhow, bail};
use gatehouse_pipeline::{AuditEventKind, Durability};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The stored token, in `<config dir>/gatehouse/token.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    access_token: String,
    /// Unix seconds.
    expires_at: i64,
    api: String,
}

/// `$XDG_CONFIG_HOME/gatehouse`, else `$HOME/.config/gatehouse`.
fn config_dir() -> Result<PathBuf> {
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

fn token_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("token.json"))
}

fn read_secret(file: Option<&Path>, env: Option<&str>, what: &str) -> Result<Option<String>> {
    let text = match (file, env) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} from `{}`", path.display()))?,
        (None, Some(var)) => std::env::var(var).map_err(|_| {
            anyhow!("the environment variable `{var}` holding the {what} is not set")
        })?,
        (None, None) => return Ok(None),
    };
    let text = text.trim().to_owned();
    if text.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(Some(text))
}

pub async fn login(args: LoginArgs) -> Result<ExitCode> {
    let subject = read_secret(
        args.exchange_token_file.as_deref(),
        args.exchange_token_env.as_deref(),
        "token to exchange",
    )?
    .ok_or_else(|| {
        anyhow!(
            "give the workload's token with --exchange-token-file FILE or --exchange-token-env VAR \
             (interactive login for people is not implemented yet)"
        )
    })?;
    let actor = read_secret(
        args.actor_token_file.as_deref(),
        args.actor_token_env.as_deref(),
        "actor token",
    )?;
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", GRANT_TYPE)
        .append_pair("subject_token", &subject)
        .append_pair("subject_token_type", JWT_TYPE);
    if let Some(actor) = &actor {
        form.append_pair("actor_token", actor)
            .append_pair("actor_token_type", JWT_TYPE);
    }
    let body = form.finish();
    let api = args.api.trim_end_matches('/').to_owned();
    let url = format!("{api}/v1/token");
    let response = identity_http::request(
        "POST",
        &url,
        Some(("application/x-www-form-urlencoded", body.as_bytes())),
        args.ca_file.as_deref(),
        Duration::from_secs(30),
    )
    .await
    .with_context(|| format!("cannot reach the gateway's token endpoint `{url}`"))?;
    let answer: serde_json::Value = serde_json::from_slice(&response.body).map_err(|_| {
        anyhow!(
            "`{url}` answered HTTP {} without JSON; is --api the gateway's admin listener?",
            response.status
        )
    })?;
    if response.status != 200 {
        bail!(
            "the gateway refused the exchange ({}): {}",
            answer
                .get("error")
                .unwrap_or(&serde_json::Value::Null)
                .as_str()
                .unwrap_or("error"),
            answer
                .get("error_description")
                .unwrap_or(&serde_json::Value::Null)
                .as_str()
                .unwrap_or("no description")
        );
    }
    let access_token = answer
        .get("access_token")
        .unwrap_or(&serde_json::Value::Null)
        .as_str()
        .ok_or_else(|| anyhow!("the gateway's answer has no access_token"))?
        .to_owned();
    let expires_in = answer
        .get("expires_in")
        .unwrap_or(&serde_json::Value::Null)
        .as_i64()
        .unwrap_or(0);
    let stored = Stored {
        access_token,
        expires_at: gatehouse_identity::now_unix().saturating_add(expires_in),
        api,
    };
    let path = token_file()?;
    save(&path, &stored)?;
    eprintln!(
        "logged in: gatehouse token stored in {} (expires in {}); use it with PGPASSWORD=$(gatehouse token)",
        path.display(),
        humantime::format_duration(Duration::from_secs(u64::try_from(expires_in).unwrap_or(0)))
    );
    Ok(ExitCode::SUCCESS)
}

fn save(path: &Path, stored: &Stored) -> Result<()> {
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
    crate::identity::write_private(&staging, &text)?;
    std::fs::rename(&staging, path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// `gatehouse token`: print the stored token if it is still valid.
pub fn print_token() -> Result<ExitCode> {
    let path = token_file()?;
    let text = std::fs::read_to_string(&path).map_err(|_| {
        anyhow!(
            "no stored token in `{}`: run `gatehouse login --exchange-token-file FILE --api URL` first",
            path.display()
        )
    })?;
    let stored: Stored = serde_json::from_str(&text).with_context(|| {
        format!(
            "`{}` is not a stored token; run `gatehouse login` again",
            path.display()
        )
    })?;
    if stored.expires_at <= gatehouse_identity::now_unix() + 5 {
        bail!(
            "the stored token expired at {}; run `gatehouse login` again (tokens are refreshed, not extended)",
            gatehouse_pipeline::rfc3339(stored.expires_at.saturating_mul(1000))
        );
    }
    println!("{}", stored.access_token);
    Ok(ExitCode::SUCCESS)
}

/// `gatehouse tokens revoke JTI`: refuse an issued token from now on (recorded, fsynced).
pub async fn revoke(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: TokensRevokeArgs,
) -> Result<ExitCode> {
    let jti = args.jti.trim();
    if jti.is_empty()
        || jti.len() > 128
        || !jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("`{jti}` is not a token id (the `jti` named in the token exchange's audit event)");
    }
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let revoked = store.revoke_token(jti, args.reason.as_deref()).await;
    let recorded = match &revoked {
        Ok(_) => {
            let log = setup.audit_log(&store)?;
            let detail = format!(
                "revoked gatehouse token jti {jti}{}",
                args.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
            let event = operator_event(AuditEventKind::KeyChange, "token:revoke", Some(detail));
            let appended = log
                .append(&[event], Durability::Synced)
                .await
                .map_err(anyhow::Error::msg);
            let flushed = log.flush().await;
            appended.and(flushed.map_err(anyhow::Error::from))
        }
        Err(_) => Ok(()),
    };
    store.close().await;
    revoked?;
    recorded.context(
        "the token is revoked, but the revocation could not be recorded in the audit log",
    )?;
    println!("revoked gatehouse token {jti}: new sessions and API calls with it are refused");
    Ok(ExitCode::SUCCESS)
}
