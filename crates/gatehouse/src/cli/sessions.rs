//! `gatehouse sessions`: list session recordings and replay one, as a timeline for people or
//! JSON lines for programs, at once or at the session's own pace.
//!
//! Recordings hold what people and programs did through the gateway, so reading one is an
//! administrative read like reading the audit log: it is recorded first (an `audit_read` event
//! by the operator running the command).

use crate::cli::args::{OutputFormat, SessionsListArgs, SessionsReplayArgs};
use crate::cli::audit::{parse_since, record_read};
use crate::config::setup::Setup;
use crate::server::operator::format_time;
use anyhow::{Context, Result, bail};
use comfy_table::Table;
use gatehouse_recording::{
    Paced, Recording, RecordingError, RecordingSummary, render_asciicast, render_json,
    render_timeline, timeline,
};
use gatehouse_store::Store;
use std::fmt::Display;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use time::OffsetDateTime;

/// The longest pause between two lines of a paced replay, so idle minutes do not stall it.
const MAX_PAUSE: Duration = Duration::from_secs(2);

pub async fn list(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: SessionsListArgs,
) -> Result<ExitCode> {
    let since_unix_ms = args.since.as_deref().map(parse_since).transpose()?;
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let listed = list_matching(&setup, &store, &args, since_unix_ms).await;
    store.close().await;
    let (summaries, total) = listed?;
    match args.output.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&summaries)?),
        OutputFormat::Text if summaries.is_empty() => {
            if total == 0 {
                println!(
                    "no recorded sessions yet: every session through the gateway is recorded \
                     (unless [recording] enabled = false) and listed here"
                );
            } else {
                println!(
                    "none of the {total} recorded sessions matches; leave out --identity, \
                     --connection or --since to see more"
                );
            }
        }
        OutputFormat::Text => {
            let mut table = Table::new();
            table.set_header([
                "id",
                "identity",
                "connection",
                "started",
                "ended",
                "requests",
                "size",
            ]);
            for summary in &summaries {
                table.add_row([
                    summary.session.clone(),
                    summary.subject.clone(),
                    summary.connection.clone(),
                    time_text(summary.started_at),
                    summary
                        .ended_at
                        .map_or_else(|| "running or cut short".to_owned(), time_text),
                    summary.requests.to_string(),
                    size_text(summary.bytes),
                ]);
            }
            println!("{table}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The summaries that match the filters, and how many recordings there are in all.
async fn list_matching(
    setup: &Setup,
    store: &Store,
    args: &SessionsListArgs,
    since_unix_ms: Option<i64>,
) -> Result<(Vec<RecordingSummary>, usize)> {
    let log = setup.audit_log(store)?;
    let storage = setup.recording_storage(store)?;
    let detail = format!(
        "identity={} connection={} since={}",
        args.identity.as_deref().unwrap_or("*"),
        args.connection.as_deref().unwrap_or("*"),
        args.since.as_deref().unwrap_or("*")
    );
    record_read(&log, "sessions:list", Some(detail)).await?;
    let all = storage
        .list()
        .context("cannot list the session recordings")?;
    let total = all.len();
    let matching = all
        .into_iter()
        .filter(|summary| {
            args.identity
                .as_ref()
                .is_none_or(|identity| summary.subject == *identity)
                && args
                    .connection
                    .as_ref()
                    .is_none_or(|connection| summary.connection == *connection)
                && since_unix_ms.is_none_or(|since| unix_ms(summary.started_at) >= since)
        })
        .collect();
    Ok((matching, total))
}

pub async fn replay(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: SessionsReplayArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let recording = read_recording(&setup, &store, &args.id).await;
    store.close().await;
    let recording = recording?;

    if args.asciicast {
        let written = write_all(|out| render_asciicast(&recording, args.request, out).map(|_| ()));
        return match written {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(RecordingError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => {
                Err(error).with_context(|| format!("cannot export session `{}`", args.id))
            }
        };
    }
    let written = match (args.output.output, args.speed) {
        (OutputFormat::Text, None) => write_all(|out| render_timeline(&recording, out)),
        (OutputFormat::Json, None) => write_all(|out| render_json(&recording, out)),
        (OutputFormat::Text, Some(speed)) => {
            let lines = Paced::new(timeline(&recording), speed)?.max_delay(MAX_PAUSE);
            write_paced(lines).await
        }
        (OutputFormat::Json, Some(speed)) => {
            let events = Paced::new(recording.events(), speed)?.max_delay(MAX_PAUSE);
            let lines = events.map(|item| {
                let (delay, event) = item?;
                let line = serde_json::to_string(&event).map_err(RecordingError::Encode)?;
                Ok((delay, line))
            });
            write_paced(lines).await
        }
    };
    match written {
        Ok(()) => {}
        // The reader went away (`| head`): nothing more to show, and nothing wrong.
        Err(RecordingError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot replay session `{}`", args.id));
        }
    }
    if let Some(damage) = recording.damage() {
        eprintln!("warning: {damage}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Records the read, then reads and parses the recording of session `id`.
async fn read_recording(setup: &Setup, store: &Store, id: &str) -> Result<Recording> {
    let log = setup.audit_log(store)?;
    let storage = setup.recording_storage(store)?;
    record_read(&log, "sessions:replay", Some(format!("session={id}"))).await?;
    let bytes = match storage.read(id) {
        Ok(bytes) => bytes,
        Err(RecordingError::NotFound(_) | RecordingError::InvalidId(_)) => bail!(
            "no recording of session `{id}`; run `gatehouse sessions list` to see the recorded sessions"
        ),
        Err(error) => {
            return Err(error)
                .with_context(|| format!("cannot read the recording of session `{id}`"));
        }
    };
    Recording::parse(bytes).with_context(|| format!("cannot read the recording of session `{id}`"))
}

/// Writes everything at once through a buffer.
fn write_all(
    render: impl FnOnce(&mut io::BufWriter<io::StdoutLock<'static>>) -> Result<(), RecordingError>,
) -> Result<(), RecordingError> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    render(&mut out)?;
    out.flush().map_err(RecordingError::Output)
}

/// Writes each line after its pause; Ctrl-C stops the replay.
async fn write_paced<T: Display>(
    lines: impl Iterator<Item = Result<(Duration, T), RecordingError>>,
) -> Result<(), RecordingError> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut out = io::stdout();
    for item in lines {
        let (delay, line) = item?;
        if !delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                Ok(()) = &mut ctrl_c => return Ok(()),
            }
        }
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(RecordingError::Output)?;
    }
    Ok(())
}

fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn time_text(at: OffsetDateTime) -> String {
    format_time(unix_ms(at))
}

/// A byte count for people: `812 B`, `12.3 KiB`, `4.5 MiB`.
fn size_text(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    for unit in ["KiB", "MiB", "GiB"] {
        if value < 1024.0 {
            return format!("{value:.1} {unit}");
        }
        value /= 1024.0;
    }
    format!("{value:.1} TiB")
}

#[cfg(test)]
mod tests {
    use super::size_text;

    #[test]
    fn sizes_pick_a_readable_unit() {
        assert_eq!(size_text(812), "812 B");
        assert_eq!(size_text(12_595), "12.3 KiB");
        assert_eq!(size_text(5 << 20), "5.0 MiB");
        assert_eq!(size_text(3 << 40), "3.0 TiB");
    }
}
