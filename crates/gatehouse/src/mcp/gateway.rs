//! Running one SQL text through the gateway for a tool, as an ordinary PostgreSQL client (the
//! connection code of `gatehouse exec`): the gateway decides, masks and records it. Rows are
//! limited here, as they stream in — past the limit the client hangs up, so an unbounded
//! `SELECT *` floods neither the agent nor the gateway.
//!
//! A statement held for approval is reported as `pending` at once and the client hangs up,
//! which leaves the approval pending (exactly like `gatehouse exec`).

use super::agent::{Agent, ToolError};
use crate::client::gateway::{Pending, describe, drive, gateway_config};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_postgres::SimpleQueryMessage;

/// How long connecting to the gateway may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Run `sql` on `connection` as the agent and describe the outcome as a tool result:
/// `ok` (columns, rows, row_count, truncated), `denied` (reason, policy) or `pending`
/// (approval_id, expires_at, approve_with, message). Anything else is a tool error.
pub(crate) async fn run_sql(
    agent: &Agent,
    connection: &str,
    sql: &str,
    max_rows: usize,
) -> Result<Value, ToolError> {
    let (mut config, connector) = gateway_config(
        &agent.base.gateway,
        &agent.base.ca_file,
        connection,
        &agent.token,
        "gatehouse mcp",
    )
    .map_err(|error| ToolError::new(format!("{error:#}")))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    let (client, connection_driver) = match config.connect(connector).await {
        Ok(connected) => connected,
        Err(error)
            if error
                .as_db_error()
                .is_some_and(|db| db.code().code().starts_with("28")) =>
        {
            return Err(ToolError::new(format!(
                "the gateway refused the agent's gatehouse token ({}); the token was refused because it may be \
                 revoked or expired. Ask an administrator for a new key (`gatehouse keys create`) and restart the MCP server with it",
                describe(&error)
            )));
        }
        Err(error) => {
            return refusal(&error).ok_or_else(|| {
                ToolError::new(format!(
                    "cannot connect to the gateway at {}: {}; check that the gateway runs and that the token is valid",
                    agent.base.gateway,
                    describe(&error)
                ))
            });
        }
    };
    let (notices, mut noticed) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(drive(connection_driver, notices));
    let (outcome, finished) = read(&client, sql, max_rows, &mut noticed).await;
    drop(client);
    if !finished {
        // Hang up on what is still in flight: a held statement (the approval stays pending)
        // or the rows past the limit.
        driver.abort();
    }
    let _ = driver.await;
    outcome
}

/// What the statement produced, reading at most `max_rows` rows, and whether the exchange
/// finished (false when a held statement or more rows are still in flight).
async fn read(
    client: &tokio_postgres::Client,
    sql: &str,
    max_rows: usize,
    noticed: &mut tokio::sync::mpsc::UnboundedReceiver<Pending>,
) -> (Result<Value, ToolError>, bool) {
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<Value> = Vec::new();
    let mut row_count: u64 = 0;
    let mut truncated = false;
    let stream = tokio::select! {
        stream = client.simple_query_raw(sql) => stream,
        Some(pending) = noticed.recv() => return (Ok(pending_json(&pending)), false),
    };
    let stream = match stream {
        Ok(stream) => stream,
        Err(error) => return (refusal(&error).ok_or_else(|| query_error(&error)), true),
    };
    let mut stream = std::pin::pin!(stream);
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            Some(pending) = noticed.recv() => return (Ok(pending_json(&pending)), false),
        };
        match message {
            None => break,
            Some(Ok(SimpleQueryMessage::RowDescription(described))) => {
                columns = described.iter().map(|c| c.name().to_owned()).collect();
                rows.clear();
            }
            Some(Ok(SimpleQueryMessage::Row(row))) => {
                if rows.len() >= max_rows {
                    truncated = true;
                    break;
                }
                let values: Vec<Value> = (0..row.len())
                    .map(|i| row.get(i).map_or(Value::Null, Value::from))
                    .collect();
                rows.push(Value::from(values));
            }
            Some(Ok(SimpleQueryMessage::CommandComplete(count))) => row_count = count,
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                return (refusal(&error).ok_or_else(|| query_error(&error)), true);
            }
        }
    }
    if truncated {
        row_count = rows.len() as u64;
    }
    let value = json!({
        "status": "ok",
        "columns": columns,
        "rows": rows,
        "row_count": row_count,
        "truncated": truncated,
    });
    (Ok(value), !truncated)
}

fn pending_json(pending: &Pending) -> Value {
    json!({
        "status": "pending",
        "approval_id": pending.approval_id,
        "expires_at": pending.expires_at,
        "approve_with": pending.approve_with,
        "message": format!(
            "policy holds this statement for approval {id}; a reviewer approves it with `{with}`. \
             Call approval_status with approval_id {id} (wait_seconds up to 50 to wait), then run_approved once it is approved",
            id = pending.approval_id,
            with = pending.approve_with
        ),
    })
}

/// A refusal by gatehouse's policy (SQLSTATE 42501 from the gateway) as a `denied` result.
fn refusal(error: &tokio_postgres::Error) -> Option<Value> {
    let db = error.as_db_error()?;
    if db.code().code() != "42501" || !db.message().starts_with("gatehouse:") {
        return None;
    }
    let reason = db
        .message()
        .trim_start_matches("gatehouse:")
        .trim()
        .trim_start_matches("permission denied:")
        .trim()
        .to_owned();
    let policy = db
        .detail()
        .and_then(|detail| {
            gatehouse_pipeline::client_detail::field(
                detail,
                gatehouse_pipeline::client_detail::POLICY,
            )
        })
        .map(str::to_owned);
    let message = format!(
        "denied by policy `{}`: {reason}; ask an admin, or use request_access to ask for a group's rights on this connection for a while",
        policy.as_deref().unwrap_or("default-deny")
    );
    Some(json!({
        "status": "denied",
        "reason": reason,
        "policy": policy,
        "message": message,
    }))
}

fn query_error(error: &tokio_postgres::Error) -> ToolError {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "the statement failed: {} (SQLSTATE {})",
                db.message(),
                db.code().code()
            );
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            ToolError::new(text)
        }
        None => ToolError::new(format!(
            "the gateway connection failed: {}; try again, and check that the gateway runs",
            describe(error)
        )),
    }
}
