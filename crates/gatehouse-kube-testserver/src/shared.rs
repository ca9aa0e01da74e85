//! What the server's connections and the test's Rust API share: the token, the objects, the
//! pods' runtime side and the records of requests and streaming sessions, each behind its own
//! lock.

use crate::pods::Pods;
use crate::record::SeenRequest;
use crate::sessions::StreamSession;
use crate::store::Store;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug)]
pub struct Shared {
    pub token: String,
    /// `host:port` the server listens on, as discovery reports it.
    pub address: String,
    /// Whether WebSocket upgrades are served (see [`crate::Options::without_websockets`]).
    pub websockets: bool,
    store: Mutex<Store>,
    pods: Mutex<Pods>,
    seen: Mutex<Vec<SeenRequest>>,
    sessions: Mutex<Vec<StreamSession>>,
}

impl Shared {
    pub fn new(token: String, address: String, store: Store, pods: Pods) -> Self {
        Self {
            token,
            address,
            websockets: true,
            store: Mutex::new(store),
            pods: Mutex::new(pods),
            seen: Mutex::new(Vec::new()),
            sessions: Mutex::new(Vec::new()),
        }
    }

    /// The objects; a test that panicked while holding them leaves them usable.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub fn pods(&self) -> MutexGuard<'_, Pods> {
        lock(&self.pods)
    }

    pub fn seen(&self) -> MutexGuard<'_, Vec<SeenRequest>> {
        lock(&self.seen)
    }

    pub fn sessions(&self) -> MutexGuard<'_, Vec<StreamSession>> {
        lock(&self.sessions)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
