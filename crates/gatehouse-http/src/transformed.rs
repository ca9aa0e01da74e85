//! An answer's body passed through chunk transforms as it streams — an adapter's masking, the
//! HTTP API adapter's credential scrubber — and told to whoever records the request's outcome
//! when it ends (or the client goes away): bytes sent, values masked, and whether it was cut.
//! A transform's error ends the body with that error: the client sees a cut answer, never the
//! rest untransformed.

use crate::body::BoxError;
use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One step an answer's bytes go through.
pub trait ChunkTransform: Send {
    /// The bytes to send for `chunk` (possibly fewer, held back until more arrive).
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BoxError>;
    /// The body ended: what is still held.
    fn finish(&mut self) -> Result<Vec<u8>, BoxError>;
    /// Values replaced so far, by detector or rule.
    fn counts(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// How an answer's body ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyEnd {
    /// Bytes sent to the client.
    pub bytes: u64,
    pub masked: BTreeMap<String, u64>,
    /// Why it ended early (the target's stream broke, a transform refused, the client left).
    pub cut: Option<String>,
}

/// Called once when the body ends.
pub type OnEnd = Box<dyn FnOnce(BodyEnd) + Send>;

/// `inner` through `transforms`, in order.
pub struct TransformedBody<B> {
    inner: B,
    transforms: Vec<Box<dyn ChunkTransform>>,
    sent: u64,
    finished: bool,
    on_end: Option<OnEnd>,
}

impl<B> TransformedBody<B> {
    pub fn new(inner: B, transforms: Vec<Box<dyn ChunkTransform>>, on_end: OnEnd) -> Self {
        TransformedBody {
            inner,
            transforms,
            sent: 0,
            finished: false,
            on_end: Some(on_end),
        }
    }

    fn end(&mut self, cut: Option<String>) {
        self.finished = true;
        if let Some(on_end) = self.on_end.take() {
            let mut masked = BTreeMap::new();
            for transform in &self.transforms {
                for (name, count) in transform.counts() {
                    *masked.entry(name).or_insert(0) += count;
                }
            }
            on_end(BodyEnd {
                bytes: self.sent,
                masked,
                cut,
            });
        }
    }

    /// `chunk` through every transform in order; `None`: the body ended, so each transform
    /// takes what the ones before it flushed and then flushes what it holds.
    fn run(&mut self, chunk: Option<&[u8]>) -> Result<Vec<u8>, BoxError> {
        let mut data = chunk.map(<[u8]>::to_vec).unwrap_or_default();
        for transform in &mut self.transforms {
            if !data.is_empty() {
                data = transform.push(&data)?;
            }
            if chunk.is_none() {
                data.extend(transform.finish()?);
            }
        }
        Ok(data)
    }
}

impl<B> Body for TransformedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(error))) => {
                    let error: BoxError = error.into();
                    self.end(Some(format!("the target's answer broke off: {error}")));
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    match self.run(Some(&data)) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => {
                            self.sent += u64::try_from(out.len()).unwrap_or(u64::MAX);
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                        Err(error) => {
                            self.end(Some(format!("gatehouse cut the answer: {error}")));
                            return Poll::Ready(Some(Err(error)));
                        }
                    }
                }
                Poll::Ready(None) => {
                    return match self.run(None) {
                        Ok(out) => {
                            self.sent += u64::try_from(out.len()).unwrap_or(u64::MAX);
                            self.end(None);
                            if out.is_empty() {
                                Poll::Ready(None)
                            } else {
                                Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))))
                            }
                        }
                        Err(error) => {
                            self.end(Some(format!("gatehouse cut the answer: {error}")));
                            Poll::Ready(Some(Err(error)))
                        }
                    };
                }
            }
        }
    }
}

impl<B> Drop for TransformedBody<B> {
    fn drop(&mut self) {
        if !self.finished {
            self.end(Some(
                "the client went away before the answer ended".to_owned(),
            ));
        }
    }
}
