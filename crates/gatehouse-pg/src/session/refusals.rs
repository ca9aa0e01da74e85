//! State the two relay directions share: refusal markers waiting for their server error,
//! counters that let `inbound` know how far the server has got, the queue that matches
//! responses to requests, and notices gatehouse itself sends the client (a held statement's
//! approval id), which only the outbound side may write.

use super::results::ResultQueue;
use bytes::Bytes;
use rand::RngCore;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Every refusal marker names an object with this prefix and a random token, so the server's
/// error for it can be recognised (and nothing else can be mistaken for one: the token is
/// unguessable).
pub(crate) const MARKER_PREFIX: &str = "gh_refused_";

/// Markers whose server error has not come back yet, oldest first. A marker the server never
/// answers (because an earlier error made it skip to Sync) just ages out.
const MAX_PENDING: usize = 64;

#[derive(Default)]
pub(crate) struct Shared {
    pending: Mutex<VecDeque<(String, Bytes)>>,
    ready_for_query: AtomicU64,
    errors: AtomicU64,
    pub results: ResultQueue,
    notices: Mutex<Vec<Bytes>>,
    notice_ready: tokio::sync::Notify,
}

impl Shared {
    /// Register a refusal: returns the marker name to send to the server, whose error the
    /// outbound side will replace with `replacement`.
    pub fn new_marker(&self, replacement: Bytes) -> String {
        let mut token = [0u8; 16];
        rand::rng().fill_bytes(&mut token);
        let name = format!("{MARKER_PREFIX}{}", hex::encode(token));
        if let Ok(mut pending) = self.pending.lock() {
            if pending.len() >= MAX_PENDING {
                pending.pop_front();
            }
            pending.push_back((name.clone(), replacement));
        }
        name
    }

    /// If `message` (a server error's text) names a pending marker, take its replacement.
    pub fn take_replacement(&self, message: &str) -> Option<Bytes> {
        let start = message.find(MARKER_PREFIX)?;
        let rest = message.get(start..)?;
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let mut pending = self.pending.lock().ok()?;
        let index = pending.iter().position(|(n, _)| *n == name)?;
        pending.remove(index).map(|(_, replacement)| replacement)
    }

    pub fn saw_ready_for_query(&self) {
        self.ready_for_query.fetch_add(1, Ordering::SeqCst);
    }

    pub fn saw_error(&self) {
        self.errors.fetch_add(1, Ordering::SeqCst);
    }

    /// `ReadyForQuery` messages relayed since the session started.
    pub fn ready_count(&self) -> u64 {
        self.ready_for_query.load(Ordering::SeqCst)
    }

    /// Server errors relayed since the session started.
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::SeqCst)
    }

    /// Queue a message of gatehouse's own (a `NoticeResponse`) for the client.
    pub fn send_notice(&self, notice: Bytes) {
        if let Ok(mut notices) = self.notices.lock() {
            notices.push(notice);
        }
        self.notice_ready.notify_one();
    }

    /// Resolves when notices are queued (at once if some were queued since the last call).
    pub async fn notices_ready(&self) {
        self.notice_ready.notified().await;
    }

    /// Take the queued notices.
    pub fn take_notices(&self) -> Vec<Bytes> {
        self.notices
            .lock()
            .map(|mut notices| std::mem::take(&mut *notices))
            .unwrap_or_default()
    }
}
