//! `gatehouse sessions watch ID` and `gatehouse sessions kill ID`: an operator's hold on a
//! session while it runs, not after. `watch` tails the session's recording as the gateway
//! stores it (chunks reach storage at least every second, see
//! `gatehouse_pipeline::LIVE_FLUSH_INTERVAL`), so it needs no connection to the gateway and
//! works for every protocol that records; `kill` must reach the running gateway, the only
//! process that holds the session, so it asks its admin API like `gatehouse policy reload`.

use crate::cli::args::{OutputFormat, SessionsKillArgs, SessionsWatchArgs};
use crate::cli::audit::record_read;
use crate::config::setup::Setup;
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use gatehouse_recording::{
    EventKind, Recording, RecordingError, RecordingEvent, RecordingStorage, SessionStart,
    TerminalStream, event_lines,
};
use hyper::Method;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How often the recording is read again for new events.
const POLL: Duration = Duration::from_millis(200);
/// How many reads in a row may find a recording that does not parse yet (its first chunk
/// being written) before `watch` gives up.
const UNREADABLE_POLLS: u32 = 25;
/// How long the gateway may take to end the session and record the kill.
const KILL_ANSWER_WITHIN: Duration = Duration::from_secs(30);

pub async fn watch(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: SessionsWatchArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let store = setup.store().await?;
    let watched = async {
        let log = setup.audit_log(&store)?;
        let storage = setup.recording_storage(&store)?;
        record_read(&log, "sessions:watch", Some(format!("session={}", args.id))).await?;
        tail(storage.as_ref(), &args.id, args.output.output).await
    }
    .await;
    store.close().await;
    match watched {
        Ok(Watched::Ended) => Ok(ExitCode::SUCCESS),
        Ok(Watched::Interrupted) => {
            eprintln!(
                "stopped watching session `{}`; the session goes on (`gatehouse sessions kill {}` ends it)",
                args.id, args.id
            );
            Ok(ExitCode::SUCCESS)
        }
        // The reader went away (`| head`): nothing more to show, and nothing wrong.
        Err(error)
            if error
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Err(error),
    }
}

/// How watching stopped.
enum Watched {
    /// The session's end was read (and shown).
    Ended,
    /// Ctrl-C.
    Interrupted,
}

/// Show the recording of `id` from its start, then every event as it is stored, until its
/// `session_end` or Ctrl-C.
async fn tail(storage: &dyn RecordingStorage, id: &str, format: OutputFormat) -> Result<Watched> {
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut view = View::new(id, format);
    let mut shown: u64 = 0;
    let mut last_len = None;
    let mut unreadable = 0;
    loop {
        let bytes = match storage.read(id) {
            Ok(bytes) => bytes,
            Err(RecordingError::NotFound(_) | RecordingError::InvalidId(_)) => bail!(
                "no recording of session `{id}`; run `gatehouse sessions list` to see the recorded sessions (a running one has no end time)"
            ),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot read the recording of session `{id}`"));
            }
        };
        if last_len != Some(bytes.len()) {
            last_len = Some(bytes.len());
            match Recording::parse(bytes) {
                Ok(recording) => {
                    unreadable = 0;
                    // Damage at the end is a chunk still being written: it is read whole on a
                    // later poll.
                    for event in recording.seek_event(shown) {
                        let event = event.with_context(|| {
                            format!("cannot read the recording of session `{id}`")
                        })?;
                        shown += 1;
                        if view.show(&event)? {
                            return Ok(Watched::Ended);
                        }
                    }
                }
                Err(error) => {
                    unreadable += 1;
                    if unreadable >= UNREADABLE_POLLS {
                        return Err(error).with_context(|| {
                            format!("cannot read the recording of session `{id}`")
                        });
                    }
                    last_len = None;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            Ok(()) = &mut ctrl_c => return Ok(Watched::Interrupted),
        }
    }
}

/// What has been written to standard output so far.
struct View {
    id: String,
    format: OutputFormat,
    subject: String,
    /// Whether the last byte written ended a line (terminal output often does not).
    at_line_start: bool,
    out: io::Stdout,
}

impl View {
    fn new(id: &str, format: OutputFormat) -> Self {
        View {
            id: id.to_owned(),
            format,
            subject: String::new(),
            at_line_start: true,
            out: io::stdout(),
        }
    }

    /// Write one event; true when it is the session's end.
    fn show(&mut self, event: &RecordingEvent) -> Result<bool> {
        let ended = matches!(event.kind, EventKind::SessionEnd(_));
        match self.format {
            OutputFormat::Json => {
                let line = serde_json::to_string(event)?;
                writeln!(self.out, "{line}")?;
            }
            OutputFormat::Text => self.show_text(event)?,
        }
        self.out.flush()?;
        Ok(ended)
    }

    fn show_text(&mut self, event: &RecordingEvent) -> Result<()> {
        match &event.kind {
            EventKind::SessionStart(start) => {
                self.subject = start.subject.clone();
                let header = header_text(&self.id, start);
                self.line(&header)?;
                self.line(
                    "(live, at most about a second behind; Ctrl-C stops watching, the session goes on)",
                )?;
            }
            // What the user's terminal showed, as it showed it. Input is left out: the
            // terminal echoes what should be seen, and a typed password is not.
            EventKind::Terminal(data) if data.stream != TerminalStream::Input => {
                if let Some(bytes) = data.bytes()
                    && let Some(last) = bytes.last()
                {
                    self.out.write_all(&bytes)?;
                    self.at_line_start = *last == b'\n';
                }
            }
            EventKind::Terminal(_) | EventKind::TerminalResize(_) => {}
            EventKind::SessionEnd(end) => {
                let after = Duration::from_micros(event.at_us);
                self.line(&format!(
                    "session `{}` ended after {:.1}s: {}",
                    self.id,
                    after.as_secs_f64(),
                    end.reason.replace(char::is_control, " ")
                ))?;
            }
            _ => {
                for line in event_lines(&self.subject, event) {
                    self.line(&line.text)?;
                }
            }
        }
        Ok(())
    }

    /// Write `text` on a line of its own.
    fn line(&mut self, text: &str) -> io::Result<()> {
        if !self.at_line_start {
            writeln!(self.out)?;
        }
        writeln!(self.out, "── {text}")?;
        self.at_line_start = true;
        Ok(())
    }
}

fn header_text(id: &str, start: &SessionStart) -> String {
    let clean = |text: &str| text.replace(char::is_control, " ");
    let mut text = format!(
        "session `{id}`: {} ({}) on {} ({})",
        clean(&start.subject),
        clean(&start.identity_kind),
        clean(&start.connection),
        clean(&start.connection_kind)
    );
    if !start.acting_for.is_empty() {
        text.push_str(&format!(
            ", acting for {}",
            clean(&start.acting_for.join(" → "))
        ));
    }
    if let Some(address) = &start.source_address {
        text.push_str(&format!(", from {}", clean(address)));
    }
    let started = start
        .started_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| start.started_at.to_string());
    text.push_str(&format!(", started {started}"));
    text
}

pub async fn kill(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: SessionsKillArgs,
) -> Result<ExitCode> {
    let api = match &args.api {
        Some(api) => api.trim_end_matches('/').to_owned(),
        None => crate::cli::policy_reload::admin_api_of_local_gateway(config, data_dir)?,
    };
    let id = args.id.trim();
    if id.is_empty() || id.contains(['/', '?', '#', '%']) || id.chars().any(char::is_whitespace) {
        bail!(
            "`{id}` is not a session id: give it as `gatehouse sessions list` shows it (s-0123456789abcdef)"
        );
    }
    let token = crate::client::token::find(args.token_file.as_deref()).await?;
    let url = format!("{api}/v1/sessions/{id}/kill");
    let http = crate::http_client::HttpClient::new(args.ca_file.as_deref(), KILL_ANSWER_WITHIN)?;
    let authorization = format!("Bearer {token}");
    let headers = [
        ("Accept", "application/json"),
        ("Authorization", authorization.as_str()),
    ];
    let body = serde_json::to_vec(&serde_json::json!({ "reason": args.reason }))?;
    let response = http
        .send(
            Method::POST,
            &url,
            &headers,
            Some(("application/json", Bytes::from(body))),
        )
        .await
        .with_context(|| format!("cannot ask the gateway at `{api}` to kill session `{id}`"))?;
    let answer: serde_json::Value = serde_json::from_slice(&response.body).map_err(|_| {
        anyhow!(
            "`{url}` answered HTTP {} without JSON; is `{api}` the gateway's admin listener?",
            response.status
        )
    })?;
    let killed = response.status == 200;
    match args.output.output {
        OutputFormat::Json => println!("{answer}"),
        OutputFormat::Text if killed => println!(
            "killed session `{id}`: its client was told \"{}\"; the kill is in the audit log",
            answer
                .get("reason")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        ),
        OutputFormat::Text => {}
    }
    if !killed {
        let error = answer
            .get("error")
            .and_then(|v| v.as_str())
            .unwrap_or("the gateway refused the kill");
        eprintln!(
            "session `{id}` not killed (HTTP {}): {error}",
            response.status
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
