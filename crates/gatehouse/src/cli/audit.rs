//! `gatehouse audit`: verify the chain, export events as JSON lines, follow the log live.
//!
//! Reading the audit log is itself recorded (an `audit_read` event by the operator running the
//! command), so auditors can see who looked.

use crate::cli::args::{AuditExportArgs, AuditTailArgs, OutputArgs, OutputFormat};
use crate::config::setup::Setup;
use crate::server::operator::format_time;
use crate::server::operator::operator_event;
use anyhow::{Context, Result, bail};
use gatehouse_pipeline::{AuditEventKind, Durability};
use gatehouse_store::{AuditFilter, AuditLog, Checkpoint, Store, StoredEvent};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Events read per query when exporting or following.
const PAGE: i64 = 1_000;

pub async fn verify(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    output: OutputArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let log = setup.audit_log(&store)?;
    let checkpoint_file = setup.audit_checkpoint_file();
    let checkpoint = Checkpoint::read(&checkpoint_file)?;
    // Verify first: recording this read extends the chain, and must not paper over a
    // truncated tail before it is reported.
    let report = log.verify(checkpoint.as_ref()).await?;
    let outcome = match &report.problem {
        None => format!("intact, {} events", report.checked),
        Some(problem) => format!("failed at seq {}", problem.seq),
    };
    record_read(&log, "audit:verify", Some(outcome)).await?;
    store.close().await;
    match output.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&report)?),
        OutputFormat::Text => match &report.problem {
            None => {
                println!(
                    "audit log intact: {} events checked (seq 1..={}){}",
                    report.checked,
                    report.last_seq,
                    match report.checkpoint_seq {
                        Some(seq) => format!(", reaches checkpoint seq {seq}"),
                        None => format!(
                            "; no checkpoint at `{}`, so a deleted tail would go unnoticed",
                            checkpoint_file.display()
                        ),
                    }
                );
            }
            Some(problem) => {
                println!(
                    "audit log FAILED verification at seq {}: {}",
                    problem.seq, problem.reason
                );
                println!("{} events before it verified", report.checked);
            }
        },
    }
    Ok(if report.problem.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn export(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: AuditExportArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let log = setup.audit_log(&store)?;
    let since_unix_ms = args.since.as_deref().map(parse_since).transpose()?;
    record_read(
        &log,
        "audit:export",
        Some(describe(&args.identity, &args.since)),
    )
    .await?;
    let mut filter = AuditFilter {
        after_seq: args.after_seq,
        since_unix_ms,
        subject: args.identity.clone(),
        limit: PAGE,
        newest_first: false,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    loop {
        let page = log.read(&filter).await?;
        for event in &page {
            writeln!(out, "{}", export_line(event)?)?;
        }
        match page.last() {
            Some(last) if i64::try_from(page.len()).unwrap_or(0) == PAGE => {
                filter.after_seq = last.seq;
            }
            _ => break,
        }
    }
    out.flush()?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn tail(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: AuditTailArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let log = setup.audit_log(&store)?;
    record_read(&log, "audit:tail", Some(describe(&args.identity, &None))).await?;
    // Start with the last `lines` matching events (none: from the end of the log).
    let backlog = log
        .read(&AuditFilter {
            subject: args.identity.clone().filter(|_| args.lines > 0),
            limit: i64::try_from(args.lines.max(1)).unwrap_or(i64::MAX),
            newest_first: true,
            ..Default::default()
        })
        .await?;
    let newest = match (args.lines, backlog.first(), backlog.last()) {
        (0, Some(newest), _) => newest.seq,
        (_, _, Some(oldest_shown)) => oldest_shown.seq.saturating_sub(1),
        _ => 0,
    };
    let mut filter = AuditFilter {
        after_seq: newest,
        subject: args.identity.clone(),
        limit: PAGE,
        ..Default::default()
    };
    loop {
        let page = log.read(&filter).await?;
        for event in &page {
            print_event(event, args.output.output)?;
        }
        std::io::stdout().flush()?;
        if let Some(last) = page.last() {
            filter.after_seq = last.seq;
            continue;
        }
        if !args.follow {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// One exported event: `seq`, `time` (RFC 3339), the event's fields, `mac`. The export's
/// columns are stable whatever format an event is stored in: every column is present (`null`
/// when empty), and format v2's protocol-neutral names are exported under the columns they
/// always had (`request` as `statement`, the outcome's `status` as `command_tag`); an
/// outcome's `masked` counts and (HTTP APIs) `request_bytes`/`response_bytes` appear when
/// recorded.
fn export_line(event: &StoredEvent) -> Result<String> {
    let e = &event.event;
    let mut value = serde_json::json!({
        "seq": event.seq,
        "time_unix_ms": e.time_unix_ms,
        "kind": exported_kind(e.kind),
        "identity": {
            "subject": e.identity.subject,
            "kind": e.identity.kind,
            "groups": e.identity.groups,
        },
        "acting_for": e.acting_for,
        "session": e.session,
        "connection": e.connection,
        "source_address": e.source_address,
        "action": e.action,
        "decision": e.decision,
        "policies": e.policies,
        "statement": e.request,
        "fingerprint": e.fingerprint,
        "outcome": e.outcome.as_ref().map(|outcome| {
            let mut exported = serde_json::json!({
                "rows": outcome.rows,
                "command_tag": outcome.status,
                "error": outcome.error,
                "duration_us": outcome.duration_us,
            });
            if let Some(object) = exported.as_object_mut() {
                if !outcome.masked.is_empty() {
                    object.insert("masked".into(), serde_json::json!(outcome.masked));
                }
                for (name, bytes) in [
                    ("request_bytes", outcome.request_bytes),
                    ("response_bytes", outcome.response_bytes),
                ] {
                    if let Some(bytes) = bytes {
                        object.insert(name.into(), bytes.into());
                    }
                }
            }
            exported
        }),
        "refers_to": e.refers_to,
        "detail": e.detail,
        "mac": event.mac,
        "time": format_time(e.time_unix_ms),
    });
    if let (Some(context), Some(object)) = (&e.context, value.as_object_mut()) {
        object.insert("context".into(), serde_json::to_value(context)?);
    }
    Ok(value.to_string())
}

/// An event kind as the export has always named it (`request` events as `statement`).
fn exported_kind(kind: AuditEventKind) -> &'static str {
    match kind {
        AuditEventKind::Request => "statement",
        kind => kind.as_str(),
    }
}

fn print_event(event: &StoredEvent, format: OutputFormat) -> Result<()> {
    match format {
        OutputFormat::Json => println!("{}", export_line(event)?),
        OutputFormat::Text => {
            let e = &event.event;
            let what = e
                .request
                .as_deref()
                .or(e.detail.as_deref())
                .unwrap_or_default();
            let outcome = e.outcome.as_ref().map(|o| match &o.error {
                Some(error) => format!("error {error}"),
                None => format!(
                    "{}{} in {:.1} ms",
                    o.status.as_deref().unwrap_or("ok"),
                    counted_apart(o),
                    o.duration_us as f64 / 1000.0
                ),
            });
            println!(
                "{:>6}  {}  {:<16} {:<12} {:<14} {:<5} {}{}",
                event.seq,
                format_time(e.time_unix_ms),
                exported_kind(e.kind),
                e.identity.subject,
                e.action.as_deref().unwrap_or("-"),
                e.decision.map_or("-", |decision| decision.as_str()),
                what.replace('\n', " "),
                outcome.map(|o| format!(" → {o}")).unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// `, 7 objects` when the outcome counts what came back and its status does not already say
/// it (PostgreSQL's `SELECT 7` does; an HTTP status line does not).
fn counted_apart(outcome: &gatehouse_pipeline::AuditOutcome) -> String {
    match (outcome.rows, outcome.status.as_deref()) {
        (Some(rows), Some(status)) if !status.ends_with(&format!(" {rows}")) => {
            format!(", {rows} objects")
        }
        _ => String::new(),
    }
}

/// Record that the operator read the log (or a session recording).
pub(crate) async fn record_read(
    log: &AuditLog,
    action: &str,
    detail: Option<String>,
) -> Result<()> {
    let event = operator_event(AuditEventKind::AuditRead, action, detail);
    log.append(&[event], Durability::Synced)
        .await
        .map_err(anyhow::Error::msg)
        .context("reading is itself recorded in the audit log, and that failed")?;
    Ok(())
}

/// Record an administrative change made by this command's operator, fsynced (and the log
/// flushed) before the command reports success.
pub async fn record_operator_change(
    setup: &Setup,
    store: &Store,
    kind: AuditEventKind,
    action: &str,
    detail: String,
) -> Result<()> {
    let log = setup.audit_log(store)?;
    let event = operator_event(kind, action, Some(detail));
    let appended = log
        .append(&[event], Durability::Synced)
        .await
        .map_err(anyhow::Error::msg);
    let flushed = log.flush().await.map_err(anyhow::Error::from);
    appended.and(flushed)
}

fn describe(identity: &Option<String>, since: &Option<String>) -> String {
    format!(
        "identity={} since={}",
        identity.as_deref().unwrap_or("*"),
        since.as_deref().unwrap_or("*")
    )
}

/// `--since` as an RFC 3339 time (`2026-11-28T10:00:00Z`) or a duration ago (`15m`, `2h`).
pub(crate) fn parse_since(text: &str) -> Result<i64> {
    if let Ok(at) =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        return Ok(i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX));
    }
    match humantime::parse_duration(text) {
        Ok(ago) => Ok(gatehouse_pipeline::now_unix_ms()
            .saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))),
        Err(_) => bail!(
            "--since `{text}` is neither an RFC 3339 time (2026-11-28T10:00:00Z) nor a duration (15m, 2h)"
        ),
    }
}
