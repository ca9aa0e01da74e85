//! Cancel requests: clients get a cancel key minted by the gateway, never the server's. A
//! cancel request arriving on a fresh connection is matched (secret compared in constant time)
//! and relayed to the right server with the server's own key.

use crate::connector::BackendKey;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

struct Entry {
    secret: i32,
    connection: String,
    backend: BackendKey,
}

/// Live sessions' cancel keys.
#[derive(Default)]
pub struct CancelRegistry {
    entries: Mutex<HashMap<i32, Entry>>,
}

impl CancelRegistry {
    /// Mint a client-facing key for a session whose server key is `backend`.
    pub fn register(&self, connection: &str, backend: BackendKey) -> BackendKey {
        let mut rng = rand::rng();
        let secret: i32 = rng.random();
        let Ok(mut entries) = self.entries.lock() else {
            return BackendKey {
                process_id: 0,
                secret,
            };
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
            },
        );
        BackendKey { process_id, secret }
    }

    /// Forget a session's key when it ends.
    pub fn unregister(&self, key: BackendKey) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&key.process_id);
        }
    }

    /// The connection and server key a presented client key stands for, if it matches.
    pub fn resolve(&self, presented: BackendKey) -> Option<(String, BackendKey)> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&presented.process_id)?;
        let matches: bool = entry
            .secret
            .to_be_bytes()
            .ct_eq(&presented.secret.to_be_bytes())
            .into();
        matches.then(|| (entry.connection.clone(), entry.backend))
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
        let client = registry.register("demo", server);
        assert_eq!(registry.resolve(client), Some(("demo".into(), server)));
        let forged = BackendKey {
            secret: client.secret.wrapping_add(1),
            ..client
        };
        assert_eq!(registry.resolve(forged), None);
        registry.unregister(client);
        assert_eq!(registry.resolve(client), None);
    }
}
