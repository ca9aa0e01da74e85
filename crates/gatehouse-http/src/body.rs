//! One body type for every answer the layer gives — built here (a refusal, a masked document)
//! or streamed from the upstream without buffering (a watch, a log follow) — and bounded reads
//! of the request bodies an adapter must see whole before deciding.

use crate::HttpProxyError;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use std::time::Duration;

/// Any error a body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every request and response the layer handles.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> ProxyBody {
    full(Bytes::new())
}

/// A body streamed through as it arrives (from the client or from the upstream).
pub fn streamed<B>(body: B) -> ProxyBody
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// Read a whole body of at most `limit` bytes within `deadline`: what a request must be to be
/// decided on (a patch, a created object). Over the limit is [`HttpProxyError::BodyTooLarge`]
/// — the rest is never read — and a client that stalls is [`HttpProxyError::BodyRead`].
pub async fn read_bounded<B>(
    body: B,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, HttpProxyError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let collected = tokio::time::timeout(deadline, Limited::new(body, limit).collect())
        .await
        .map_err(|_| {
            HttpProxyError::BodyRead(format!("not received within {} s", deadline.as_secs()))
        })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(HttpProxyError::BodyTooLarge { limit })
        }
        Err(error) => Err(HttpProxyError::BodyRead(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
    use super::*;

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_and_one_under_it_is_read_whole() {
        let deadline = Duration::from_secs(1);
        let read = read_bounded(full("0123456789"), 10, deadline).await;
        assert_eq!(read.ok(), Some(Bytes::from_static(b"0123456789")));
        let over = read_bounded(full("0123456789!"), 10, deadline).await;
        assert!(matches!(
            over,
            Err(HttpProxyError::BodyTooLarge { limit: 10 })
        ));
    }
}
