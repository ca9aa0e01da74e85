//! Every MCP tool call is an audit event of its own (`tool_call`, action `mcp:<tool>`), written
//! before the tool runs and naming the agent's identity and delegation chain, the connection
//! and any SQL it was given — never what the tool returns. The SQL then goes through the
//! gateway, which records its own decision and outcome as for any client. A call that cannot be
//! recorded does not run (fail closed).

use super::agent::{Agent, ToolError};
use gatehouse_pipeline::{AuditEvent, AuditEventKind, AuditIdentity, Durability, now_unix_ms};
use rmcp::model::JsonObject;
use serde_json::Value;

/// Longest argument summary kept in an event.
const MAX_DETAIL: usize = 1024;

/// Record that the agent calls `tool` with `arguments`.
pub(crate) async fn record_call(
    agent: &Agent,
    tool: &str,
    arguments: &JsonObject,
) -> Result<(), ToolError> {
    let Some(log) = &agent.base.audit else {
        // No store here (query-only mode): the gateway records the SQL itself.
        return Ok(());
    };
    let identity = agent.identity().await?;
    let text = |name: &str| {
        arguments
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut others = arguments.clone();
    others.remove("sql");
    let mut detail = format!("MCP tool `{tool}` called with {}", Value::Object(others));
    if detail.len() > MAX_DETAIL {
        let mut end = MAX_DETAIL;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
        detail.push('…');
    }
    let event = AuditEvent {
        time_unix_ms: now_unix_ms(),
        kind: AuditEventKind::ToolCall,
        identity: AuditIdentity::of(&identity).into(),
        acting_for: identity.acting_for.clone(),
        session: None,
        connection: text("connection"),
        source_address: None,
        action: Some(format!("mcp:{tool}")),
        decision: None,
        policies: Vec::new(),
        request: text("sql"),
        fingerprint: None,
        outcome: None,
        refers_to: None,
        detail: Some(detail),
        context: None,
    };
    log.append(&[event], Durability::Windowed)
        .await
        .map(|_| ())
        .map_err(|error| {
            ToolError::new(format!(
                "the tool call could not be recorded in the audit log ({error}); gatehouse fails closed, \
                 so nothing ran. Try again later, or ask an administrator to check the gateway's audit store"
            ))
        })
}
