//! How many objects an answer carried, for its audit outcome: a list's `items` (a Table's
//! `rows`, which is what `kubectl get` asks for), 1 for a single object, and for a watch the
//! number of events. The answer streams, so the count is known only when its body ends; the
//! body is counted as it passes (one pass over the bytes, a few words of state whatever its
//! size) and the outcome recorded then, or when the client goes away mid-stream.

use bytes::Bytes;
use gatehouse_http::body::{BoxError, ProxyBody};
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Reads JSON structure just enough to count: string bytes are skipped, and only the keys of
/// the top-level object are looked at.
#[derive(Debug, Default)]
pub struct ObjectCounter {
    watch: bool,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// In the top-level object, the next string is a key.
    expect_key: bool,
    /// The string being read is a top-level key, its first bytes kept.
    reading_key: bool,
    key: [u8; 8],
    key_len: usize,
    /// The last top-level key was `items` or `rows`.
    list_key: bool,
    /// Inside the top-level `items`/`rows` array; an element starts at the next value.
    in_list: bool,
    element_pending: bool,
    /// This document is a list (it has `items` or `rows`), and its elements so far.
    is_list: bool,
    elements: u64,
    /// Documents completed and, for a single answer, what it counted.
    documents: u64,
    counted: u64,
}

impl ObjectCounter {
    /// A counter for one answer; `watch` when it is a stream of events, one per line.
    pub fn new(watch: bool) -> Self {
        ObjectCounter {
            watch,
            ..ObjectCounter::default()
        }
    }

    /// The objects counted so far: events of a watch, else the list's elements or 1.
    pub fn count(&self) -> u64 {
        if self.watch {
            self.documents
        } else {
            self.counted
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        for &byte in chunk {
            self.byte(byte);
        }
    }

    fn byte(&mut self, byte: u8) {
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if byte == b'\\' {
                self.escaped = true;
            } else if byte == b'"' {
                self.in_string = false;
                if self.reading_key {
                    self.reading_key = false;
                    let key = self.key.get(..self.key_len).unwrap_or_default();
                    self.list_key = key == b"items" || key == b"rows";
                }
            } else if self.reading_key {
                if let Some(slot) = self.key.get_mut(self.key_len) {
                    *slot = byte;
                    self.key_len += 1;
                } else {
                    self.key_len = self.key.len() + 1;
                }
            }
            return;
        }
        match byte {
            b' ' | b'\t' | b'\r' | b'\n' => {}
            b',' => {
                if self.depth == 1 {
                    self.expect_key = true;
                } else if self.depth == 2 && self.in_list {
                    self.element_pending = true;
                }
            }
            b':' => {
                if self.depth == 1 {
                    self.expect_key = false;
                }
            }
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 1 && self.in_list {
                    self.in_list = false;
                }
                if self.depth == 0 {
                    self.document_done();
                }
            }
            _ => {
                self.value_starts();
                match byte {
                    b'"' => {
                        self.in_string = true;
                        self.reading_key = self.depth == 1 && self.expect_key;
                        self.key_len = 0;
                    }
                    b'{' | b'[' => {
                        if byte == b'[' && self.depth == 1 && self.list_key {
                            self.in_list = true;
                            self.is_list = true;
                            self.element_pending = true;
                        }
                        self.depth += 1;
                        self.expect_key = byte == b'{' && self.depth == 1;
                    }
                    _ => {}
                }
            }
        }
    }

    /// A value (or key) begins at the current depth.
    fn value_starts(&mut self) {
        if self.depth == 2 && self.in_list && self.element_pending {
            self.elements += 1;
            self.element_pending = false;
        }
    }

    fn document_done(&mut self) {
        self.documents += 1;
        self.counted = if self.is_list { self.elements } else { 1 };
        self.is_list = false;
        self.elements = 0;
        self.list_key = false;
        self.in_list = false;
        self.expect_key = false;
    }
}

/// Called once with the count when the body ends, fails, or is dropped unfinished.
pub type OnEnd = Box<dyn FnOnce(u64) + Send>;

/// An answer's body, counted as it passes.
pub struct CountedBody {
    inner: ProxyBody,
    counter: ObjectCounter,
    on_end: Option<OnEnd>,
}

impl CountedBody {
    pub fn new(inner: ProxyBody, watch: bool, on_end: OnEnd) -> Self {
        CountedBody {
            inner,
            counter: ObjectCounter::new(watch),
            on_end: Some(on_end),
        }
    }

    fn end(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end(self.counter.count());
        }
    }
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.counter.push(data);
                }
            }
            Poll::Ready(Some(Err(_)) | None) => self.end(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for CountedBody {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(watch: bool, chunks: &[&str]) -> u64 {
        let mut counter = ObjectCounter::new(watch);
        for chunk in chunks {
            counter.push(chunk.as_bytes());
        }
        counter.count()
    }

    #[test]
    fn a_list_counts_its_items_wherever_the_chunks_split() {
        let list = r#"{"kind":"PodList","metadata":{"items":[1,2]},"items":[{"metadata":{"name":"a,\"]}"},"spec":{"containers":[{},{}]}},{"x":[1]},"three",4,null]}"#;
        assert_eq!(counted(false, &[list]), 5);
        for split in 1..list.len() {
            let (head, tail) = list.split_at(split);
            assert_eq!(counted(false, &[head, tail]), 5, "split at {split}");
        }
        assert_eq!(counted(false, &[r#"{"kind":"PodList","items":[]}"#]), 0);
    }

    #[test]
    fn a_table_counts_its_rows_and_a_single_object_is_one() {
        let table = r#"{"kind":"Table","columnDefinitions":[{"name":"Name"},{"name":"Age"}],"rows":[{"cells":["a","1s"]},{"cells":["b","2s"]},{"cells":["c","3s"]}]}"#;
        assert_eq!(counted(false, &[table]), 3);
        assert_eq!(
            counted(
                false,
                &[r#"{"kind":"Pod","metadata":{"name":"items"},"spec":{"items":[1,2,3]}}"#]
            ),
            1
        );
    }

    #[test]
    fn a_watch_counts_its_events() {
        let events = "{\"type\":\"ADDED\",\"object\":{\"items\":[1,2]}}\n{\"type\":\"MODIFIED\",\"object\":{}}\n";
        assert_eq!(counted(true, &[events]), 2);
        assert_eq!(counted(true, &["{\"type\":\"ADDED\",\"object\":{"]), 0);
    }
}
