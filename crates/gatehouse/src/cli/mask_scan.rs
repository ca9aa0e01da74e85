//! `gatehouse mask scan CONNECTION`: find the columns that hold sensitive values, so that they
//! can be declared as column rules. Content detectors only recognise values they can read,
//! and a masked identity can transform a value until they cannot (`replace(ssn, '-', '')`);
//! a column rule masks the column through every transformation, condition and alias (see
//! the lineage masking in `gatehouse-pg`). The scan reads the catalog and a bounded sample of
//! rows through the connection's own credentials, as the gateway would, and proposes rules.

use crate::cli::args::{MaskScanArgs, OutputFormat};
use crate::config::setup::Setup;
use anyhow::{Context, Result, bail};
use gatehouse_core::ADMIN_LOGIN_LEVEL;
use gatehouse_mask::{MaskConfig, Masker, Strategy};
use gatehouse_pg::wire::tags::{backend, frontend};
use gatehouse_pg::wire::{self, FrameReader};
use gatehouse_pg::{BuiltinConnector, Connector, PgLogin, PgLogins, Stream};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::ExitCode;
use tokio::io::AsyncWriteExt;

/// Every column of the tables, views and foreign tables the credentials may read.
const CATALOG_QUERY: &str = "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) \
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped \
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' \
       AND has_column_privilege(c.oid, a.attnum, 'SELECT') \
     ORDER BY n.nspname, c.relname, a.attnum";

/// The label a column whose name says it holds a secret lends its values, so that detectors
/// that need one (an AWS secret key is 40 characters that could be anything) can see them.
const SECRET_LABEL: &str = "secret=";

/// A table to sample: schema, name, and its columns with their types.
type Table = (String, String, Vec<(String, String)>);

/// One sampled column and what the detectors found in it.
#[derive(Debug, serde::Serialize)]
struct ScannedColumn {
    schema: String,
    table: String,
    column: String,
    #[serde(rename = "type")]
    type_name: String,
    sampled: u64,
    /// Values in which each detector found something.
    findings: BTreeMap<String, u64>,
    /// The proposed column rule, if anything was found.
    rule: Option<ProposedRule>,
}

#[derive(Debug, serde::Serialize)]
struct ProposedRule {
    name: String,
    strategy: Strategy,
}

pub async fn scan(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: MaskScanArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let name = &args.connection;
    let connection = setup
        .config
        .connections
        .iter()
        .find(|c| &c.name == name)
        .with_context(|| format!("no connection `{name}` in the configuration"))?;
    if !connection.agents.is_empty() {
        bail!(
            "connection `{name}` is served by agents, so this gateway holds no credentials for it; \
             run `gatehouse mask scan` with the agent's configuration (--config) instead"
        );
    }
    let mask_config = connection
        .masking
        .clone()
        .unwrap_or_else(MaskConfig::default);
    let masker = setup.masker(&mask_config)?;
    // The connection's own login (level `admin`): the scan reads what the gateway can read.
    let mut logins = PgLogins::default();
    logins.insert(
        name,
        ADMIN_LOGIN_LEVEL,
        PgLogin::Ready(connection.target_in(&setup.config.base_dir)?),
    );
    let connector = BuiltinConnector::new(
        logins,
        setup.config.postgres.connect_timeout,
        setup.config.postgres.max_server_message_bytes,
    );
    let parameters = [
        (
            "application_name".to_owned(),
            "gatehouse mask scan".to_owned(),
        ),
        ("client_encoding".to_owned(), "UTF8".to_owned()),
    ];
    let upstream = connector
        .open(name, ADMIN_LOGIN_LEVEL, &parameters)
        .await
        .with_context(|| format!("cannot connect to connection `{name}`"))?;
    let mut session = Session {
        reader: FrameReader::from_parts(
            upstream.stream,
            upstream.leftover,
            setup.config.postgres.max_server_message_bytes,
            "server",
        ),
    };
    let catalog = session.query(CATALOG_QUERY).await?;
    let mut tables: Vec<Table> = Vec::new();
    for row in catalog {
        let [Some(schema), Some(table), Some(column), Some(type_name)] = row.as_slice() else {
            continue;
        };
        if !wanted(&args.tables, schema, table) {
            continue;
        }
        match tables.last_mut() {
            Some((s, t, columns)) if s == schema && t == table => {
                columns.push((column.clone(), type_name.clone()));
            }
            _ => tables.push((
                schema.clone(),
                table.clone(),
                vec![(column.clone(), type_name.clone())],
            )),
        }
    }
    let strategies: HashMap<&str, Strategy> = masker.detectors().collect();
    let mut scanned = Vec::new();
    for (schema, table, columns) in &tables {
        eprintln!("scanning {schema}.{table} ({} columns)...", columns.len());
        let select = columns
            .iter()
            .map(|(column, _)| format!("{}::text", quote(column)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {select} FROM {}.{} LIMIT {}",
            quote(schema),
            quote(table),
            args.rows
        );
        let rows = match session.query(&sql).await {
            Ok(rows) => rows,
            Err(error) => {
                eprintln!("  skipped: {error:#}");
                continue;
            }
        };
        for (index, (column, type_name)) in columns.iter().enumerate() {
            let values = rows
                .iter()
                .filter_map(|row| row.get(index).cloned().flatten());
            let (sampled, findings) = detect(&masker, column, values);
            let rule = strongest_finding(&findings, &strategies).map(|strategy| ProposedRule {
                name: format!("{table}.{column}"),
                strategy,
            });
            scanned.push(ScannedColumn {
                schema: schema.clone(),
                table: table.clone(),
                column: column.clone(),
                type_name: type_name.clone(),
                sampled,
                findings,
                rule,
            });
        }
    }
    session.finish().await;
    eprintln!(
        "scanned {} columns in {} tables, up to {} rows each",
        scanned.len(),
        tables.len(),
        args.rows
    );
    match args.output.output {
        OutputFormat::Json => {
            let report = serde_json::json!({ "connection": name, "columns": scanned });
            println!("{report}");
        }
        OutputFormat::Text => print_toml(name, &scanned),
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `--tables` (empty: all) names `schema.table`.
fn wanted(filter: &[String], schema: &str, table: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|wanted| {
            wanted.eq_ignore_ascii_case(table)
                || wanted.eq_ignore_ascii_case(&format!("{schema}.{table}"))
        })
}

/// Values sampled, and per detector the number of values in which it found something.
fn detect(
    masker: &Masker,
    column: &str,
    values: impl Iterator<Item = String>,
) -> (u64, BTreeMap<String, u64>) {
    let labelled = column.to_ascii_lowercase().contains("secret");
    let mut sampled = 0;
    let mut findings: BTreeMap<String, u64> = BTreeMap::new();
    for value in values {
        sampled += 1;
        let text = if labelled {
            format!("{SECRET_LABEL}{value}")
        } else {
            value
        };
        let mut detectors: Vec<String> = masker
            .explain(&text)
            .into_iter()
            .map(|finding| finding.detector)
            .collect();
        detectors.sort();
        detectors.dedup();
        for detector in detectors {
            *findings.entry(detector).or_default() += 1;
        }
    }
    (sampled, findings)
}

/// The strategy of the detector that found the most, if any found anything.
fn strongest_finding(
    findings: &BTreeMap<String, u64>,
    strategies: &HashMap<&str, Strategy>,
) -> Option<Strategy> {
    let (detector, _) = findings.iter().max_by_key(|(_, count)| **count)?;
    Some(
        strategies
            .get(detector.as_str())
            .copied()
            .unwrap_or(Strategy::Redact),
    )
}

fn print_toml(connection: &str, scanned: &[ScannedColumn]) {
    let proposed: Vec<&ScannedColumn> = scanned.iter().filter(|c| c.rule.is_some()).collect();
    if proposed.is_empty() {
        println!(
            "# gatehouse mask scan {connection}: the detectors found nothing in the sampled rows"
        );
        return;
    }
    println!(
        "# gatehouse mask scan {connection}: {} column(s) hold values the detectors recognise.",
        proposed.len()
    );
    println!(
        "# Add these under the connection's [[connections]] entry, after [connections.masking]."
    );
    for column in proposed {
        let Some(rule) = &column.rule else {
            continue;
        };
        let found: Vec<String> = column
            .findings
            .iter()
            .map(|(detector, count)| format!("{detector} in {count}"))
            .collect();
        println!();
        println!(
            "# {}.{}.{} ({}): {} of {} sampled values",
            column.schema,
            column.table,
            column.column,
            column.type_name,
            found.join(", "),
            column.sampled
        );
        println!("[[connections.masking.columns]]");
        println!("name = {}", toml_string(&rule.name));
        println!("strategy = {}", strategy_toml(rule.strategy));
    }
}

fn strategy_toml(strategy: Strategy) -> String {
    match strategy {
        Strategy::Redact => "\"redact\"".to_owned(),
        Strategy::Hash => "\"hash\"".to_owned(),
        Strategy::Null => "\"null\"".to_owned(),
        Strategy::Partial { keep_last } => format!("{{ partial = {keep_last} }}"),
    }
}

/// A TOML basic string: JSON's string escapes are TOML's too.
fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A session with the target, speaking the simple query protocol.
struct Session {
    reader: FrameReader<Box<dyn Stream>>,
}

impl Session {
    /// Runs `sql`; its rows as text (`None` for NULL), or the server's error.
    async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.reader.get_mut().write_all(&wire::query(sql)).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let frame = self
                .reader
                .next()
                .await?
                .context("the server closed the connection")?;
            match frame.tag {
                backend::DATA_ROW => {
                    let values = wire::data_row(frame.body())?;
                    rows.push(
                        values
                            .into_iter()
                            .map(|value| value.map(|v| String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                    );
                }
                backend::ERROR_RESPONSE => {
                    let fields = wire::error_fields(frame.body())?;
                    error = Some(wire::describe_error(&fields));
                }
                backend::READY_FOR_QUERY => break,
                _ => {}
            }
        }
        match error {
            Some(error) => bail!("{error}"),
            None => Ok(rows),
        }
    }

    async fn finish(mut self) {
        let _ = self
            .reader
            .get_mut()
            .write_all(&wire::raw_message(frontend::TERMINATE, &[]))
            .await;
    }
}
