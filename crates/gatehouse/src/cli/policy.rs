//! `gatehouse policy check`: decide a request with the configured policy, offline.

use crate::cli::args::{OutputFormat, PolicyCheckArgs};
use crate::config::setup::Setup;
use anyhow::{Result, bail};
use gatehouse_core::{Action, Identity, SqlStatement};
use gatehouse_policy::PolicyRequest;
use std::path::Path;
use std::process::ExitCode;

pub fn check(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: PolicyCheckArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let policy = setup.policy()?;
    let Some(connection) = setup
        .config
        .connections
        .iter()
        .find(|c| c.name == args.connection)
    else {
        let names: Vec<&str> = setup
            .config
            .connections
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        bail!(
            "no connection named `{}` in the configuration; known: [{}]",
            args.connection,
            names.join(", ")
        );
    };
    let connection = connection.info();
    let identity = Identity::new(
        args.identity.clone(),
        args.kind.parse().map_err(anyhow::Error::msg)?,
        args.groups.clone(),
    );
    let actions: Vec<Action> = match (&args.sql, args.connect, args.unmasked) {
        (Some(sql), _, _) => gatehouse_sql::classify(sql)
            .into_iter()
            .map(|c| Action::of(c.statement))
            .collect(),
        (None, true, _) => vec![Action::Connect],
        (None, false, true) => vec![Action::ViewUnmasked],
        (None, false, false) => {
            bail!("say what to check: --sql \"...\", --connect or --unmasked")
        }
    };
    if actions.is_empty() {
        bail!("--sql holds no statement (only whitespace or comments)");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0);
    let mut results = Vec::new();
    for action in &actions {
        let verdict = policy.decide(&PolicyRequest {
            identity: &identity,
            connection: &connection,
            action,
            source_address: None,
            now_unix_seconds: now,
        });
        results.push((action, verdict));
    }
    let overall = if results.iter().all(|(_, v)| v.allowed) {
        "allow"
    } else if results.iter().all(|(_, v)| v.allowed || v.hold.is_some()) {
        "hold"
    } else {
        "deny"
    };
    match args.output.output {
        OutputFormat::Json => {
            let statements: Vec<serde_json::Value> = results
                .iter()
                .map(|(action, verdict)| {
                    let (statement, reads, writes, functions, reason) =
                        match action.downcast_ref::<SqlStatement>() {
                            Some(s) => (
                                Some(s.text.clone()),
                                s.reads.clone(),
                                s.writes.clone(),
                                s.functions.clone(),
                                s.reason.clone(),
                            ),
                            None => (None, vec![], vec![], vec![], None),
                        };
                    serde_json::json!({
                        "action": action.name(),
                        "decision": decision_of(verdict),
                        "approval": verdict.hold,
                        "policies": verdict.determining_policies,
                        "default_deny": !verdict.allowed && verdict.determining_policies.is_empty(),
                        "errors": verdict.errors,
                        "statement": statement,
                        "reads": reads,
                        "writes": writes,
                        "functions": functions,
                        "reason": reason,
                    })
                })
                .collect();
            let value = serde_json::json!({
                "decision": overall,
                "identity": identity.subject,
                "groups": identity.groups,
                "connection": connection.name,
                "policy_version": policy.version(),
                "requests": statements,
            });
            println!("{value}");
        }
        OutputFormat::Text => {
            for (action, verdict) in &results {
                let decided_by = if verdict.determining_policies.is_empty() {
                    "default-deny (no policy permits it)".to_owned()
                } else {
                    verdict.determining_policies.join(", ")
                };
                let what = action
                    .request()
                    .map(|request| format!(" {}", request.text()))
                    .unwrap_or_default();
                println!(
                    "{:<5}  {}{}\n      decided by: {}",
                    decision_of(verdict).to_uppercase(),
                    action.name(),
                    what,
                    decided_by
                );
                if let Some(need) = &verdict.hold {
                    println!(
                        "      needs approval: {} of group `{}` (usable for {} min once approved); \
                         through the gateway it waits for `gatehouse approvals approve ID`",
                        need.required,
                        need.group,
                        need.ttl_seconds / 60
                    );
                }
                if let Some(reason) = action.request().and_then(|request| request.explanation()) {
                    println!("      note: the statement {reason}");
                }
                for error in &verdict.errors {
                    println!("      error: {error}");
                }
            }
            println!("overall: {overall} (policy version {})", policy.version());
        }
    }
    Ok(match overall {
        "allow" => ExitCode::SUCCESS,
        "hold" => ExitCode::from(3),
        _ => ExitCode::from(4),
    })
}

/// `allow`, `hold` (permitted once approved) or `deny`.
fn decision_of(verdict: &gatehouse_policy::PolicyVerdict) -> &'static str {
    if verdict.allowed {
        "allow"
    } else if verdict.hold.is_some() {
        "hold"
    } else {
        "deny"
    }
}
