//! A recording's terminal streams as an asciicast v2 file, so an exec or shell session plays
//! in `asciinema play` and the asciinema web player: a header line (terminal size, start
//! time, title) and one `[seconds, code, data]` line per terminal event — `o` output (standard
//! error is output too: a terminal shows both), `i` input, `r` resize (`"COLSxROWS"`). Bytes
//! that are not UTF-8 are written lossily (asciicast carries text). Only the terminal streams
//! of `request` are exported when one is given (a session may run several execs).

use crate::{EventKind, Recording, RecordingError, TerminalStream};
use std::io::Write;

/// The terminal size asciicast assumes when the recording has no resize before its output.
const DEFAULT_SIZE: (u16, u16) = (80, 24);

/// Write `recording`'s terminal events (of `request` only, when given) as asciicast v2.
/// Returns how many events were written.
pub fn render_asciicast(
    recording: &Recording,
    request: Option<u64>,
    out: &mut impl Write,
) -> Result<usize, RecordingError> {
    let ours = |number: u64| request.is_none_or(|wanted| wanted == number);
    let mut events = Vec::new();
    let mut size = None;
    for event in recording.events() {
        let event = event?;
        let seconds = event.at_us as f64 / 1_000_000.0;
        match event.kind {
            EventKind::Terminal(data) if ours(data.request) => {
                let code = match data.stream {
                    TerminalStream::Input => "i",
                    TerminalStream::Output | TerminalStream::Error => "o",
                };
                let bytes = data.bytes().unwrap_or_default();
                events.push(serde_json::json!([
                    seconds,
                    code,
                    String::from_utf8_lossy(&bytes)
                ]));
            }
            EventKind::TerminalResize(resize) if ours(resize.request) => {
                if size.is_none() && events.is_empty() {
                    size = Some((resize.columns, resize.rows));
                }
                events.push(serde_json::json!([
                    seconds,
                    "r",
                    format!("{}x{}", resize.columns, resize.rows)
                ]));
            }
            _ => {}
        }
    }
    let (width, height) = size.unwrap_or(DEFAULT_SIZE);
    let header = recording.header();
    let line = serde_json::json!({
        "version": 2,
        "width": width,
        "height": height,
        "timestamp": header.started_at.unix_timestamp(),
        "title": format!("{} on {} (session {})", header.subject, header.connection, header.session),
    });
    let write = |out: &mut dyn Write, value: &serde_json::Value| {
        serde_json::to_writer(&mut *out, value)
            .map_err(|error| RecordingError::Output(error.into()))?;
        out.write_all(b"\n").map_err(RecordingError::Output)
    };
    write(out, &line)?;
    for event in &events {
        write(out, event)?;
    }
    Ok(events.len())
}
