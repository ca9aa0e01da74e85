//! The tool catalogue: stable names, what each tool is for (agents read the descriptions to
//! decide), JSON schemas for inputs and outputs, and the typed arguments they parse into.

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Rows `query` returns when `max_rows` is not given.
pub(crate) const DEFAULT_MAX_ROWS: u64 = 1_000;
/// The most rows `query` ever returns.
pub(crate) const MAX_ROWS_CAP: u64 = 10_000;

pub(crate) const LIST_CONNECTIONS: &str = "list_connections";
pub(crate) const DESCRIBE_CONNECTION: &str = "describe_connection";
pub(crate) const QUERY: &str = "query";
pub(crate) const APPROVAL_STATUS: &str = "approval_status";
pub(crate) const RUN_APPROVED: &str = "run_approved";
pub(crate) const REQUEST_ACCESS: &str = "request_access";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectionArgs {
    pub(crate) connection: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryArgs {
    pub(crate) connection: String,
    pub(crate) sql: String,
    pub(crate) max_rows: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalStatusArgs {
    pub(crate) approval_id: String,
    pub(crate) wait_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunApprovedArgs {
    pub(crate) approval_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestAccessArgs {
    pub(crate) connection: String,
    pub(crate) group: String,
    pub(crate) duration: String,
    pub(crate) reason: String,
}

/// Every tool this server offers.
pub(crate) fn all() -> Vec<Tool> {
    vec![
        tool(
            LIST_CONNECTIONS,
            "List the database connections you may connect to through gatehouse (name, kind, environment, description). \
             Start here.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            json!({
                "type": "object",
                "properties": {
                    "identity": {"type": "string"},
                    "connections": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "kind": {"type": "string"},
                            "environment": {"type": "string"},
                            "description": {"type": "string"}
                        },
                        "required": ["name", "kind"]
                    }}
                },
                "required": ["connections"]
            }),
            true,
        ),
        tool(
            DESCRIBE_CONNECTION,
            "List the tables and columns of a connection that you may read, via the gateway (policy applies). Columns \
             masked whole by a masking rule are flagged `masked: true`.",
            json!({
                "type": "object",
                "properties": {"connection": {"type": "string", "description": "Connection name from list_connections."}},
                "required": ["connection"],
                "additionalProperties": false
            }),
            status_schema(),
            true,
        ),
        tool(
            QUERY,
            "Run SQL on a connection through the gatehouse gateway, as you: policy decides, results come back masked, \
             everything is audited. Returns status `ok` (columns, rows, row_count, truncated), `denied` (reason, \
             policy: ask an admin or use request_access) or `pending` (a reviewer must approve: poll approval_status, \
             then call run_approved). At most max_rows rows are returned (default 1000, at most 10000).",
            json!({
                "type": "object",
                "properties": {
                    "connection": {"type": "string", "description": "Connection name from list_connections."},
                    "sql": {"type": "string", "description": "PostgreSQL SQL to run."},
                    "max_rows": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS_CAP, "default": DEFAULT_MAX_ROWS}
                },
                "required": ["connection", "sql"],
                "additionalProperties": false
            }),
            status_schema(),
            false,
        ),
        tool(
            APPROVAL_STATUS,
            "The state of an approval you asked for (or may review): pending, approved, denied, expired, cancelled or \
             executed. With wait_seconds (at most 50) it waits until the approval is no longer pending.",
            json!({
                "type": "object",
                "properties": {
                    "approval_id": {"type": "string", "description": "`ap-` and 16 hex characters, from query or request_access."},
                    "wait_seconds": {"type": "integer", "minimum": 0, "maximum": super::approvals::MAX_WAIT_SECONDS}
                },
                "required": ["approval_id"],
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "approval_id": {"type": "string"},
                    "state": {"type": "string", "enum": ["pending", "approved", "denied", "expired", "cancelled", "executed"]},
                    "connection": {"type": "string"},
                    "statement": {"type": "string"},
                    "expires_at": {"type": "string"},
                    "next": {"type": "string"}
                },
                "required": ["approval_id", "state"]
            }),
            true,
        ),
        tool(
            RUN_APPROVED,
            "Run the statement an approved approval of yours is bound to, exactly as it was approved, once. Same result \
             shape as query.",
            json!({
                "type": "object",
                "properties": {"approval_id": {"type": "string"}},
                "required": ["approval_id"],
                "additionalProperties": false
            }),
            status_schema(),
            false,
        ),
        tool(
            REQUEST_ACCESS,
            "Ask for a group's rights on one connection for a limited time (e.g. writers on demo for 30m). A reviewer \
             approves it; poll approval_status, then use query.",
            json!({
                "type": "object",
                "properties": {
                    "connection": {"type": "string"},
                    "group": {"type": "string", "description": "Group whose rights you need, e.g. writers."},
                    "duration": {"type": "string", "description": "How long, e.g. `30m` or `2h`."},
                    "reason": {"type": "string", "description": "Why; reviewers decide on it."}
                },
                "required": ["connection", "group", "duration", "reason"],
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "status": {"type": "string", "enum": ["pending"]},
                    "approval_id": {"type": "string"},
                    "approve_with": {"type": "string"},
                    "expires_at": {"type": "string"}
                },
                "required": ["status", "approval_id"]
            }),
            false,
        ),
    ]
}

/// The output of the tools that run SQL: `ok`, `denied` or `pending`.
fn status_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok", "denied", "pending"]},
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "array"}},
            "row_count": {"type": "integer"},
            "truncated": {"type": "boolean"},
            "reason": {"type": "string"},
            "policy": {"type": ["string", "null"]},
            "approval_id": {"type": "string"},
            "expires_at": {"type": "string"},
            "approve_with": {"type": "string"},
            "message": {"type": "string"}
        },
        "required": ["status"]
    })
}

fn tool(
    name: &'static str,
    description: &'static str,
    input: Value,
    output: Value,
    read_only: bool,
) -> Tool {
    let mut tool = Tool::new(name, description, object(input));
    tool.output_schema = Some(object(output));
    let mut annotations = ToolAnnotations::default();
    annotations.read_only_hint = Some(read_only);
    annotations.open_world_hint = Some(false);
    tool.annotations = Some(annotations);
    tool
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}
