//! Renders a recording for people and programs: the readable timeline behind
//! `gatehouse sessions replay ID`, and NDJSON for `--output json`.

use crate::error::RecordingError;
use crate::event::{
    Approval, EventKind, HttpExchange, ProtocolEvent, RecordingEvent, Request, ResultSummary,
    SessionStart, TerminalData, TerminalStream,
};
use crate::reader::{Events, Recording};
use gatehouse_core::DecisionKind;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::{self, Write as _};
use std::io::Write;
use std::iter::Peekable;
use time::format_description::well_known::Rfc3339;

/// One line of the timeline, stamped with the time of the event it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineLine {
    pub at_us: u64,
    /// The whole line, without a newline, e.g.
    /// `  +0.012s  ana  sql:select  allow  SELECT 1  → 1 row, 412 µs`.
    pub text: String,
}

impl fmt::Display for TimelineLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The timeline of a recording, one line per event (one per row for `rows` events), except
/// that a request's result joins the request's line when it directly follows it. Whitespace is
/// folded and control characters are escaped, so a recording cannot drive the terminal. If the
/// recording is damaged, a last line says so.
pub fn timeline(recording: &Recording) -> Timeline<'_> {
    Timeline {
        subject: &recording.header().subject,
        events: recording.events().peekable(),
        damage: recording.damage(),
        last_at_us: 0,
        queued: VecDeque::new(),
    }
}

/// Writes [`timeline`] to `out`, a line at a time.
pub fn render_timeline(recording: &Recording, out: &mut impl Write) -> Result<(), RecordingError> {
    for line in timeline(recording) {
        writeln!(out, "{}", line?).map_err(RecordingError::Output)?;
    }
    Ok(())
}

/// Writes every event as one JSON object per line, in this version's field names (a version 1
/// recording reads as version 2). Damage is not written; check
/// [`Recording::damage`].
pub fn render_json(recording: &Recording, out: &mut impl Write) -> Result<(), RecordingError> {
    for event in recording.events() {
        serde_json::to_writer(&mut *out, &event?)
            .map_err(|error| RecordingError::Output(error.into()))?;
        out.write_all(b"\n").map_err(RecordingError::Output)?;
    }
    Ok(())
}

/// Iterator behind [`timeline`].
#[derive(Debug)]
pub struct Timeline<'a> {
    subject: &'a str,
    events: Peekable<Events<'a>>,
    damage: Option<&'a RecordingError>,
    last_at_us: u64,
    /// Lines of a multi-line event still to hand out.
    queued: VecDeque<TimelineLine>,
}

impl Iterator for Timeline<'_> {
    type Item = Result<TimelineLine, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(line) = self.queued.pop_front() {
                return Some(Ok(line));
            }
            let event = match self.events.next() {
                Some(Ok(event)) => event,
                Some(Err(error)) => return Some(Err(error)),
                None => {
                    let damage = self.damage.take()?;
                    return Some(Ok(self.line(self.last_at_us, format!("!! {damage}"))));
                }
            };
            self.last_at_us = event.at_us;
            let body = match &event.kind {
                EventKind::Request(request) => self.request_with_result(request),
                EventKind::Rows(rows) => {
                    for row in &rows.rows {
                        let line = self.line(event.at_us, row_text(row));
                        self.queued.push_back(line);
                    }
                    continue;
                }
                kind => event_text(kind),
            };
            return Some(Ok(self.line(event.at_us, body)));
        }
    }
}

impl Timeline<'_> {
    fn line(&self, at_us: u64, body: String) -> TimelineLine {
        stamped(self.subject, at_us, body)
    }

    /// The request's text, with its result appended when the result is the next event.
    fn request_with_result(&mut self, request: &Request) -> String {
        let mut text = request_text(request);
        if let Some(Ok(RecordingEvent {
            kind: EventKind::Result(result),
            ..
        })) = self.events.peek()
            && result.request == request.request
        {
            let _ = write!(text, "  → {}", result_text(result));
            self.events.next();
        }
        text
    }
}

/// The timeline lines of one event on its own, as a live view prints events while they
/// arrive: like [`timeline`], except that a result keeps a line of its own (the request's
/// line was printed before the result existed). `subject` is the session's identity.
pub fn event_lines(subject: &str, event: &RecordingEvent) -> Vec<TimelineLine> {
    match &event.kind {
        EventKind::Rows(rows) => rows
            .rows
            .iter()
            .map(|row| stamped(subject, event.at_us, row_text(row)))
            .collect(),
        EventKind::Request(request) => {
            vec![stamped(subject, event.at_us, request_text(request))]
        }
        kind => vec![stamped(subject, event.at_us, event_text(kind))],
    }
}

fn stamped(subject: &str, at_us: u64, body: String) -> TimelineLine {
    let stamp = format!("+{}.{:03}s", at_us / 1_000_000, at_us % 1_000_000 / 1_000);
    TimelineLine {
        at_us,
        text: format!("{stamp:>9}  {}  {body}", clean(subject)),
    }
}

/// The text of an event that makes one line (everything but rows).
fn event_text(kind: &EventKind) -> String {
    match kind {
        EventKind::Request(request) => request_text(request),
        EventKind::SessionStart(start) => start_text(start),
        EventKind::Approval(approval) => approval_text(approval),
        EventKind::Result(result) => {
            format!("  result #{}  → {}", result.request, result_text(result))
        }
        EventKind::Rows(rows) => format!("  {} rows", rows.rows.len()),
        EventKind::Terminal(data) => terminal_text(data),
        EventKind::TerminalResize(resize) => format!(
            "  terminal #{}  resized to {}x{}",
            resize.request, resize.columns, resize.rows
        ),
        EventKind::HttpExchange(exchange) => http_text(exchange),
        EventKind::Protocol(event) => protocol_text(event),
        EventKind::SessionEnd(end) => format!("disconnect  {}", clean(&end.reason)),
        EventKind::Unrecognised => {
            "(an event of a kind this gatehouse does not know: written by a newer version)"
                .to_owned()
        }
    }
}

fn start_text(start: &SessionStart) -> String {
    let started_at = start
        .started_at
        .format(&Rfc3339)
        .unwrap_or_else(|_| start.started_at.to_string());
    let mut text = format!(
        "connect  {} ({}) at {started_at} as {}",
        clean(&start.connection),
        clean(&start.connection_kind),
        clean(&start.identity_kind)
    );
    if !start.groups.is_empty() {
        let _ = write!(text, ", groups {}", clean(&start.groups.join(", ")));
    }
    if !start.acting_for.is_empty() {
        let _ = write!(
            text,
            ", acting for {}",
            clean(&start.acting_for.join(" → "))
        );
    }
    if let Some(address) = &start.source_address {
        let _ = write!(text, ", from {}", clean(address));
    }
    text
}

fn request_text(request: &Request) -> String {
    let what = request
        .text
        .as_deref()
        .or(request.fingerprint.as_deref())
        .unwrap_or("-");
    let mut text = format!(
        "{}  {}  {}",
        clean(&request.action),
        request.decision.as_str(),
        clean(what)
    );
    match request.decision {
        DecisionKind::Allow => {}
        DecisionKind::Deny => match request.policies.as_slice() {
            [] => text.push_str("  (no policy permits it)"),
            [policy] => {
                let _ = write!(text, "  by policy {}", clean(policy));
            }
            policies => {
                let _ = write!(text, "  by policies {}", clean(&policies.join(", ")));
            }
        },
        DecisionKind::Hold => text.push_str("  awaiting approval"),
    }
    text
}

fn result_text(result: &ResultSummary) -> String {
    let mut text = match (&result.error, &result.status) {
        (Some(error), _) => format!("error {}: {}", clean(&error.code), clean(&error.message)),
        (None, Some(tag)) if !tag.starts_with("SELECT") => clean(tag),
        (None, _) if result.rows == 1 => "1 row".to_owned(),
        (None, _) => format!("{} rows", result.rows),
    };
    let _ = write!(text, ", {}", duration_text(result.duration_us));
    append_masked(&mut text, &result.masked);
    text
}

fn terminal_text(data: &TerminalData) -> String {
    let stream = match data.stream {
        TerminalStream::Input => "in ",
        TerminalStream::Output => "out",
        TerminalStream::Error => "err",
    };
    let shown = match (&data.text, &data.base64) {
        (Some(text), _) => clean(text),
        (None, Some(_)) => {
            let bytes = data.bytes().map_or(0, |bytes| bytes.len());
            format!("({bytes} bytes, not UTF-8)")
        }
        (None, None) => String::new(),
    };
    format!("  terminal #{} {stream}  {shown}", data.request)
}

fn http_text(exchange: &HttpExchange) -> String {
    let mut text = format!(
        "  result #{}  → {} {} {}, {} bytes in, {} bytes out, {}",
        exchange.request,
        exchange.status,
        clean(&exchange.method),
        clean(&exchange.target),
        exchange.request_bytes,
        exchange.response_bytes,
        duration_text(exchange.duration_us)
    );
    append_masked(&mut text, &exchange.masked);
    text
}

fn protocol_text(event: &ProtocolEvent) -> String {
    let mut text = format!("  {} {}", clean(&event.protocol), clean(&event.name));
    if let Some(request) = event.request {
        let _ = write!(text, " #{request}");
    }
    if !event.data.is_null() {
        let _ = write!(text, "  {}", clean(&event.data.to_string()));
    }
    text
}

fn append_masked(text: &mut String, masked: &BTreeMap<String, u64>) {
    if !masked.is_empty() {
        let masked: Vec<String> = masked
            .iter()
            .map(|(rule, count)| format!("{} {count}", clean(rule)))
            .collect();
        let _ = write!(text, ", masked {}", masked.join(", "));
    }
}

fn duration_text(micros: u64) -> String {
    match micros {
        0..1_000 => format!("{micros} µs"),
        1_000..1_000_000 => format!("{:.1} ms", micros as f64 / 1e3),
        _ => format!("{:.2} s", micros as f64 / 1e6),
    }
}

fn approval_text(approval: &Approval) -> String {
    let mut text = format!(
        "approval  request #{}  {}  {}",
        approval.request,
        clean(&approval.approval_id),
        clean(&approval.state)
    );
    if let Some(by) = &approval.by {
        let _ = write!(text, " by {}", clean(by));
    }
    text
}

fn row_text(row: &[Option<String>]) -> String {
    let values: Vec<String> = row
        .iter()
        .map(|value| value.as_deref().map_or_else(|| "NULL".to_owned(), clean))
        .collect();
    format!("    {}", values.join(" | "))
}

/// Folds whitespace runs (newlines included) into one space and escapes other control
/// characters, so text stays on its line and cannot send terminal escapes.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for ch in text.trim().chars() {
        if ch.is_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if ch.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(ch));
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{clean, duration_text};

    #[test]
    fn clean_folds_whitespace_and_escapes_controls() {
        assert_eq!(
            clean("  SELECT *\n\tFROM  t \u{1b}[31m"),
            "SELECT * FROM t \\u{1b}[31m"
        );
        assert_eq!(clean(""), "");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration_text(420), "420 µs");
        assert_eq!(duration_text(400), "400 µs");
        assert_eq!(duration_text(12_340), "12.3 ms");
        assert_eq!(duration_text(2_500_000), "2.50 s");
    }
}
