//! `request_access`: ask for a group's rights on one connection for a while — the same request
//! as `gatehouse access request` (stored as an approval, recorded in the audit log), made with
//! the agent's token.

use super::agent::{Agent, ToolError};
use gatehouse_pipeline::rfc3339;
use serde_json::{Value, json};

pub(crate) async fn request(
    agent: &Agent,
    connection: &str,
    group: &str,
    duration: &str,
    reason: &str,
) -> Result<Value, ToolError> {
    agent.knows(connection)?;
    agent.identity().await?;
    let duration_text: humantime::Duration = duration.trim().parse().map_err(|error| {
        ToolError::new(format!(
            "duration `{duration}` is not a duration ({error}); write it like `30m`, `2h` or `1h 30m`"
        ))
    })?;
    let record = crate::server::access_requests::create_request(
        &agent.base.setup,
        &agent.token,
        connection,
        group,
        duration_text,
        reason,
    )
    .await
    .map_err(|error| {
        ToolError::new(
            format!("{error:#}")
                .replace("--for", "duration")
                .replace("--reason", "reason"),
        )
    })?;
    let approve_with = format!("gatehouse approvals approve {}", record.id);
    let seconds: std::time::Duration = duration_text.into();
    Ok(json!({
        "status": "pending",
        "approval_id": record.id,
        "approve_with": approve_with,
        "expires_at": rfc3339(record.expires_unix_ms),
        "group": group,
        "connection": connection,
        "duration_seconds": seconds.as_secs(),
        "message": format!(
            "a member of `{}` approves it with `{approve_with}`; call approval_status with approval_id {} \
             (wait_seconds up to 50 to wait), then use query: the rights apply for {} once approved",
            record.need.group, record.id, duration_text
        ),
    }))
}
