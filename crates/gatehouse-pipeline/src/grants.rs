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

use crate::BoxFuture;
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
/// How long others wait on one caller's refresh before another caller tries.
const REFRESH_GIVEN_UP: Duration = Duration::from_secs(5);
/// Entries kept before the cache is cleared (bounds memory under many identities).
const CACHE_ENTRIES: usize = 10_000;

type CacheKey = (String, String);

/// Active grants with a short-lived cache in front of the store.
pub(crate) struct GrantLookup {
    source: std::sync::Arc<dyn AccessGrants>,
    cache: Mutex<HashMap<CacheKey, Entry>>,
}

impl GrantLookup {
    pub(crate) fn new(source: std::sync::Arc<dyn AccessGrants>) -> Self {
        GrantLookup {
            source,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The grants of `subject` on `connection` in force at `now`. One lookup per key refreshes a stale entry;
    /// decisions that arrive meanwhile use the entry being refreshed (each grant's expiry is
    /// still checked), so a burst of sessions never becomes a burst of store queries.
    pub(crate) async fn in_force(
        &self,
        subject: &str,
        connection: &str,
        now: i64,
    ) -> Vec<AccessGrant> {
        let key = (subject.to_owned(), connection.to_owned());
        let grants = match self.cached_or_claim(&key) {
            Cached::Use(grants) => grants,
            Cached::Refresh => {
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
                    cache.insert(
                        key,
                        Entry {
                            fetched: Instant::now(),
                            grants: fetched.clone(),
                            refreshing_since: None,
                        },
                    );
                }
                fetched
            }
        };
        grants
            .into_iter()
            .filter(|grant| grant.expires_unix_ms > now)
            .collect()
    }

    /// The cached grants, or the duty to refresh them (claimed, so only one caller does).
    fn cached_or_claim(&self, key: &CacheKey) -> Cached {
        let Ok(mut cache) = self.cache.lock() else {
            return Cached::Refresh;
        };
        match cache.get_mut(key) {
            Some(entry)
                if entry.fetched.elapsed() < CACHE_FOR
                    || entry
                        .refreshing_since
                        .is_some_and(|since| since.elapsed() < REFRESH_GIVEN_UP) =>
            {
                Cached::Use(entry.grants.clone())
            }
            Some(entry) => {
                entry.refreshing_since = Some(Instant::now());
                Cached::Refresh
            }
            None => Cached::Refresh,
        }
    }
}

/// One cached lookup.
struct Entry {
    fetched: Instant,
    grants: Vec<AccessGrant>,
    /// Since when a caller has been fetching a fresh copy; others use this one meanwhile. A
    /// refresh whose caller went away (its session ended mid-lookup) is given up after
    /// [`REFRESH_GIVEN_UP`], so an entry never stays stale.
    refreshing_since: Option<Instant>,
}

enum Cached {
    Use(Vec<AccessGrant>),
    Refresh,
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
