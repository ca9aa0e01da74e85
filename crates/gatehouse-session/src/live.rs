//! The live sessions, by whom they belong to and which credential opened them, so that
//! revoking an identity, a token or an API key ends the sessions depending on it at once
//! (rather than letting them run on until the client disconnects), with the reason sent to
//! the client; and by session id, so that an operator can end one session
//! (`gatehouse sessions kill ID`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// Registry of the gateway's open sessions, of every protocol.
#[derive(Default)]
pub struct LiveSessions {
    next_id: AtomicU64,
    sessions: Mutex<HashMap<u64, Entry>>,
}

struct Entry {
    /// The session id audit events and recordings name (`s-...`).
    session_id: String,
    subject: String,
    acting_for: Vec<String>,
    credential_id: String,
    /// Set to the reason when the session must end.
    end: watch::Sender<Option<String>>,
}

/// A registered session; unregisters itself when dropped.
pub struct Registration<'a> {
    sessions: &'a LiveSessions,
    id: u64,
    /// Becomes `Some(reason)` when the session must end.
    pub ended: watch::Receiver<Option<String>>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

impl LiveSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts
        // and removes), so a poisoned lock is still usable.
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Register session `session_id` (the id its audit events and recording name).
    pub fn register(
        &self,
        session_id: &str,
        subject: &str,
        acting_for: &[String],
        credential_id: &str,
    ) -> Registration<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (end, ended) = watch::channel(None);
        self.lock().insert(
            id,
            Entry {
                session_id: session_id.to_owned(),
                subject: subject.to_owned(),
                acting_for: acting_for.to_vec(),
                credential_id: credential_id.to_owned(),
                end,
            },
        );
        Registration {
            sessions: self,
            id,
            ended,
        }
    }

    /// End every session of `subject` or acting for it; returns how many.
    pub fn end_identity(&self, subject: &str, reason: &str) -> usize {
        self.end_where(reason, |entry| {
            entry.subject == subject || entry.acting_for.iter().any(|s| s == subject)
        })
    }

    /// End every session opened with the credential `id` (API key id or token `jti`).
    pub fn end_credential(&self, id: &str, reason: &str) -> usize {
        self.end_where(reason, |entry| entry.credential_id == id)
    }

    /// End the session whose id is `session_id`; false when no such session is live (or it is
    /// already ending).
    pub fn end_session(&self, session_id: &str, reason: &str) -> bool {
        self.end_where(reason, |entry| entry.session_id == session_id) > 0
    }

    fn end_where(&self, reason: &str, matches: impl Fn(&Entry) -> bool) -> usize {
        let sessions = self.lock();
        let mut ended = 0;
        for entry in sessions.values().filter(|entry| matches(entry)) {
            if entry.end.borrow().is_none() {
                entry.end.send_replace(Some(reason.to_owned()));
                ended += 1;
            }
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn revocations_reach_exactly_the_sessions_that_depend_on_them() {
        let live = LiveSessions::default();
        let ana = live.register("s-1", "ana", &[], "key-a");
        let agent = live.register("s-2", "agent-7", &["ana".to_owned()], "jti-1");
        let bob = live.register("s-3", "bob", &[], "key-b");
        assert_eq!(live.end_identity("ana", "identity `ana` was revoked"), 2);
        assert_eq!(
            ana.ended.borrow().as_deref(),
            Some("identity `ana` was revoked")
        );
        assert!(agent.ended.borrow().is_some());
        assert!(bob.ended.borrow().is_none());
        // Ending again is not counted twice.
        assert_eq!(live.end_identity("ana", "again"), 0);
        assert_eq!(live.end_credential("key-b", "key revoked"), 1);
        assert!(bob.ended.borrow().is_some());
        // A session that ended is gone from the registry: nothing is ended for it.
        let carl = live.register("s-4", "carl", &[], "key-c");
        drop(carl);
        assert_eq!(live.end_credential("key-c", "revoked"), 0);
    }

    #[test]
    fn a_session_is_ended_by_its_id_alone() {
        let live = LiveSessions::default();
        let one = live.register("s-1", "ana", &[], "key-a");
        let two = live.register("s-2", "ana", &[], "key-a");
        assert!(live.end_session("s-1", "ended by root: incident 42"));
        assert_eq!(
            one.ended.borrow().as_deref(),
            Some("ended by root: incident 42")
        );
        assert!(two.ended.borrow().is_none());
        // Already ending, unknown, or gone: nothing to end.
        assert!(!live.end_session("s-1", "again"));
        assert!(!live.end_session("s-9", "unknown"));
        drop(two);
        assert!(!live.end_session("s-2", "gone"));
    }
}
