//! Cancel requests: clients get a cancel key minted by the gateway, never the server's. A
//! cancel request arriving on a fresh connection is matched (secret compared in constant time)
//! and relayed to the right server with the server's own key, and it interrupts the session
//! if the session is waiting on something of gatehouse's own (an approval).

use crate::connector::BackendKey;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

struct Entry {
    secret: i32,
    connection: String,
    backend: BackendKey,
    /// Counts the session's cancel requests.
    interrupts: watch::Sender<u64>,
}

/// What a matching cancel key stands for.
pub(crate) struct Resolved {
    pub connection: String,
    pub backend: BackendKey,
    interrupts: watch::Sender<u64>,
}

impl Resolved {
    /// Tell the session a cancel request arrived.
    pub fn interrupt(&self) {
        self.interrupts
            .send_modify(|count| *count = count.wrapping_add(1));
    }
}

/// Live sessions' cancel keys.
#[derive(Default)]
pub struct CancelRegistry {
    entries: Mutex<HashMap<i32, Entry>>,
}

impl CancelRegistry {
    /// Mint a client-facing key for a session whose server key is `backend`; the receiver
    /// changes whenever a cancel request with that key arrives.
    pub fn register(
        &self,
        connection: &str,
        backend: BackendKey,
    ) -> (BackendKey, watch::Receiver<u64>) {
        let mut rng = rand::rng();
        let secret: i32 = rng.random();
        let (interrupts, interrupted) = watch::channel(0);
        let Ok(mut entries) = self.entries.lock() else {
            return (
                BackendKey {
                    process_id: 0,
                    secret,
                },
                interrupted,
            );
        };
        let process_id = loop {
            let candidate = rng.random_range(1..i32::MAX);
            if !entries.contains_key(&candidate) {
                break candidate;
            }
        };
        entries.insert(
            process_id,
            Entry {
                secret,
                connection: connection.to_owned(),
                backend,
                interrupts,
            },
        );
        (BackendKey { process_id, secret }, interrupted)
    }

    /// Forget a session's key when it ends.
    pub fn unregister(&self, key: BackendKey) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&key.process_id);
        }
    }

    /// The connection and server key a presented client key stands for, if it matches.
    pub(crate) fn resolve(&self, presented: BackendKey) -> Option<Resolved> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&presented.process_id)?;
        let matches: bool = entry
            .secret
            .to_be_bytes()
            .ct_eq(&presented.secret.to_be_bytes())
            .into();
        matches.then(|| Resolved {
            connection: entry.connection.clone(),
            backend: entry.backend,
            interrupts: entry.interrupts.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_the_exact_key_resolves() {
        let registry = CancelRegistry::default();
        let server = BackendKey {
            process_id: 42,
            secret: 7,
        };
        let (client, mut interrupted) = registry.register("demo", server);
        let resolved = registry.resolve(client).unwrap();
        assert_eq!(
            (resolved.connection.as_str(), resolved.backend),
            ("demo", server)
        );
        assert!(!interrupted.has_changed().unwrap());
        resolved.interrupt();
        assert!(interrupted.has_changed().unwrap());
        interrupted.mark_unchanged();
        let forged = BackendKey {
            secret: client.secret.wrapping_add(1),
            ..client
        };
        assert!(registry.resolve(forged).is_none());
        registry.unregister(client);
        assert!(registry.resolve(client).is_none());
    }
}
