//! Cancel requests: clients get the server's process id (drivers compare it with
//! `pg_backend_pid()` and with the pid of notifications, and `pg_terminate_backend` of it must
//! reach their own session) but a secret minted by the gateway, never the server's. A cancel
//! request arriving on a fresh connection is matched (pid, then secret compared in constant
//! time) and relayed to the right server with the server's own key; once the server has read
//! it, it also interrupts the session, which matters when the session is waiting on something
//! of gatehouse's own (an approval). Process ids of different servers can be equal, so one
//! pid may stand for several sessions; the secret tells them apart.

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

/// Live sessions' cancel keys, by the server process id the client was given.
#[derive(Default)]
pub struct CancelRegistry {
    entries: Mutex<HashMap<i32, Vec<Entry>>>,
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
        let (interrupts, interrupted) = watch::channel(0);
        let process_id = backend.process_id;
        let Ok(mut entries) = self.entries.lock() else {
            return (
                BackendKey {
                    process_id,
                    secret: rng.random(),
                },
                interrupted,
            );
        };
        let sharing = entries.entry(process_id).or_default();
        let secret = loop {
            let candidate: i32 = rng.random();
            if sharing.iter().all(|entry| entry.secret != candidate) {
                break candidate;
            }
        };
        sharing.push(Entry {
            secret,
            connection: connection.to_owned(),
            backend,
            interrupts,
        });
        (BackendKey { process_id, secret }, interrupted)
    }

    /// Forget a session's key when it ends.
    pub fn unregister(&self, key: BackendKey) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(sharing) = entries.get_mut(&key.process_id)
        {
            sharing.retain(|entry| entry.secret != key.secret);
            if sharing.is_empty() {
                entries.remove(&key.process_id);
            }
        }
    }

    /// The connection and server key a presented client key stands for, if it matches.
    pub(crate) fn resolve(&self, presented: BackendKey) -> Option<Resolved> {
        let entries = self.entries.lock().ok()?;
        let mut found = None;
        // Every candidate is compared, so the time taken does not say which one matched.
        for entry in entries.get(&presented.process_id)? {
            let matches: bool = entry
                .secret
                .to_be_bytes()
                .ct_eq(&presented.secret.to_be_bytes())
                .into();
            if matches {
                found = Some(entry);
            }
        }
        found.map(|entry| Resolved {
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
        assert_eq!(client.process_id, 42, "the client sees the server's pid");
        assert_ne!(client.secret, 7, "but never the server's secret");
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

    #[test]
    fn sessions_on_servers_with_the_same_pid_are_told_apart_by_the_secret() {
        let registry = CancelRegistry::default();
        let one = BackendKey {
            process_id: 100,
            secret: 1,
        };
        let other = BackendKey {
            process_id: 100,
            secret: 2,
        };
        let (first, _) = registry.register("a", one);
        let (second, _) = registry.register("b", other);
        assert_eq!(registry.resolve(first).unwrap().connection, "a");
        assert_eq!(registry.resolve(second).unwrap().connection, "b");
        registry.unregister(first);
        assert!(registry.resolve(first).is_none());
        assert_eq!(registry.resolve(second).unwrap().backend, other);
    }
}
