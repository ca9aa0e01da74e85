//! A bounded, thread-safe memo of verdicts, so that the requests a session sends over and
//! over cost a key and a lookup instead of a Cedar evaluation (building the context and
//! evaluating the policies was about 67,000 instructions per pgbench transaction).
//!
//! One memo belongs to one [`crate::PolicyEngine`], so a reloaded policy set starts empty.
//! Keys are exact encodings of a decision's inputs ([`crate::decision_key`]), held in a
//! [`TwoGenerationMap`] (as `gatehouse-sql`'s statement cache does): memory bounded to
//! `capacity` entries of bounded keys, O(1), roughly least-recently-used, and threads deciding
//! at once do not wait on each other.

use crate::engine::PolicyVerdict;
use gatehouse_core::TwoGenerationMap;

/// Verdicts by decision key, at most `capacity` of them.
pub(crate) struct Memo {
    verdicts: TwoGenerationMap<[u8], PolicyVerdict>,
    /// Lookups answered, so tests can tell a memoised verdict from a recomputed one.
    #[cfg(test)]
    pub(crate) hits: std::sync::atomic::AtomicUsize,
}

impl Memo {
    /// A memo of at most `capacity` verdicts (rounded down to an even number).
    pub(crate) fn new(capacity: usize) -> Self {
        Memo {
            verdicts: TwoGenerationMap::new(capacity),
            #[cfg(test)]
            hits: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The verdict memoised under `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<PolicyVerdict> {
        let found = self.verdicts.get(key);
        #[cfg(test)]
        if found.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        found
    }

    /// Memoise `verdict` under `key`.
    pub(crate) fn insert(&self, key: Vec<u8>, verdict: PolicyVerdict) {
        self.verdicts.insert(key.into_boxed_slice(), verdict);
    }

    /// Number of verdicts held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.verdicts.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::Ordering;

    fn verdict(allowed: bool) -> PolicyVerdict {
        PolicyVerdict {
            allowed,
            determining_policies: Vec::new(),
            errors: Vec::new(),
            hold: None,
            max_rows: None,
        }
    }

    #[test]
    fn stays_bounded_and_keeps_recent_entries() {
        let memo = Memo::new(8);
        for n in 0..100u8 {
            memo.insert(vec![n], verdict(n % 2 == 0));
            assert!(memo.len() <= 8, "{} after {n}", memo.len());
        }
        assert_eq!(memo.get(&[99]), Some(verdict(false)));
        assert_eq!(memo.get(&[98]), Some(verdict(true)));
        assert_eq!(memo.get(&[0]), None);
        assert_eq!(memo.hits.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let memo = Memo::new(1);
        memo.insert(vec![1], verdict(true));
        assert_eq!(memo.get(&[1]), None);
        assert_eq!(memo.len(), 0);
    }
}
