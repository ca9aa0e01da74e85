//! `gatehouse exec`: run SQL through the gateway as an ordinary client (TLS verified, token as
//! password) and print the result for people (a table) or programs (one JSON object).

use crate::args::{ExecArgs, OutputFormat};
use crate::setup::Setup;
use crate::tls::generated_cert_path;
use anyhow::{Context, Result, bail};
use comfy_table::Table;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::config::SslMode;

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
}

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: ExecArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let token = read_token(args.token_file.as_deref())?;
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
    let outcome = execute(&args, &token, &ca_file).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => Outcome {
            status: "error",
            columns: vec![],
            rows: vec![],
            row_count: 0,
            message: Some(format!("{error:#}")),
            policy: None,
        },
    };
    print(&outcome, args.output.output);
    Ok(match outcome.status {
        "ok" => ExitCode::SUCCESS,
        "denied" => ExitCode::from(EXIT_DENIED),
        _ => ExitCode::FAILURE,
    })
}

fn read_token(file: Option<&Path>) -> Result<String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file `{}`", path.display()))?,
        None => std::env::var("GATEHOUSE_TOKEN").map_err(|_| {
            anyhow::anyhow!(
                "no token: set GATEHOUSE_TOKEN or pass --token-file (create one with `gatehouse keys create`)"
            )
        })?,
    };
    Ok(token.trim().to_owned())
}

async fn execute(args: &ExecArgs, token: &str, ca_file: &Path) -> Result<Outcome> {
    let (host, port) = args
        .gateway
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--gateway `{}` is not HOST:PORT", args.gateway))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .with_context(|| format!("cannot read CA file `{}`", ca_file.display()))?
    {
        let cert = cert.with_context(|| format!("cannot parse CA file `{}`", ca_file.display()))?;
        roots.add(cert).context("unusable CA certificate")?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(gatehouse_pg::tls_provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
    let mut config = tokio_postgres::Config::new();
    config
        .host(host)
        .port(port)
        .dbname(&args.connection)
        .user(gatehouse_pg::TOKEN_ONLY_USER)
        .password(token)
        .application_name("gatehouse exec")
        .ssl_mode(SslMode::Require);
    let (client, connection) = config.connect(connector).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to the gateway at {}: {}",
            args.gateway,
            describe(&e)
        )
    })?;
    let driver = tokio::spawn(connection);
    let result = client.simple_query(&args.sql).await;
    drop(client);
    let _ = driver.await;
    Ok(match result {
        Ok(messages) => collect(messages),
        Err(error) => refusal_or_error(&error),
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
    };
    if let Some(db) = error.as_db_error()
        && db.code().code() == "42501"
        && db.message().starts_with("gatehouse:")
    {
        outcome.status = "denied";
        outcome.policy = db
            .detail()
            .and_then(|d| d.split("policy: ").nth(1))
            .map(|p| p.trim().to_owned());
    }
    outcome
}

fn describe(error: &tokio_postgres::Error) -> String {
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
            let value = json!({
                "status": outcome.status,
                "columns": outcome.columns,
                "rows": rows,
                "row_count": outcome.row_count,
                "message": outcome.message,
                "policy": outcome.policy,
            });
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
            }
        }
    }
}
