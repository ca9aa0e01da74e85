//! `gatehouse exec`: run SQL through the gateway as an ordinary client (TLS verified, token as
//! password) and print the result for people (a table) or programs (one JSON object).
//!
//! When policy holds the statement for approval, the gateway sends a notice naming the
//! approval and waits; exec answers `pending` at once (exit status 3) and hangs up, which
//! leaves the approval pending — unless asked to `--wait`. Running the same statement again
//! once it is approved runs it.

use crate::args::{ExecArgs, OutputFormat};
use crate::setup::Setup;
use crate::tls::generated_cert_path;
use anyhow::{Context, Result, bail};
use comfy_table::Table;
use gatehouse_pipeline::client_detail;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::config::SslMode;

/// Exit status when the statement waits for an approval.
const EXIT_PENDING: u8 = 3;
/// Exit status when policy refused the statement.
const EXIT_DENIED: u8 = 4;

/// A held statement's approval, as the gateway's notice describes it.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) approval_id: String,
    pub(crate) expires_at: String,
    pub(crate) approve_with: String,
}

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
    let mismatch = match &args.approval {
        Some(id) => crate::exec_approval::mismatch(&setup, id, &args.sql).await,
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

/// A client configuration for `connection` through the gateway at `gateway` (`HOST:PORT`):
/// TLS required and verified against `ca_file`, the token as password.
pub(crate) fn gateway_config(
    gateway: &str,
    ca_file: &Path,
    connection: &str,
    token: &str,
    application_name: &str,
) -> Result<(
    tokio_postgres::Config,
    tokio_postgres_rustls::MakeRustlsConnect,
)> {
    let (host, port) = gateway
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--gateway `{gateway}` is not HOST:PORT"))?;
    let tls = gatehouse_pg::client_config_trusting(ca_file)?;
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .dbname(connection)
        .user(gatehouse_pg::TOKEN_ONLY_USER)
        .password(token)
        .application_name(application_name)
        .ssl_mode(SslMode::Require);
    Ok((config, connector))
}

/// Drive the connection, passing on the gateway's approval notices.
pub(crate) async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notices: tokio::sync::mpsc::UnboundedSender<Pending>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(tokio_postgres::AsyncMessage::Notice(notice))) => {
                if let Some(pending) = notice.detail().and_then(pending_of) {
                    let _ = notices.send(pending);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return,
        }
    }
}

/// The approval a gateway notice's detail names (see `gatehouse_pipeline::client_detail`).
fn pending_of(detail: &str) -> Option<Pending> {
    let field = |name| client_detail::field(detail, name).map(str::to_owned);
    Some(Pending {
        approval_id: field(client_detail::APPROVAL_ID)?,
        expires_at: field(client_detail::EXPIRES_AT).unwrap_or_default(),
        approve_with: field(client_detail::APPROVE_WITH).unwrap_or_default(),
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

pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(inner) = source {
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            text
        }
    }
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
