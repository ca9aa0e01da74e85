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
    let actions: Vec<Action> = if let Some(command) = &args.ssh {
        vec![Action::of(gatehouse_ssh_gateway::request_of_exec(command))]
    } else if let Some(request) = &args.http {
        vec![Action::of(http_request(
            request,
            &args.headers,
            args.body.as_deref().unwrap_or_default(),
        )?)]
    } else {
        match (&args.sql, &args.k8s, args.connect, args.unmasked) {
            (Some(sql), _, _, _) => gatehouse_sql::classify(sql)
                .into_iter()
                .map(|c| Action::of(c.statement))
                .collect(),
            (None, Some(request), _, _) => vec![Action::of(kube_request(
                request,
                args.patch.as_deref(),
                &args.patch_type,
            )?)],
            (None, None, true, _) => vec![Action::Connect],
            (None, None, false, true) => vec![Action::ViewUnmasked],
            (None, None, false, false) => {
                bail!(
                    "say what to check: --sql \"...\", --k8s \"METHOD PATH\", --http \"METHOD PATH\", --ssh \"COMMAND\", --connect or --unmasked"
                )
            }
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
                    let (reads, writes, functions, reason) =
                        match action.downcast_ref::<SqlStatement>() {
                            Some(s) => (
                                s.reads.clone(),
                                s.writes.clone(),
                                s.functions.clone(),
                                s.reason.clone(),
                            ),
                            None => (vec![], vec![], vec![], None),
                        };
                    let statement = action.request().map(|request| request.text().to_owned());
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

/// `--http "METHOD PATH"` (with `--header`s and `--body`) as the gateway would read the
/// request; JSON bodies up to the default `[http] json_body_limit` are read for fields.
fn http_request(
    request: &str,
    headers: &[String],
    body: &str,
) -> Result<gatehouse_httpapi::HttpApiRequest> {
    let Some((method, target)) = request.trim().split_once(' ') else {
        bail!("--http takes \"METHOD PATH\", e.g. \"GET /api/queues\"");
    };
    let mut pairs = Vec::new();
    for header in headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("--header takes \"NAME: VALUE\", e.g. \"Content-Type: application/json\"");
        };
        pairs.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header_refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let selected: Vec<String> = pairs.iter().map(|(name, _)| name.clone()).collect();
    let attributes = gatehouse_httpapi::attribute(&gatehouse_httpapi::HttpInput {
        method,
        target: target.trim(),
        headers: &header_refs,
        selected_headers: &selected,
        body: body.as_bytes(),
        json_body_limit: crate::config::http::HttpListenerConfig::default().json_body_limit,
        websocket: false,
    })
    .map_err(|error| anyhow::anyhow!("the gateway would refuse this request: {error}"))?;
    Ok(gatehouse_httpapi::HttpApiRequest::new(attributes))
}

/// `--k8s "METHOD PATH"` (and `--patch`) as the gateway would decode the request.
fn kube_request(
    request: &str,
    patch: Option<&str>,
    patch_type: &str,
) -> Result<gatehouse_k8s_gateway::KubeRequest> {
    let Some((method, target)) = request.trim().split_once(' ') else {
        bail!("--k8s takes \"METHOD PATH\", e.g. \"GET /api/v1/namespaces/default/pods\"");
    };
    let method = method.to_ascii_uppercase();
    let attributes = gatehouse_k8s::attribute(&method, target.trim())
        .map_err(|error| anyhow::anyhow!("the gateway would refuse this request: {error}"))?;
    let body = patch.unwrap_or_default().as_bytes();
    let summary = match (method.as_str(), patch) {
        ("PATCH", Some(_)) => {
            let content_type = match patch_type {
                "merge" => "application/merge-patch+json",
                "json" => "application/json-patch+json",
                "apply" => "application/apply-patch+yaml",
                _ => "application/strategic-merge-patch+json",
            };
            Some(
                gatehouse_k8s::patch_paths(content_type, body).map_err(|error| {
                    anyhow::anyhow!("the gateway would refuse this patch: {error}")
                })?,
            )
        }
        ("PATCH", None) => bail!("a PATCH needs its patch: --patch '{{...}}'"),
        _ => None,
    };
    let target = attributes.request_target();
    Ok(gatehouse_k8s_gateway::KubeRequest::new(
        &method,
        attributes,
        &target,
        format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(body)),
        summary,
    ))
}
