//! Server → client: relay every response, placing each in the server model (which says what
//! it answers), swap the server's error for a refusal marker with gatehouse's refusal, mask
//! result values where the session is masked, and record each forwarded statement's outcome
//! in the audit log.

use super::mask_responses::ResponseMasker;
use super::refusals::OwnResult;
use super::results::ResultTracker;
use super::server_model::{OwnAnswer, Placed, ServerModel, StatementEnding};
use super::{Ending, Shared};
use crate::PgError;
use crate::encoding::TextEncoding;
use crate::wire::tags::{backend, error_field};
use crate::wire::{self, FrameReader};
use bytes::BytesMut;
use gatehouse_pipeline::{Pipeline, SessionContext};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Write to the client when this much is buffered even if more frames are waiting.
const FLUSH_AT: usize = 64 * 1024;

/// What the outbound side keeps across the session, so that whatever is still unanswered
/// when the session ends can be recorded as such.
pub(super) struct OutboundState {
    pub model: ServerModel,
    pub results: ResultTracker,
}

impl OutboundState {
    pub fn new(context: &SessionContext) -> Self {
        OutboundState {
            model: ServerModel::default(),
            results: ResultTracker::new(
                context
                    .recorder
                    .as_ref()
                    .is_some_and(|recorder| recorder.records_results()),
            ),
        }
    }
}

pub(super) async fn run<R, W>(
    mut server: FrameReader<R>,
    client: &mut W,
    shared: &Shared,
    pipeline: &Pipeline,
    context: &SessionContext,
    mut masker: Option<ResponseMasker<'_>>,
    state: &mut OutboundState,
) -> Result<Ending, PgError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = BytesMut::with_capacity(FLUSH_AT);
    // The server said why it is ending the session (a FATAL error): nothing more to add.
    let mut server_said_why = false;
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
            let encoding = shared.text_encoding();
            for notice in shared.take_notices() {
                client
                    .write_all(&in_client_encoding(&notice, encoding))
                    .await?;
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
                return Ok(Ending::ServerClosed {
                    explained: server_said_why,
                });
            }
            Err(error) => {
                // A broken or hostile server: what arrived complete before the bad message
                // still reaches the client, and its outcomes the audit log; then the session
                // ends with the error.
                client.write_all(&out).await?;
                record(pipeline, context, &mut state.results);
                return Err(error);
            }
        };
        let error = ServerError::of(frame.tag, frame.body());
        server_said_why |= error.fatal;
        let mut placed = match state.model.on_message(
            &shared.sent,
            frame.tag,
            error.text.as_deref(),
        ) {
            Ok(placed) => placed,
            Err(desync) => {
                client.write_all(&out).await?;
                record(pipeline, context, &mut state.results);
                tracing::error!(session = %context.session_id, reason = %desync.0, "the server's answers no longer match what gatehouse sent");
                return Err(PgError::Desync(desync.0));
            }
        };
        if frame.tag == backend::COMMAND_COMPLETE {
            refuse_over_cap(&mut placed, frame.body(), shared);
        }
        let ready_status = (frame.tag == backend::READY_FOR_QUERY)
            .then(|| frame.body().first().copied())
            .flatten();
        shared.note_placed(&placed, ready_status);
        if let Some(answer) = &placed.own {
            deliver_own(answer, frame.body(), shared, &mut out);
            for finished in placed.finished {
                state.results.settle(finished, None);
            }
            if !server.has_buffered_frame() {
                client.write_all(&out).await?;
                out.clear();
                client.flush().await?;
                record(pipeline, context, &mut state.results);
            }
            continue;
        }
        if frame.tag == backend::PARAMETER_STATUS {
            let mut reader = wire::BodyReader::new(frame.body(), "ParameterStatus");
            let (name, value) = (reader.cstr_lossy()?, reader.cstr_lossy()?);
            if let Err(refusal) = shared.note_parameter(&name, &value) {
                // Before the report (or anything read the new way) reaches the client.
                client.write_all(&out).await?;
                record(pipeline, context, &mut state.results);
                return Err(PgError::Unreadable(refusal));
            }
        }
        let masked = match masker.as_mut() {
            Some(masker) => match mask(masker, frame.tag, frame.body(), &mut placed) {
                Ok(masked) => masked,
                Err(error) => {
                    // Fail closed: what was complete before goes out, nothing of this result does.
                    client.write_all(&out).await?;
                    return Err(error);
                }
            },
            None => None,
        };
        if let Some(masker) = masker.as_mut()
            && matches!(
                frame.tag,
                backend::COMMAND_COMPLETE
                    | backend::EMPTY_QUERY_RESPONSE
                    | backend::PORTAL_SUSPENDED
                    | backend::FUNCTION_CALL_RESPONSE
                    | backend::ERROR_RESPONSE
                    | backend::READY_FOR_QUERY
            )
        {
            state.results.note_masked(&masker.end_result());
        }
        let raw: &[u8] = masked.as_deref().unwrap_or(&frame.raw);
        track_result(
            &mut state.results,
            frame.tag,
            frame.body(),
            raw,
            &mut placed,
            shared,
        );
        relay_to_client(&placed, frame.tag, raw, &error, shared, &mut out);
        if out.len() >= FLUSH_AT || !server.has_buffered_frame() {
            client.write_all(&out).await?;
            out.clear();
            // `write_all` over TLS can return with records still buffered in the TLS layer
            // (the socket was full): without the flush a large response stalls at its end.
            client.flush().await?;
            // After the client has its response: outcomes gate nothing, so they never delay it.
            record(pipeline, context, &mut state.results);
        }
    }
}

/// What an ErrorResponse from the server says, as far as the relay needs it (empty for any
/// other message).
struct ServerError {
    /// FATAL or PANIC: the server is ending the session and said why.
    fatal: bool,
    /// `SQLSTATE: message`, for the server model and the audit log.
    text: Option<String>,
    /// The message, which names a refusal marker when the error is gatehouse's own.
    message: String,
}

impl ServerError {
    fn of(tag: u8, body: &[u8]) -> ServerError {
        if tag != backend::ERROR_RESPONSE {
            return ServerError {
                fatal: false,
                text: None,
                message: String::new(),
            };
        }
        let fields = wire::error_fields(body).unwrap_or_default();
        let field = |wanted: u8| {
            fields
                .iter()
                .find(|(code, _)| *code == wanted)
                .map(|(_, value)| value.as_str())
        };
        let message = field(error_field::MESSAGE).unwrap_or_default().to_owned();
        ServerError {
            fatal: matches!(
                field(error_field::SEVERITY_NONLOCALIZED).or(field(error_field::SEVERITY)),
                Some("FATAL" | "PANIC")
            ),
            text: Some(format!(
                "{}: {message}",
                field(error_field::CODE).unwrap_or("XX000")
            )),
            message,
        }
    }
}

/// The answer to one of gatehouse's own requests goes to the waiting `inbound`, never to the
/// client (except an error gatehouse chose to relay), never masked or recorded.
fn deliver_own(answer: &OwnAnswer, body: &[u8], shared: &Shared, out: &mut BytesMut) {
    match answer {
        OwnAnswer::Row => {
            let values = wire::data_row(body).unwrap_or_default();
            let encoding = shared.text_encoding();
            shared.deliver_own(OwnResult::Row(
                values
                    .iter()
                    .map(|value| value.map(|v| encoding.decode_lossy(v)))
                    .collect(),
            ));
        }
        OwnAnswer::Done => shared.deliver_own(OwnResult::Done),
        OwnAnswer::Failed { relay } => {
            if let Some(error) = relay {
                out.extend_from_slice(&in_client_encoding(error, shared.text_encoding()));
            }
            shared.deliver_own(OwnResult::Failed);
        }
        OwnAnswer::Progress => {}
    }
}

/// Follow a result for the audit log and the recording: its columns, its (masked) rows, the
/// statements it finishes, and the end of the response.
fn track_result(
    results: &mut ResultTracker,
    tag: u8,
    body: &[u8],
    raw: &[u8],
    placed: &mut Placed,
    shared: &Shared,
) {
    match tag {
        backend::ROW_DESCRIPTION if placed.describes_rows_of.is_some() || placed.columns_follow => {
            results.on_row_description(body, shared.text_encoding());
        }
        backend::DATA_ROW => results.on_data_row(raw.get(5..).unwrap_or_default()),
        _ => {}
    }
    let command_tag = (tag == backend::COMMAND_COMPLETE)
        .then(|| wire::command_tag(body))
        .flatten();
    for finished in std::mem::take(&mut placed.finished) {
        results.settle(finished, command_tag);
    }
    if matches!(tag, backend::READY_FOR_QUERY | backend::ERROR_RESPONSE) {
        results.reset();
    }
}

/// What of the server's message the client gets: nothing for gatehouse's own requests, a
/// completion where a statement is answered as another command, gatehouse's refusal in place
/// of the error a refusal marker caused, else the (masked) message itself.
fn relay_to_client(
    placed: &Placed,
    tag: u8,
    raw: &[u8],
    error: &ServerError,
    shared: &Shared,
    out: &mut BytesMut,
) {
    if placed.swallow {
        // Gatehouse's own request: its answer is not the client's.
    } else if let Some(command) = placed.reply_as_command {
        out.extend_from_slice(&wire::command_complete(command));
    } else if tag == backend::ERROR_RESPONSE {
        match shared.take_replacement(&error.message) {
            Some(refusal) => {
                out.extend_from_slice(&in_client_encoding(&refusal, shared.text_encoding()));
            }
            None => out.extend_from_slice(raw),
        }
    } else {
        out.extend_from_slice(raw);
    }
}

/// A completion of a statement that changed more rows than its cap (`@max_rows`): not
/// relayed; its outcome is a failure, and `inbound`, which waits for this count before
/// sending anything else, rolls it back and gives the client the refusal. Done before the
/// placement is published, so `inbound` never sees the statement finished without it.
fn refuse_over_cap(placed: &mut Placed, body: &[u8], shared: &Shared) {
    let rows = wire::command_tag(body).and_then(super::results::rows_of_tag);
    for finished in &mut placed.finished {
        let (Some(cap), StatementEnding::Completed(None), Some(rows)) =
            (finished.statement.row_cap, &finished.ending, rows)
        else {
            continue;
        };
        if rows <= cap {
            continue;
        }
        let message = format!(
            "gatehouse: the statement changed {rows} rows, more than the {cap} policy allows it (`@max_rows`); it was rolled back"
        );
        finished.ending = StatementEnding::Failed(format!("42501: {message}"));
        placed.swallow = true;
        shared.refuse_over_cap(wire::error_response(
            wire::Severity::Error,
            "42501",
            &message,
            None,
            Some(
                "narrow the WHERE clause, or ask for an approval or a policy that allows more rows",
            ),
        ));
    }
}

/// Mask one server message of a masked session: the masked message to relay instead, if
/// anything changed, or a refusal (fail closed). Errors also have the outcome `placed`
/// records for them masked.
fn mask(
    masker: &mut ResponseMasker<'_>,
    tag: u8,
    body: &[u8],
    placed: &mut Placed,
) -> Result<Option<bytes::Bytes>, PgError> {
    match tag {
        backend::DATA_ROW => masker.on_data_row(body),
        backend::COPY_DATA => masker.on_copy_data(body),
        backend::PARAMETER_STATUS => masker.on_parameter_status(body),
        backend::ERROR_RESPONSE | backend::NOTICE_RESPONSE => {
            Ok(masker.on_error_or_notice(tag, body, placed))
        }
        backend::NOTIFICATION_RESPONSE => Ok(masker.on_notification(body)),
        backend::ROW_DESCRIPTION => match &placed.describes_rows_of {
            Some(hint) => masker.on_row_description(body, hint).map(|()| None),
            None => Ok(None),
        },
        backend::COPY_OUT_RESPONSE => {
            let hint = placed.copy_out_of.clone().unwrap_or_default();
            masker.on_copy_out(body, &hint).map(|()| None)
        }
        _ => Ok(None),
    }
}

/// A message of gatehouse's own (an error or notice, written in UTF-8) in the client's
/// encoding: its text fields re-encoded, characters the encoding lacks as `?`.
pub(super) fn in_client_encoding(
    message: &[u8],
    encoding: TextEncoding,
) -> std::borrow::Cow<'_, [u8]> {
    if encoding.is_utf8() || message.is_ascii() {
        return message.into();
    }
    let (Some(tag), Some(body)) = (message.first(), message.get(5..)) else {
        return message.into();
    };
    let Ok(fields) = wire::error_fields(body) else {
        return message.into();
    };
    let encoded: Vec<(u8, std::borrow::Cow<'_, [u8]>)> = fields
        .iter()
        .map(|(code, value)| (*code, encoding.encode(value)))
        .collect();
    wire::fields_message(*tag, &encoded).to_vec().into()
}

/// Record the outcomes of the statements whose responses the client has.
pub(super) fn record(pipeline: &Pipeline, context: &SessionContext, results: &mut ResultTracker) {
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
        backend::DATA_ROW => wire::check_data_row(frame.body())?,
        backend::ROW_DESCRIPTION => {
            wire::row_description(frame.body())?;
        }
        backend::PARSE_COMPLETE
        | backend::BIND_COMPLETE
        | backend::CLOSE_COMPLETE
        | backend::NOTIFICATION_RESPONSE
        | backend::COMMAND_COMPLETE
        | backend::COPY_DONE
        | backend::COPY_DATA
        | backend::ERROR_RESPONSE
        | backend::COPY_IN_RESPONSE
        | backend::COPY_OUT_RESPONSE
        | backend::EMPTY_QUERY_RESPONSE
        | backend::NOTICE_RESPONSE
        | backend::NO_DATA
        | backend::PORTAL_SUSPENDED
        | backend::PARAMETER_STATUS
        | backend::PARAMETER_DESCRIPTION
        | backend::FUNCTION_CALL_RESPONSE
        | backend::READY_FOR_QUERY => {}
        backend::AUTHENTICATION
        | backend::BACKEND_KEY_DATA
        | backend::NEGOTIATE_PROTOCOL_VERSION => {
            return Err(PgError::Protocol(format!(
                "server sent a startup-only message ({:?}) in the middle of the session",
                char::from(frame.tag)
            )));
        }
        other => {
            return Err(PgError::Protocol(format!(
                "server sent message type {:?}, which PostgreSQL's protocol does not have outside replication",
                char::from(other)
            )));
        }
    }
    Ok(Some(frame))
}
