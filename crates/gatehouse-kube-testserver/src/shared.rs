//! What the server's connections and the test's Rust API share: the token, the objects and the
//! request record, each behind its own lock.

use crate::record::SeenRequest;
use crate::store::Store;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug)]
pub struct Shared {
    pub token: String,
    /// `host:port` the server listens on, as discovery reports it.
    pub address: String,
    store: Mutex<Store>,
    seen: Mutex<Vec<SeenRequest>>,
}

impl Shared {
    pub fn new(token: String, address: String, store: Store) -> Self {
        Self {
            token,
            address,
            store: Mutex::new(store),
            seen: Mutex::new(Vec::new()),
        }
    }

    /// The objects; a test that panicked while holding them leaves them usable.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn seen(&self) -> MutexGuard<'_, Vec<SeenRequest>> {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
