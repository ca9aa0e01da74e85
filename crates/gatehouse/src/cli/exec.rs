//! `gatehouse exec`: run SQL through the gateway as an ordinary client (TLS verified, token as
//! password) and print the result for people (a table) or programs (one JSON object).
//!
//! When policy holds the statement for approval, the gateway sends a notice naming the
//! approval and waits; exec answers `pending` at once (exit status 3) and hangs up, which
//! leaves the approval pending — unless asked to `--wait`. Running the same statement again
//! once it is approved runs it.

use crate::cli::args::{ExecArgs, OutputFormat};
use crate::client::gateway::{Pending, describe, drive, gateway_ca_file, gateway_config};
use crate::config::setup::Setup;
use anyhow::Result;
use comfy_table::Table;
use gatehouse_pipeline::client_detail;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use tokio_postgres::SimpleQueryMessage;

/// Exit status when the statement waits for an approval.
const EXIT_PENDING: u8 = 3;
/// Exit status when policy refused the statement.
const EXIT_DENIED: u8 = 4;

/// What a run produced, in the shape of the JSON output.
struct Outcome {
    status: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    row_count: u64,
    message: Option<String>,
    policy: Option<String>,
    pending: Option<Pending>,
}

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: ExecArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let token = crate::client::token::find(args.token_file.as_deref()).await?;
    let ca_file = gateway_ca_file(args.ca_file.as_deref(), &setup)?;
    let mismatch = match &args.approval {
        Some(id) => crate::client::exec_approval::mismatch(&setup, id, &args.sql).await,
        None => None,
    };
    let outcome = match mismatch {
        Some(reason) => Err(anyhow::anyhow!(reason)),
        None => execute(&args, &token, &ca_file).await,
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => Outcome {
            status: "error",
            columns: vec![],
            rows: vec![],
            row_count: 0,
            message: Some(format!("{error:#}")),
            policy: None,
            pending: None,
        },
    };
    print(&outcome, args.output.output);
    Ok(match outcome.status {
        "ok" => ExitCode::SUCCESS,
        "pending" => ExitCode::from(EXIT_PENDING),
        "denied" => ExitCode::from(EXIT_DENIED),
        _ => ExitCode::FAILURE,
    })
}

async fn execute(args: &ExecArgs, token: &str, ca_file: &Path) -> Result<Outcome> {
    let (config, connector) = gateway_config(
        &args.gateway,
        ca_file,
        &args.connection,
        token,
        "gatehouse exec",
    )?;
    let (client, connection) = config.connect(connector).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to the gateway at {}: {}",
            args.gateway,
            describe(&e)
        )
    })?;
    let (notices, mut noticed) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(drive(connection, notices));
    let mut query = Box::pin(client.simple_query(&args.sql));
    let result = loop {
        tokio::select! {
            result = &mut query => break Ok(Ok(result)),
            Some(pending) = noticed.recv() => {
                if let Some(expected) = &args.approval
                    && *expected != pending.approval_id
                {
                    break Err(anyhow::anyhow!(
                        "approval {expected} cannot run this statement: the gateway holds it for approval {} instead, so {expected} was granted for other text, another identity or an older policy version, or was already used or expired (`gatehouse approvals show {expected}` says which); {} is pending now",
                        pending.approval_id,
                        pending.approval_id
                    ));
                }
                if !args.wait && args.approval.is_none() {
                    break Ok(Err(pending));
                }
            }
        }
    };
    drop(query);
    drop(client);
    if !matches!(result, Ok(Ok(_))) {
        // Pending, or held for an approval other than the one asked for: the request is still
        // in flight, so the connection would wait for its answer (the gateway's whole
        // `[approvals] wait`); hang up instead (the approval stays pending).
        driver.abort();
    }
    let _ = driver.await;
    Ok(match result? {
        Ok(Ok(messages)) => collect(messages),
        Ok(Err(error)) => refusal_or_error(&error),
        Err(pending) => Outcome {
            status: "pending",
            columns: vec![],
            rows: vec![],
            row_count: 0,
            message: Some(format!(
                "the statement waits for approval {}; once it is approved, run the same statement again",
                pending.approval_id
            )),
            policy: None,
            pending: Some(pending),
        },
    })
}

fn collect(messages: Vec<SimpleQueryMessage>) -> Outcome {
    let mut outcome = Outcome {
        status: "ok",
        columns: vec![],
        rows: vec![],
        row_count: 0,
        message: None,
        policy: None,
        pending: None,
    };
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                outcome.columns = columns.iter().map(|c| c.name().to_owned()).collect();
                outcome.rows.clear();
            }
            SimpleQueryMessage::Row(row) => {
                let values = (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect();
                outcome.rows.push(values);
            }
            SimpleQueryMessage::CommandComplete(count) => outcome.row_count = count,
            _ => {}
        }
    }
    outcome
}

fn refusal_or_error(error: &tokio_postgres::Error) -> Outcome {
    let mut outcome = Outcome {
        status: "error",
        columns: vec![],
        rows: vec![],
        row_count: 0,
        message: Some(describe(error)),
        policy: None,
        pending: None,
    };
    if let Some(db) = error.as_db_error()
        && db.code().code() == "42501"
        && db.message().starts_with("gatehouse:")
    {
        outcome.status = "denied";
        outcome.policy = db
            .detail()
            .and_then(|detail| client_detail::field(detail, client_detail::POLICY))
            .map(str::to_owned);
    }
    outcome
}

fn print(outcome: &Outcome, format: OutputFormat) {
    match format {
        OutputFormat::Json => {
            let rows: Vec<Value> = outcome
                .rows
                .iter()
                .map(|row| {
                    Value::from(
                        row.iter()
                            .map(|v| v.clone().map_or(Value::Null, Value::from))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect();
            let value = match &outcome.pending {
                Some(pending) => json!({
                    "status": outcome.status,
                    "approval_id": pending.approval_id,
                    "approve_with": pending.approve_with,
                    "expires_at": pending.expires_at,
                    "message": outcome.message,
                }),
                None => json!({
                    "status": outcome.status,
                    "columns": outcome.columns,
                    "rows": rows,
                    "row_count": outcome.row_count,
                    "message": outcome.message,
                    "policy": outcome.policy,
                }),
            };
            println!("{value}");
        }
        OutputFormat::Text => {
            if outcome.status == "ok" {
                if !outcome.columns.is_empty() {
                    let mut table = Table::new();
                    table.set_header(outcome.columns.clone());
                    for row in &outcome.rows {
                        table.add_row(
                            row.iter()
                                .map(|v| v.clone().unwrap_or_else(|| "NULL".into())),
                        );
                    }
                    println!("{table}");
                }
                println!(
                    "({} row{})",
                    outcome.row_count,
                    if outcome.row_count == 1 { "" } else { "s" }
                );
            } else {
                eprintln!(
                    "{}: {}",
                    outcome.status,
                    outcome.message.clone().unwrap_or_default()
                );
                if let Some(policy) = &outcome.policy {
                    eprintln!("policy: {policy}");
                }
                if let Some(pending) = &outcome.pending {
                    eprintln!(
                        "a reviewer approves it with: {}\nit expires at {}",
                        pending.approve_with, pending.expires_at
                    );
                }
            }
        }
    }
}
