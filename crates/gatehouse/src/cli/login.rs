//! `gatehouse login`: a person signs in with an identity provider the gateway names
//! (`GET /v1/login`; see [`crate::client::login_browser`] and [`crate::client::login_device`]), or a workload
//! passes its JWT (`--exchange-token-file F | --exchange-token-env VAR`: a CI job's OIDC
//! token, an agent's workload identity); either token is exchanged at the gateway's
//! `POST /v1/token` for a gatehouse token, stored with mode 0600 in the user's config
//! directory (see [`crate::client::token_store`]). `gatehouse tokens revoke JTI` puts an issued token
//! on the revocation list.

use crate::cli::args::{LoginArgs, TokensRevokeArgs};
use crate::client::oidc::IdTokens;
use crate::client::token_store::Stored;
use crate::config::setup::Setup;
use crate::http::login::{LoginMetadata, LoginProvider};
use crate::http::token::{ID_TOKEN_TYPE, JWT_TYPE};
use crate::server::operator::operator_event;
use anyhow::{Context, Result, anyhow, bail};
use gatehouse_pipeline::{AuditEventKind, Durability};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Trusted for an https:// identity provider when no --idp-ca-file is given.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

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
    let api = args.api.trim_end_matches('/').to_owned();
    let ca_file = args.ca_file.as_deref().map(absolute);
    let subject = read_secret(
        args.exchange_token_file.as_deref(),
        args.exchange_token_env.as_deref(),
        "token to exchange",
    )?;
    let actor = read_secret(
        args.actor_token_file.as_deref(),
        args.actor_token_env.as_deref(),
        "actor token",
    )?;
    let stored = match subject {
        Some(subject) => {
            let gateway = crate::client::oidc::client(ca_file.as_deref())?;
            let issued = crate::client::oidc::exchange(
                &gateway,
                &api,
                (&subject, JWT_TYPE),
                actor.as_deref(),
            )
            .await?;
            Stored {
                access_token: issued.access_token,
                expires_at: gatehouse_identity::now_unix().saturating_add(issued.expires_in),
                api,
                ca_file,
                ..Stored::default()
            }
        }
        None if actor.is_some() => {
            bail!(
                "an actor token is given without the workload's token (--exchange-token-file or --exchange-token-env)"
            )
        }
        None => sign_in(&args, api, ca_file).await?,
    };
    let path = crate::client::token_store::token_file()?;
    crate::client::token_store::save(&path, &stored)?;
    let left = stored.expires_at - gatehouse_identity::now_unix();
    eprintln!(
        "logged in{}: gatehouse token stored in {} (expires in {}{}); use it with PGPASSWORD=$(gatehouse token)",
        who(&stored.access_token),
        path.display(),
        humantime::format_duration(Duration::from_secs(u64::try_from(left).unwrap_or(0))),
        if stored.refresh_token.is_some() {
            ", renewed by `gatehouse token` while the identity provider allows"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// ` as SUBJECT (KIND; groups: ...)`, read from the issued token's claims.
fn who(token: &str) -> String {
    let Ok(jws) = gatehouse_identity::decode(token) else {
        return String::new();
    };
    let text = |name: &str| {
        jws.claims
            .get(name)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_owned()
    };
    let groups: Vec<&str> = jws
        .claims
        .get("groups")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|g| g.as_str()).collect())
        .unwrap_or_default();
    format!(
        " as {} ({}; groups: {})",
        text("sub"),
        text("kind"),
        if groups.is_empty() {
            "none".to_owned()
        } else {
            groups.join(", ")
        }
    )
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A person's login: pick the provider, sign in, exchange the ID token.
async fn sign_in(args: &LoginArgs, api: String, ca_file: Option<PathBuf>) -> Result<Stored> {
    let gateway = crate::client::oidc::client(ca_file.as_deref())?;
    let url = format!("{api}/v1/login");
    let (status, answer) = crate::client::oidc::get_json(&gateway, &url)
        .await
        .with_context(|| format!("cannot ask the gateway `{url}` how people log in"))?;
    if status != 200 {
        bail!("`{url}` answered HTTP {status}; is --api the gateway's admin listener?");
    }
    let metadata: LoginMetadata = serde_json::from_value(answer)
        .with_context(|| format!("`{url}` is not the gateway's login metadata"))?;
    let provider = choose(metadata.providers, args.provider.as_deref(), &api)?;
    let idp_ca_file = args.idp_ca_file.as_deref().map(absolute).or_else(|| {
        let bundle = Path::new(SYSTEM_CA_BUNDLE);
        (provider.issuer.starts_with("https://") && bundle.exists()).then(|| bundle.to_path_buf())
    });
    let idp = crate::client::oidc::client(idp_ca_file.as_deref())
        .with_context(|| format!("identity provider `{}`", provider.name))?;
    let discovery = crate::client::oidc::discover(&idp, &provider.issuer)
        .await
        .with_context(|| format!("identity provider `{}`", provider.name))?;
    let timeout = Duration::from(args.timeout);
    let IdTokens {
        id_token,
        refresh_token,
    } = if args.device {
        crate::client::login_device::sign_in(&provider, &discovery, &idp, timeout).await?
    } else {
        crate::client::login_browser::sign_in(
            &provider,
            &discovery,
            &idp,
            !args.no_browser,
            timeout,
        )
        .await?
    };
    let issued =
        crate::client::oidc::exchange(&gateway, &api, (&id_token, ID_TOKEN_TYPE), None).await?;
    Ok(Stored {
        access_token: issued.access_token,
        expires_at: gatehouse_identity::now_unix().saturating_add(issued.expires_in),
        api,
        ca_file,
        provider: Some(provider.name),
        token_endpoint: Some(discovery.token_endpoint),
        client_id: Some(provider.client_id),
        refresh_token,
        idp_ca_file,
    })
}

fn choose(providers: Vec<LoginProvider>, wanted: Option<&str>, api: &str) -> Result<LoginProvider> {
    let names = || {
        providers
            .iter()
            .map(|p| format!("`{}`", p.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if providers.is_empty() {
        bail!(
            "the gateway at {api} has no identity provider for people (an [[identity_providers]] \
             entry with kind = \"human\" and a client_id); machines log in with --exchange-token-file"
        );
    }
    match wanted {
        Some(name) => {
            let known = names();
            providers
                .into_iter()
                .find(|p| p.name == name)
                .ok_or_else(|| {
                    anyhow!(
                        "the gateway has no identity provider `{name}` for people; known: {known}"
                    )
                })
        }
        None if providers.len() > 1 => bail!(
            "the gateway has several identity providers for people: choose one with --provider ({})",
            names()
        ),
        None => providers
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no identity provider")),
    }
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
