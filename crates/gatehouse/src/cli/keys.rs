//! `gatehouse keys`: create, list and revoke API keys in the local store.

use crate::cli::args::{KeysCreateArgs, OutputArgs, OutputFormat};
use crate::cli::audit::record_operator_change;
use crate::config::setup::Setup;
use anyhow::{Context, Result, bail};
use comfy_table::Table;
use gatehouse_pipeline::AuditEventKind;
use gatehouse_store::{KeyRecord, NewKey};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub async fn create(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: KeysCreateArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let limits = &setup.config.keys;
    let ttl: Duration = args.ttl.map(Into::into).unwrap_or(limits.default_ttl);
    if ttl > limits.max_ttl {
        bail!(
            "--ttl {} is longer than the configured maximum {} ([keys] max_ttl); ask for a shorter lifetime",
            humantime::format_duration(ttl),
            humantime::format_duration(limits.max_ttl)
        );
    }
    if ttl.is_zero() {
        bail!("--ttl must be longer than zero");
    }
    if args.identity.trim().is_empty() {
        bail!("--identity must not be empty");
    }
    let groups: Vec<String> = args
        .groups
        .iter()
        .map(|g| g.trim().to_owned())
        .filter(|g| !g.is_empty())
        .collect();
    let store = setup.store().await?;
    let (record, token) = store
        .create_key(&NewKey {
            subject: args.identity.clone(),
            kind: args.kind.parse().map_err(anyhow::Error::msg)?,
            groups,
            ttl,
        })
        .await?;
    let detail = format!(
        "created key {} for `{}` ({}), groups [{}], expires in {}",
        record.id,
        record.subject,
        record.kind,
        record.groups.join(", "),
        humantime::format_duration(ttl)
    );
    if let Err(error) = record_change(&setup, &store, "keys:create", detail).await {
        // A key nobody can see in the audit log must not work.
        let _ = store.revoke_key(&record.id).await;
        store.close().await;
        return Err(error
            .context("the new key was revoked again because its creation could not be recorded"));
    }
    store.close().await;
    match args.output.output {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(&record)?;
            if let Some(object) = value.as_object_mut() {
                object.insert("token".into(), token.expose().into());
            }
            println!("{value}");
        }
        OutputFormat::Text => {
            println!(
                "created key {} for `{}` ({}), groups [{}], expires in {}",
                record.id,
                record.subject,
                record.kind,
                record.groups.join(", "),
                humantime::format_duration(ttl)
            );
            println!("use the token below as the password; it is shown only once:");
            println!("{}", token.expose());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn list(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    output: OutputArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let keys = store.list_keys().await?;
    store.close().await;
    let now = unix_now();
    match output.output {
        OutputFormat::Json => {
            let items: Vec<serde_json::Value> = keys.iter().map(|k| key_json(k, now)).collect();
            println!("{}", serde_json::Value::from(items));
        }
        OutputFormat::Text => {
            if keys.is_empty() {
                println!(
                    "no keys yet: create one with `gatehouse keys create --identity NAME --groups GROUP`"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let mut table = Table::new();
            table.set_header(["id", "identity", "kind", "groups", "state", "expires"]);
            for key in &keys {
                table.add_row([
                    key.id.clone(),
                    key.subject.clone(),
                    key.kind.to_string(),
                    key.groups.join(","),
                    key.state(now).to_owned(),
                    describe_expiry(key.expires_at - now),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn revoke(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    id: &str,
    output: OutputArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let record = store.revoke_key(id).await;
    let recorded = match &record {
        Ok(record) => {
            let detail = format!("revoked key {} of `{}`", record.id, record.subject);
            record_change(&setup, &store, "keys:revoke", detail).await
        }
        Err(_) => Ok(()),
    };
    store.close().await;
    let record = record?;
    recorded
        .context("the key is revoked, but the revocation could not be recorded in the audit log")?;
    match output.output {
        OutputFormat::Json => println!("{}", key_json(&record, unix_now())),
        OutputFormat::Text => println!(
            "revoked key {} of `{}`: new sessions with it are refused",
            record.id, record.subject
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Record a key change in the audit log, fsynced, before reporting success.
async fn record_change(
    setup: &Setup,
    store: &gatehouse_store::Store,
    action: &str,
    detail: String,
) -> Result<()> {
    record_operator_change(setup, store, AuditEventKind::KeyChange, action, detail).await
}

fn key_json(key: &KeyRecord, now: i64) -> serde_json::Value {
    let mut value = serde_json::to_value(key).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.insert("state".into(), key.state(now).into());
    }
    value
}

fn describe_expiry(seconds_left: i64) -> String {
    if seconds_left <= 0 {
        return "expired".to_owned();
    }
    let left = Duration::from_secs(u64::try_from(seconds_left).unwrap_or(0));
    format!("in {}", humantime::format_duration(left))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
