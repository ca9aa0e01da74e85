//! The Model Context Protocol for AI agents. Agents plan and act in a loop and
//! need gatehouse most; this gives them tools whose every statement goes through the gateway as
//! an ordinary client with the agent's own token — policy, approvals, masking and the audit
//! log apply exactly as for psql, and there is no side door to the databases.
//!
//! `gatehouse mcp` (`crate::cli`) speaks it over standard input and output (for runtimes that
//! spawn their tools; logs go to standard error); `gatehouse serve` offers the same tools over Streamable
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
