//! Server → client: relay every response, keep count of `ReadyForQuery` and errors, and swap
//! the server's error for a refusal marker with gatehouse's refusal.

use super::{Ending, Shared};
use crate::PgError;
use crate::wire::{self, FrameReader};
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Write to the client when this much is buffered even if more frames are waiting.
const FLUSH_AT: usize = 64 * 1024;

pub(super) async fn run<R, W>(
    mut server: FrameReader<R>,
    client: &mut W,
    shared: &Shared,
) -> Result<Ending, PgError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut out = BytesMut::with_capacity(FLUSH_AT);
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
                out.extend_from_slice(&frame.raw);
            }
            b'E' => {
                shared.saw_error();
                let replacement = wire::error_fields(frame.body()).ok().and_then(|fields| {
                    fields
                        .into_iter()
                        .find(|(code, _)| *code == b'M')
                        .and_then(|(_, message)| shared.take_replacement(&message))
                });
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
        }
    }
}
