//! Time-boxed access grants: an approved `access:grant` approval adds a group to its
//! requester's identity on one connection until it expires. Policies see the group like any
//! other (`principal in Gatehouse::Group::"writers"`), so a grant is exactly "the rights of
//! that group, here, for a while".
//!
//! Grants are looked up for every decision, so a live session gains the rights as soon as the
//! grant is approved and loses them the moment it expires (the session is downgraded, not
//! ended). Lookups are cached per (subject, connection) for a second; each grant's own expiry
//! is checked at every decision, so the cache never extends one. A failed lookup means no
//! grant (fewer rights, never more).

use crate::{BoxFuture, SessionContext};
use gatehouse_core::Identity;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `action` of an approval that asks for a grant.
pub const GRANT_ACTION: &str = "access:grant";

/// An approval's `fingerprint` for a grant of `group`: `access:<group>`.
pub fn grant_fingerprint(group: &str) -> String {
    format!("access:{group}")
}

/// One active grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The group the grant adds.
    pub group: String,
    /// The approval that granted it.
    pub approval_id: String,
    pub expires_unix_ms: i64,
}

/// Where active grants are found (the store).
pub trait AccessGrants: Send + Sync {
    /// Grants approved for `subject` on `connection` and unexpired at `now_unix_ms`.
    fn active_grants(
        &self,
        subject: &str,
        connection: &str,
        now_unix_ms: i64,
    ) -> BoxFuture<'_, Result<Vec<AccessGrant>, String>>;
}

/// How long a lookup is reused.
const CACHE_FOR: Duration = Duration::from_secs(1);
/// Entries kept before the cache is cleared (bounds memory under many identities).
const CACHE_ENTRIES: usize = 10_000;

type CacheKey = (String, String);

/// Active grants with a short-lived cache in front of the store.
pub(crate) struct GrantLookup {
    source: std::sync::Arc<dyn AccessGrants>,
    cache: Mutex<HashMap<CacheKey, (Instant, Vec<AccessGrant>)>>,
}

impl GrantLookup {
    pub(crate) fn new(source: std::sync::Arc<dyn AccessGrants>) -> Self {
        GrantLookup {
            source,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The session's grants in force at `now`.
    pub(crate) async fn in_force(&self, session: &SessionContext, now: i64) -> Vec<AccessGrant> {
        let key = (
            session.identity.subject.clone(),
            session.connection.name.clone(),
        );
        let cached = self.cache.lock().ok().and_then(|cache| {
            cache
                .get(&key)
                .filter(|(fetched, _)| fetched.elapsed() < CACHE_FOR)
                .map(|(_, grants)| grants.clone())
        });
        let grants = match cached {
            Some(grants) => grants,
            None => {
                let fetched = self
                    .source
                    .active_grants(&key.0, &key.1, now)
                    .await
                    .unwrap_or_else(|error| {
                        tracing::warn!(%error, "access grants could not be looked up; deciding without them");
                        Vec::new()
                    });
                if let Ok(mut cache) = self.cache.lock() {
                    if cache.len() >= CACHE_ENTRIES {
                        cache.clear();
                    }
                    cache.insert(key, (Instant::now(), fetched.clone()));
                }
                fetched
            }
        };
        grants
            .into_iter()
            .filter(|grant| grant.expires_unix_ms > now)
            .collect()
    }
}

/// `identity` with the groups of `grants` added.
pub(crate) fn with_granted_groups(identity: &Identity, grants: &[AccessGrant]) -> Identity {
    let mut granted = identity.clone();
    for grant in grants {
        if !granted.groups.contains(&grant.group) {
            granted.groups.push(grant.group.clone());
        }
    }
    granted
}
