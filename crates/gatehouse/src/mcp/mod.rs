//! `gatehouse mcp`: the Model Context Protocol for AI agents. Agents plan and act in a loop and
//! need gatehouse most; this gives them tools whose every statement goes through the gateway as
//! an ordinary client with the agent's own token — policy, approvals, masking and the audit
//! log apply exactly as for psql, and there is no side door to the databases.
//!
//! `gatehouse mcp` speaks MCP over standard input and output (for runtimes that spawn their
//! tools; logs go to standard error); `gatehouse serve` offers the same tools over Streamable
//! HTTP at `/mcp` on the admin listener ([`http`]). Approval and grant tools read the gateway's
//! store, like `gatehouse approvals show` and `gatehouse access request` do.

mod access;
mod agent;
mod approvals;
mod audit;
mod connections;
mod gateway;
mod http;
mod server;
mod tools;

pub(crate) use agent::{Agent, Base};
pub(crate) use http::routes;
pub(crate) use server::GatehouseMcp;

use crate::args::McpArgs;
use crate::setup::Setup;
use crate::tls::generated_cert_path;
use anyhow::{Result, anyhow, bail};
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
    let token = crate::client_token::find(args.token_file.as_deref()).await?;
    let ca_file = match &args.ca_file {
        Some(file) => file.clone(),
        None => generated_cert_path(&setup.data_dir),
    };
    if !ca_file.exists() {
        bail!(
            "no CA certificate to verify the gateway with: `{}` does not exist. Pass --ca-file with the gateway's \
             certificate (gatehouse never skips certificate verification), or run beside the gateway with the same --data-dir",
            ca_file.display()
        );
    }
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
    let base = Arc::new(agent::Base {
        setup,
        store,
        gateway: args.gateway,
        ca_file,
        audit,
    });
    let agent = agent::Agent {
        base: Arc::clone(&base),
        token,
    };
    let service = server::GatehouseMcp::stdio(agent)
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
