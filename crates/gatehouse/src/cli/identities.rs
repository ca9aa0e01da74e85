//! `gatehouse identities revoke|restore|list`: take a whole identity out of service at once
//! (a person who left, an agent that misbehaves) rather than hunting down each of its keys
//! and tokens. The store refuses every credential naming the subject; the running gateway's
//! revocation watch ends its live sessions. Every change is audited (fsynced) first.

use crate::cli::args::{
    IdentitiesCommand, IdentityRestoreArgs, IdentityRevokeArgs, OutputArgs, OutputFormat,
};
use crate::cli::audit::record_operator_change;
use crate::config::setup::Setup;
use crate::server::operator::format_time;
use anyhow::{Context, Result, bail};
use comfy_table::Table;
use gatehouse_pipeline::AuditEventKind;
use gatehouse_store::Store;
use std::path::Path;
use std::process::ExitCode;

/// Longest subject accepted (as the identity providers' rules).
const MAX_SUBJECT: usize = 256;

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    command: IdentitiesCommand,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let result = match command {
        IdentitiesCommand::Revoke(args) => revoke(&setup, &store, args).await,
        IdentitiesCommand::Restore(args) => restore(&setup, &store, args).await,
        IdentitiesCommand::List(output) => list(&store, output).await,
    };
    store.close().await;
    result
}

fn checked_subject(subject: &str) -> Result<&str> {
    let subject = subject.trim();
    if subject.is_empty() || subject.len() > MAX_SUBJECT || subject.chars().any(char::is_control) {
        bail!("`{subject}` is not a subject: give the identity's name as audit events show it");
    }
    Ok(subject)
}

/// Record an identity change in the audit log, fsynced, before reporting success.
async fn record(setup: &Setup, store: &Store, action: &str, detail: String) -> Result<()> {
    record_operator_change(setup, store, AuditEventKind::KeyChange, action, detail).await
}

async fn revoke(setup: &Setup, store: &Store, args: IdentityRevokeArgs) -> Result<ExitCode> {
    let subject = checked_subject(&args.subject)?;
    let revoked = store
        .revoke_identity(subject, args.reason.as_deref())
        .await?;
    let detail = format!(
        "revoked identity `{subject}`{}",
        args.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    );
    if let Err(error) = record(setup, store, "identity:revoke", detail).await {
        // The revocation stays: refusing access is the safe side of a failed record.
        return Err(error.context(
            "the identity is revoked, but the revocation could not be recorded in the audit log",
        ));
    }
    match args.output.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&revoked)?),
        OutputFormat::Text => println!(
            "revoked identity `{subject}`: its keys and tokens are refused, token exchanges for it are refused, \
             and its live sessions end within seconds (`gatehouse identities restore {subject}` lifts this)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn restore(setup: &Setup, store: &Store, args: IdentityRestoreArgs) -> Result<ExitCode> {
    let subject = checked_subject(&args.subject)?;
    if !store.restore_identity(subject).await? {
        bail!(
            "identity `{subject}` is not revoked; `gatehouse identities list` shows the revoked ones"
        );
    }
    record(
        setup,
        store,
        "identity:restore",
        format!("restored identity `{subject}`"),
    )
    .await
    .context("the identity is restored, but that could not be recorded in the audit log")?;
    match args.output.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({"subject": subject, "restored": true})
        ),
        OutputFormat::Text => println!(
            "restored identity `{subject}`: its unexpired, unrevoked keys and tokens work again"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(store: &Store, output: OutputArgs) -> Result<ExitCode> {
    let revoked = store.revoked_identities().await?;
    match output.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&revoked)?),
        OutputFormat::Text if revoked.is_empty() => println!("no identity is revoked"),
        OutputFormat::Text => {
            let mut table = Table::new();
            table.set_header(["subject", "revoked", "reason"]);
            for identity in &revoked {
                table.add_row([
                    identity.subject.clone(),
                    format_time(identity.revoked_at.saturating_mul(1000)),
                    identity.reason.clone().unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
