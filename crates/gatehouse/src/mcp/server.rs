//! The MCP server: rmcp's `ServerHandler` with the tool catalogue, dispatching each call to its
//! tool and turning outcomes into structured results and failures into tool errors (which the
//! agent sees and can act on, unlike protocol errors).

use super::agent::{Agent, Base, ToolError};
use super::tools::{self, DEFAULT_MAX_ROWS, MAX_ROWS_CAP};
use super::{access, approvals, connections, gateway};
use rmcp::ErrorData;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::{RequestContext, RoleServer};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

const INSTRUCTIONS: &str = "gatehouse governs database access: every statement you run with these tools is decided \
by policy, masked and audited under your own identity. Start with list_connections and describe_connection. \
query answers ok, denied or pending; for pending, a person approves (approval_status waits for it) and \
run_approved runs exactly the approved statement. request_access asks for a group's rights for a while.";

/// Where a call's agent comes from: one fixed agent for a stdio session, or the bearer token of
/// each HTTP request (verified by the `/mcp` route before it gets here).
enum Agents {
    Stdio(Arc<Agent>),
    Http(Arc<Base>),
}

pub(crate) struct GatehouseMcp {
    agents: Agents,
}

impl GatehouseMcp {
    pub(crate) fn stdio(agent: Agent) -> Self {
        GatehouseMcp {
            agents: Agents::Stdio(Arc::new(agent)),
        }
    }

    pub(crate) fn http(base: Arc<Base>) -> Self {
        GatehouseMcp {
            agents: Agents::Http(base),
        }
    }

    /// The agent making this call.
    fn agent(&self, context: &RequestContext<RoleServer>) -> Result<Arc<Agent>, ToolError> {
        match &self.agents {
            Agents::Stdio(agent) => Ok(Arc::clone(agent)),
            Agents::Http(base) => {
                let token = context
                    .extensions
                    .get::<axum::http::request::Parts>()
                    .and_then(|parts| super::http::bearer(&parts.headers))
                    .ok_or_else(|| {
                        ToolError::new(
                            "no gatehouse token: send it as `Authorization: Bearer <token>`",
                        )
                    })?;
                Ok(Arc::new(Agent {
                    base: Arc::clone(base),
                    token,
                }))
            }
        }
    }

    pub(crate) async fn dispatch(
        agent: &Agent,
        name: &str,
        arguments: JsonObject,
    ) -> Result<Value, ToolError> {
        match name {
            tools::LIST_CONNECTIONS => {
                let _: Empty = parse(name, arguments)?;
                connections::list(agent).await
            }
            tools::DESCRIBE_CONNECTION => {
                let args: tools::ConnectionArgs = parse(name, arguments)?;
                connections::describe(agent, &args.connection).await
            }
            tools::QUERY => {
                let args: tools::QueryArgs = parse(name, arguments)?;
                agent.knows(&args.connection)?;
                let max_rows = args
                    .max_rows
                    .unwrap_or(DEFAULT_MAX_ROWS)
                    .clamp(1, MAX_ROWS_CAP);
                gateway::run_sql(
                    agent,
                    &args.connection,
                    &args.sql,
                    usize::try_from(max_rows).unwrap_or(1),
                )
                .await
            }
            tools::APPROVAL_STATUS => {
                let args: tools::ApprovalStatusArgs = parse(name, arguments)?;
                approvals::status(agent, &args.approval_id, args.wait_seconds.unwrap_or(0)).await
            }
            tools::RUN_APPROVED => {
                let args: tools::RunApprovedArgs = parse(name, arguments)?;
                approvals::run(
                    agent,
                    &args.approval_id,
                    usize::try_from(DEFAULT_MAX_ROWS).unwrap_or(1),
                )
                .await
            }
            tools::REQUEST_ACCESS => {
                let args: tools::RequestAccessArgs = parse(name, arguments)?;
                access::request(
                    agent,
                    &args.connection,
                    &args.group,
                    &args.duration,
                    &args.reason,
                )
                .await
            }
            other => Err(ToolError::new(format!(
                "there is no tool `{other}`; the tools are list_connections, describe_connection, query, \
                 approval_status, run_approved and request_access"
            ))),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn parse<T: DeserializeOwned>(tool: &str, arguments: JsonObject) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(arguments)).map_err(|error| {
        ToolError::new(format!(
            "invalid arguments for {tool}: {error}; see the tool's input schema"
        ))
    })
}

impl ServerHandler for GatehouseMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("gatehouse", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let arguments = request.arguments.unwrap_or_default();
        let outcome = match self.agent(&context) {
            Ok(agent) => match super::audit::record_call(&agent, &name, &arguments).await {
                Ok(()) => Self::dispatch(&agent, &name, arguments).await,
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        let result = match outcome {
            Ok(value) => CallToolResult::structured(value),
            Err(ToolError(message)) => {
                tracing::info!(tool = %name, %message, "MCP tool call failed");
                CallToolResult::error(vec![ContentBlock::text(message)])
            }
        };
        Ok(result.into())
    }
}
