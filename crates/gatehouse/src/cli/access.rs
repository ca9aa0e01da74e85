//! `gatehouse access request`: ask for a group's rights on one connection for a limited time.
//!
//! The request is an approval like any held statement (so reviewers use the same
//! `gatehouse approvals` commands, API and notifications): action `access:grant`, fingerprint
//! `access:<group>`, usable for the requested duration once approved. The requester acts with
//! their own token; the request is recorded in the audit log before it is reported.

use crate::cli::args::{AccessRequestArgs, OutputFormat};
use crate::config::setup::Setup;
use crate::server::access_requests::{create_request, validate};
use anyhow::Result;
use gatehouse_pipeline::rfc3339;
use std::path::Path;
use std::process::ExitCode;

pub async fn request(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: AccessRequestArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    validate(&setup, &args.connection, args.duration, &args.reason)?;
    let token = crate::client::token::find(args.token_file.as_deref()).await?;
    let record = create_request(
        &setup,
        &token,
        &args.connection,
        &args.group,
        args.duration,
        &args.reason,
    )
    .await?;
    let duration: std::time::Duration = args.duration.into();
    let approve_with = format!("gatehouse approvals approve {}", record.id);
    match args.output.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({
                "status": "pending",
                "approval_id": record.id,
                "approve_with": approve_with,
                "expires_at": rfc3339(record.expires_unix_ms),
                "group": args.group,
                "connection": args.connection,
                "duration_seconds": duration.as_secs(),
            })
        ),
        OutputFormat::Text => println!(
            "requested: group `{}` on `{}` for {} (approval {})\na member of `{}` approves it with: {approve_with}\nthe request expires at {} if nobody decides",
            args.group,
            args.connection,
            args.duration,
            record.id,
            record.need.group,
            rfc3339(record.expires_unix_ms)
        ),
    }
    Ok(ExitCode::SUCCESS)
}
