//! State the two relay directions share: refusal markers waiting for their server error,
//! the queue of sent messages the server model retires, how far the server has got (which
//! unnamed statement and portal it confirmed, how many sent messages it finished, whether it
//! waits for COPY data), and notices gatehouse itself sends the client (a held statement's
//! approval id), which only the outbound side may write.

use super::server_model::{Placed, SentQueue};
use crate::encoding::TextEncoding;
use crate::wire::tags::transaction_status;
use bytes::Bytes;
use rand::RngCore;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// Every refusal marker names an object with this prefix and a random token, so the server's
/// error for it can be recognised (and nothing else can be mistaken for one: the token is
/// unguessable).
pub(crate) const MARKER_PREFIX: &str = "gh_refused_";

/// Markers whose server error has not come back yet, oldest first. A marker the server never
/// answers (because an earlier error made it skip to Sync) just ages out.
const MAX_PENDING: usize = 64;

/// How far the server has got with what `inbound` sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Sent messages the server has finished with.
    pub retired: u64,
    /// COPY FROM STDIN operations the server has started (asked the client for data).
    pub copy_ins_started: u64,
    /// The transaction status of the newest ReadyForQuery (`I`, `T` or `E`).
    pub transaction_status: u8,
    /// `retired` when the newest ReadyForQuery arrived: its status covers every sent message
    /// up to this one.
    pub retired_at_ready: u64,
    /// The server skips everything but Sync, after an extended-protocol error.
    pub skipping: bool,
}

/// What the server answered a request of gatehouse's own, for `inbound`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OwnResult {
    /// A row of its result, its values as text.
    Row(Vec<Option<String>>),
    Done,
    Failed,
}

pub(crate) struct Shared {
    pending: Mutex<VecDeque<(String, Bytes)>>,
    /// Messages sent to the server and not yet answered, oldest first.
    pub sent: SentQueue,
    confirmed_unnamed_statement: AtomicU64,
    confirmed_unnamed_portal: AtomicU64,
    progress: watch::Sender<Progress>,
    /// The encodings the server last reported: client text is read with them.
    text_encoding: Mutex<TextEncoding>,
    own_results: Mutex<Vec<OwnResult>>,
    /// The refusal for a statement that changed more rows than its cap, until `inbound`
    /// rolls it back.
    cap_refusal: Mutex<Option<Bytes>>,
    own_ready: tokio::sync::Notify,
    notices: Mutex<Vec<Bytes>>,
    notice_ready: tokio::sync::Notify,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            pending: Mutex::default(),
            sent: SentQueue::default(),
            confirmed_unnamed_statement: AtomicU64::new(0),
            confirmed_unnamed_portal: AtomicU64::new(0),
            progress: watch::channel(Progress {
                transaction_status: transaction_status::IDLE,
                ..Progress::default()
            })
            .0,
            text_encoding: Mutex::default(),
            own_results: Mutex::default(),
            cap_refusal: Mutex::default(),
            own_ready: tokio::sync::Notify::new(),
            notices: Mutex::default(),
            notice_ready: tokio::sync::Notify::new(),
        }
    }
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

    /// Note what the server model learnt from one server message.
    pub fn note_placed(&self, placed: &Placed, ready_status: Option<u8>) {
        if let Some(id) = placed.confirmed_unnamed_statement {
            self.confirmed_unnamed_statement.store(id, Ordering::SeqCst);
        }
        if let Some(id) = placed.confirmed_unnamed_portal {
            self.confirmed_unnamed_portal.store(id, Ordering::SeqCst);
        }
        self.progress.send_if_modified(|progress| {
            let before = *progress;
            progress.retired = placed.retired;
            progress.skipping = placed.skipping;
            if placed.copy_in_started {
                progress.copy_ins_started += 1;
            }
            if let Some(status) = ready_status {
                progress.transaction_status = status;
                progress.retired_at_ready = placed.retired;
            }
            *progress != before
        });
    }

    /// The newest unnamed statement the server confirmed (ParseComplete) by its id.
    pub fn confirmed_unnamed_statement(&self) -> u64 {
        self.confirmed_unnamed_statement.load(Ordering::SeqCst)
    }

    /// The newest unnamed portal the server confirmed (BindComplete) by its id.
    pub fn confirmed_unnamed_portal(&self) -> u64 {
        self.confirmed_unnamed_portal.load(Ordering::SeqCst)
    }

    /// How far the server has got, now.
    pub fn progress_now(&self) -> Progress {
        *self.progress.borrow()
    }

    /// Follow the server's progress.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Hand `inbound` what the server answered its own request.
    pub fn deliver_own(&self, result: OwnResult) {
        if let Ok(mut results) = self.own_results.lock() {
            results.push(result);
        }
        self.own_ready.notify_one();
    }

    /// Resolves when an answer to gatehouse's own request arrived since the last call.
    pub async fn own_ready(&self) {
        self.own_ready.notified().await;
    }

    /// Take the answers to gatehouse's own request that arrived so far.
    pub fn take_own_results(&self) -> Vec<OwnResult> {
        self.own_results
            .lock()
            .map(|mut results| std::mem::take(&mut *results))
            .unwrap_or_default()
    }

    /// A capped statement changed too many rows: `refusal` is what the client gets.
    pub fn refuse_over_cap(&self, refusal: Bytes) {
        if let Ok(mut slot) = self.cap_refusal.lock() {
            *slot = Some(refusal);
        }
    }

    /// The refusal of a statement that changed too many rows, if one did.
    pub fn take_cap_refusal(&self) -> Option<Bytes> {
        self.cap_refusal
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
    }

    /// The encodings client text is read with now.
    pub fn text_encoding(&self) -> TextEncoding {
        self.text_encoding
            .lock()
            .map(|encoding| *encoding)
            .unwrap_or_default()
    }

    /// Note a `ParameterStatus` the server sent; a refusal when gatehouse can no longer read
    /// the session's SQL as the server does.
    pub fn note_parameter(&self, name: &str, value: &str) -> Result<(), String> {
        let mut encoding = self
            .text_encoding
            .lock()
            .map_err(|_| "the session's encoding state is unusable".to_owned())?;
        encoding.note(name, value)
    }

    /// Start with the encodings the server reported at startup.
    pub fn set_text_encoding(&self, encoding: TextEncoding) {
        if let Ok(mut current) = self.text_encoding.lock() {
            *current = encoding;
        }
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
