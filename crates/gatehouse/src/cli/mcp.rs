//! `gatehouse mcp`: serve the MCP tools (`crate::mcp`) over standard input and output to the
//! agent runtime that spawned this process, acting with the agent's own token.

use crate::cli::args::McpArgs;
use crate::client::gateway::gateway_ca_file;
use crate::config::setup::Setup;
use crate::mcp::{Agent, Base, GatehouseMcp};
use anyhow::{Result, anyhow};
use rmcp::ServiceExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: McpArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let token = crate::client::token::find(args.token_file.as_deref()).await?;
    let ca_file = gateway_ca_file(args.ca_file.as_deref(), &setup)?;
    // Open the gateway's store only where it exists: an MCP server beside the gateway reads
    // approvals from it; one elsewhere (only --gateway and --ca-file) still runs queries and
    // must not create an empty store in whatever directory the agent runtime started it in.
    let store = if setup.data_dir.join("gatehouse.db").exists() {
        Some(setup.store().await?)
    } else {
        None
    };
    let audit = match &store {
        Some(store) => Some(setup.audit_log(store)?),
        None => None,
    };
    let base = Arc::new(Base {
        setup: Arc::new(setup),
        store,
        gateway: args.gateway,
        ca_file,
        audit,
    });
    let agent = Agent {
        base: Arc::clone(&base),
        token,
    };
    let service = GatehouseMcp::stdio(agent)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| anyhow!("the MCP session could not start: {error}"))?;
    let ended = service.waiting().await;
    if let Some(audit) = &base.audit
        && let Err(error) = audit.flush().await
    {
        tracing::error!(%error, "the audit log could not be flushed");
    }
    if let Some(store) = &base.store {
        store.close().await;
    }
    ended.map_err(|error| anyhow!("the MCP session ended abnormally: {error}"))?;
    Ok(ExitCode::SUCCESS)
}
