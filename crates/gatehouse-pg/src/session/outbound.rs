//! Server → client: relay every response, keep count of `ReadyForQuery` and errors, swap the
//! server's error for a refusal marker with gatehouse's refusal, mask result values where the
//! session is masked, and record each forwarded statement's outcome in the audit log.

use super::mask_responses::ResponseMasker;
use super::results::{Front, ResultTracker, StatementHint};
use super::{Ending, Shared};
use crate::PgError;
use crate::wire::{self, FrameReader};
use bytes::BytesMut;
use gatehouse_pipeline::{Pipeline, SessionContext};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Write to the client when this much is buffered even if more frames are waiting.
const FLUSH_AT: usize = 64 * 1024;

pub(super) async fn run<R, W>(
    mut server: FrameReader<R>,
    client: &mut W,
    shared: &Shared,
    pipeline: &Pipeline,
    context: &SessionContext,
    mut masker: Option<ResponseMasker<'_>>,
) -> Result<Ending, PgError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = BytesMut::with_capacity(FLUSH_AT);
    let mut results = ResultTracker::new(
        context
            .recorder
            .as_ref()
            .is_some_and(|recorder| recorder.records_results()),
    );
    loop {
        let next = tokio::select! {
            biased;
            () = shared.notices_ready() => None,
            next = next_valid(&mut server) => Some(next),
        };
        let Some(next) = next else {
            // Gatehouse's own notices go out between whole messages.
            client.write_all(&out).await?;
            out.clear();
            for notice in shared.take_notices() {
                client.write_all(&notice).await?;
            }
            client.flush().await?;
            continue;
        };
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                if !out.is_empty() {
                    client.write_all(&out).await?;
                }
                return Ok(Ending::ServerClosed);
            }
            Err(error) => {
                // A broken or hostile server: what arrived complete before the bad message
                // still reaches the client, and its outcomes the audit log; then the session
                // ends with the error.
                client.write_all(&out).await?;
                record(pipeline, context, &mut results);
                return Err(error);
            }
        };
        let mut swallow = false;
        let masked = match (frame.tag, masker.as_mut()) {
            (b'D', Some(masker)) => masker.on_data_row(frame.body()),
            (b'd', Some(masker)) => masker.on_copy_data(frame.body()),
            (b'S', Some(masker)) => masker.on_parameter_status(frame.body()).map(|()| None),
            (b'T' | b'n', _) => {
                let mut planned = Ok(());
                match shared.results.front() {
                    Front::InjectedDescribe(hint) => {
                        // Gatehouse's own Describe: for planning, never for the client.
                        shared.results.pop_front();
                        if frame.tag == b'T' {
                            results.on_row_description(frame.body());
                            planned = plan(&mut masker, frame.body(), &hint);
                        }
                        swallow = true;
                    }
                    Front::ClientDescribe => shared.results.pop_front(),
                    Front::Statement(hint) if frame.tag == b'T' => {
                        results.on_row_description(frame.body());
                        planned = plan(&mut masker, frame.body(), &hint);
                    }
                    _ if frame.tag == b'T' => {
                        results.on_row_description(frame.body());
                        planned = plan(&mut masker, frame.body(), &StatementHint::default());
                    }
                    _ => {}
                }
                planned.map(|()| None)
            }
            (b'H', Some(masker)) => {
                let hint = match shared.results.front() {
                    Front::Statement(hint) => hint,
                    _ => StatementHint::default(),
                };
                masker.on_copy_out(frame.body(), &hint).map(|()| None)
            }
            (b'C' | b'I' | b's' | b'V' | b'E' | b'Z', Some(masker)) => {
                results.note_masked(&masker.end_result());
                Ok(None)
            }
            _ => Ok(None),
        };
        let masked = match masked {
            Ok(masked) => masked,
            Err(error) => {
                // Fail closed: what was complete before goes out, nothing of this result does.
                client.write_all(&out).await?;
                return Err(error);
            }
        };
        let raw: &[u8] = masked.as_deref().unwrap_or(&frame.raw);
        match frame.tag {
            _ if swallow => {}
            b'Z' => {
                shared.saw_ready_for_query();
                results.on_ready(&shared.results);
                out.extend_from_slice(raw);
            }
            b'D' => {
                results.on_data_row(raw.get(5..).unwrap_or_default());
                out.extend_from_slice(raw);
            }
            b'C' => {
                let tag = wire::command_tag(frame.body());
                results.on_completion(&shared.results, tag);
                out.extend_from_slice(raw);
            }
            b'I' | b's' | b'V' => {
                results.on_completion(&shared.results, None);
                out.extend_from_slice(raw);
            }
            b'E' => {
                shared.saw_error();
                if matches!(
                    shared.results.front(),
                    Front::InjectedDescribe(_) | Front::ClientDescribe
                ) {
                    // The Describe failed; the server skips the rest of the unit.
                    shared.results.pop_front();
                }
                let fields = wire::error_fields(frame.body()).unwrap_or_default();
                let field = |wanted: u8| {
                    fields
                        .iter()
                        .find(|(code, _)| *code == wanted)
                        .map(|(_, value)| value.as_str())
                };
                let message = field(b'M').unwrap_or_default();
                results.on_error(&shared.results, field(b'C').unwrap_or("XX000"), message);
                let replacement = shared.take_replacement(message);
                out.extend_from_slice(replacement.as_deref().unwrap_or(&frame.raw));
            }
            _ => out.extend_from_slice(raw),
        }
        if out.len() >= FLUSH_AT || !server.has_buffered_frame() {
            client.write_all(&out).await?;
            out.clear();
            // After the client has its response: outcomes gate nothing, so they never delay it.
            record(pipeline, context, &mut results);
        }
    }
}

/// Record the outcomes of the statements whose responses the client has.
fn record(pipeline: &Pipeline, context: &SessionContext, results: &mut ResultTracker) {
    if !results.finished.is_empty() {
        let finished = std::mem::take(&mut results.finished);
        if let Err(error) = pipeline.record_results(context, finished) {
            tracing::error!(session = %context.session_id, %error, "statement outcomes could not be recorded");
        }
    }
}

/// The server's next message, if it is one a server may send in a running session and, for
/// the messages whose inner lengths a client trusts (`RowDescription`, `DataRow`), well
/// formed. Anything else would be relayed to a client that cannot make sense of it (or
/// whose parser it attacks), so it ends the session instead.
async fn next_valid<R: AsyncRead + Unpin>(
    server: &mut FrameReader<R>,
) -> Result<Option<wire::Frame>, PgError> {
    let Some(frame) = server.next().await? else {
        return Ok(None);
    };
    match frame.tag {
        b'D' => wire::check_data_row(frame.body())?,
        b'T' => {
            wire::row_description(frame.body())?;
        }
        b'1' | b'2' | b'3' | b'A' | b'C' | b'c' | b'd' | b'E' | b'G' | b'H' | b'I' | b'N'
        | b'n' | b's' | b'S' | b't' | b'V' | b'W' | b'Z' => {}
        b'R' | b'K' | b'v' => {
            return Err(PgError::Protocol(format!(
                "server sent a startup-only message ({:?}) in the middle of the session",
                char::from(frame.tag)
            )));
        }
        other => {
            return Err(PgError::Protocol(format!(
                "server sent message type {:?}, which PostgreSQL's protocol does not have",
                char::from(other)
            )));
        }
    }
    Ok(Some(frame))
}

/// Plan masking for a result set, when the session is masked.
fn plan(
    masker: &mut Option<ResponseMasker<'_>>,
    row_description: &[u8],
    hint: &StatementHint,
) -> Result<(), PgError> {
    match masker {
        Some(masker) => masker.on_row_description(row_description, hint),
        None => Ok(()),
    }
}
