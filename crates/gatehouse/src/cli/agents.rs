//! `gatehouse agents create|list|revoke`: the gateway operator's side of network-resident
//! agents. `create` issues the one-time enrolment token an agent exchanges for its own
//! credential on first contact; `list` shows each agent's state, version, connections and
//! when it was last seen; `revoke` refuses it from its next connection attempt.

use crate::cli::args::{AgentCreateArgs, AgentRevokeArgs, AgentsCommand, OutputArgs, OutputFormat};
use crate::cli::audit::record_operator_change;
use crate::config::ProviderKind;
use crate::config::setup::Setup;
use crate::server::operator::format_time;
use anyhow::{Context, Result, bail};
use comfy_table::Table;
use gatehouse_core::SecretString;
use gatehouse_pipeline::AuditEventKind;
use gatehouse_store::{AgentEnrolment, Store};
use std::path::Path;
use std::process::ExitCode;

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    command: AgentsCommand,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let result = match command {
        AgentsCommand::Create(args) => create(&setup, &store, args).await,
        AgentsCommand::List(output) => list(&store, output).await,
        AgentsCommand::Revoke(args) => revoke(&setup, &store, args).await,
    };
    store.close().await;
    result
}

async fn record(setup: &Setup, store: &Store, action: &str, detail: String) -> Result<()> {
    record_operator_change(setup, store, AuditEventKind::Agent, action, detail).await
}

async fn create(setup: &Setup, store: &Store, args: AgentCreateArgs) -> Result<ExitCode> {
    let name = args.name.trim();
    if !gatehouse_store::valid_agent_name(name) {
        bail!("`{name}` is not an agent name: use letters, digits, `-`, `_`, `.` (at most 64)");
    }
    let ttl = args
        .ttl
        .map(std::time::Duration::from)
        .unwrap_or(setup.config.agents.enrolment_ttl);
    if ttl.is_zero() {
        bail!("--ttl must be longer than zero");
    }
    let served: Vec<&str> = setup
        .config
        .connections
        .iter()
        .filter(|c| c.agents.iter().any(|a| a == name))
        .map(|c| c.name.as_str())
        .collect();
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let enrolment = match (&args.workload_provider, &args.workload_subject) {
        (None, None) => AgentEnrolment::Token { ttl_secs },
        (Some(provider), Some(subject)) => {
            check_workload_provider(setup, provider)?;
            if subject.trim().is_empty() {
                bail!("--workload-subject must not be empty");
            }
            AgentEnrolment::Workload { provider, subject }
        }
        _ => bail!("give --workload-provider and --workload-subject together"),
    };
    let (record, token) = store.create_agent(name, enrolment, args.replace).await?;
    let how = match (&token, &record.workload) {
        (Some(_), _) => format!(
            "enrolment token valid for {}",
            humantime::format_duration(ttl)
        ),
        (None, Some(workload)) => format!("authenticates with workload tokens of {workload}"),
        (None, None) => "no way to authenticate".to_owned(),
    };
    let detail = format!(
        "{} agent `{name}`: {how}",
        if args.replace {
            "re-created"
        } else {
            "created"
        },
    );
    if let Err(error) = record_change(setup, store, detail).await {
        // An agent nobody can see in the audit log must not be able to connect.
        let _ = store.revoke_agent(name).await;
        return Err(error
            .context("the agent could not be recorded in the audit log, so it was revoked again"));
    }
    match args.output.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "name": record.name,
                "enrolment_token": token.as_ref().map(SecretString::expose),
                "expires_at": record.enrolment_expires_at,
                "workload": record.workload,
                "connections": served,
            })
        ),
        OutputFormat::Text => {
            match &token {
                Some(token) => {
                    println!("{}", token.expose());
                    eprintln!(
                        "agent `{name}` created; the enrolment token above works once, until {} \
                         (give it to the agent as enrolment_token_env/enrolment_token_file)",
                        record
                            .enrolment_expires_at
                            .map(|at| format_time(at.saturating_mul(1000)))
                            .unwrap_or_default()
                    );
                }
                None => eprintln!(
                    "agent `{name}` created: it {how} (give the agent workload_token_file or workload_token_env)"
                ),
            }
            if served.is_empty() {
                eprintln!(
                    "note: no connection in the gateway's config names this agent yet: add `agents = [\"{name}\"]` to the connections it serves"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--workload-provider` must name a configured provider of kind `workload`.
fn check_workload_provider(setup: &Setup, provider: &str) -> Result<()> {
    let providers = &setup.config.identity_providers;
    match providers.iter().find(|p| p.name == provider) {
        Some(p) if p.kind == ProviderKind::Workload => Ok(()),
        Some(_) => bail!(
            "identity provider `{provider}` is for people (kind human); agents authenticate with a `workload` provider"
        ),
        None => {
            let names: Vec<&str> = providers
                .iter()
                .filter(|p| p.kind == ProviderKind::Workload)
                .map(|p| p.name.as_str())
                .collect();
            bail!(
                "no identity provider `{provider}` in the gateway's config; workload providers: [{}]",
                names.join(", ")
            )
        }
    }
}

async fn record_change(setup: &Setup, store: &Store, detail: String) -> Result<()> {
    record(setup, store, "agents:create", detail).await
}

async fn list(store: &Store, output: OutputArgs) -> Result<ExitCode> {
    let agents = store.agents().await?;
    match output.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&agents)?),
        OutputFormat::Text if agents.is_empty() => {
            println!("no agents; create one with `gatehouse agents create NAME`")
        }
        OutputFormat::Text => {
            let mut table = Table::new();
            table.set_header([
                "name",
                "state",
                "connected",
                "version",
                "connections",
                "last seen",
                "from",
            ]);
            for agent in &agents {
                table.add_row([
                    agent.name.clone(),
                    agent.state.to_owned(),
                    if agent.connected { "yes" } else { "no" }.to_owned(),
                    agent.version.clone().unwrap_or_default(),
                    agent.connections.join(", "),
                    agent
                        .last_seen_at
                        .map(|at| format_time(at.saturating_mul(1000)))
                        .unwrap_or_else(|| "never".to_owned()),
                    agent.peer.clone().unwrap_or_default(),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke(setup: &Setup, store: &Store, args: AgentRevokeArgs) -> Result<ExitCode> {
    let name = args.name.trim();
    if !store.revoke_agent(name).await? {
        bail!("no agent named `{name}`; `gatehouse agents list` shows them");
    }
    record(
        setup,
        store,
        "agents:revoke",
        format!("revoked agent `{name}`"),
    )
    .await
    .context("the agent is revoked, but that could not be recorded in the audit log")?;
    println!(
        "revoked agent `{name}`: its credential is refused, and a running gateway closes its tunnels (and the sessions through them) within seconds"
    );
    Ok(ExitCode::SUCCESS)
}
