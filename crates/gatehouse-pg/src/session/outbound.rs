//! Server → client: relay every response, keep count of `ReadyForQuery` and errors, swap the
//! server's error for a refusal marker with gatehouse's refusal, and record each forwarded
//! statement's outcome in the audit log.

use super::results::ResultTracker;
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
        let Some(frame) = server.next().await? else {
            if !out.is_empty() {
                client.write_all(&out).await?;
            }
            return Ok(Ending::ServerClosed);
        };
        match frame.tag {
            b'Z' => {
                shared.saw_ready_for_query();
                results.on_ready(&shared.results);
                out.extend_from_slice(&frame.raw);
            }
            b'T' => {
                results.on_row_description(frame.body());
                out.extend_from_slice(&frame.raw);
            }
            b'D' => {
                results.on_data_row(frame.body());
                out.extend_from_slice(&frame.raw);
            }
            b'C' => {
                let tag = wire::command_tag(frame.body());
                results.on_completion(&shared.results, tag);
                out.extend_from_slice(&frame.raw);
            }
            b'I' | b's' | b'V' => {
                results.on_completion(&shared.results, None);
                out.extend_from_slice(&frame.raw);
            }
            b'E' => {
                shared.saw_error();
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
            b'R' | b'K' => {
                return Err(PgError::Protocol(format!(
                    "server sent a startup-only message ({:?}) in the middle of the session",
                    char::from(frame.tag)
                )));
            }
            _ => out.extend_from_slice(&frame.raw),
        }
        if out.len() >= FLUSH_AT || !server.has_buffered_frame() {
            client.write_all(&out).await?;
            out.clear();
            // After the client has its response: outcomes gate nothing, so they never delay it.
            if !results.finished.is_empty() {
                let finished = std::mem::take(&mut results.finished);
                if let Err(error) = pipeline.record_results(context, finished).await {
                    tracing::error!(session = %context.session_id, %error, "statement outcomes could not be recorded");
                }
            }
        }
    }
}
