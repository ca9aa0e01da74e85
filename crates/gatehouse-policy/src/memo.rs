//! A bounded, thread-safe memo of verdicts, so that the requests a session sends over and
//! over cost a key and a lookup instead of a Cedar evaluation (building the context and
//! evaluating the policies was about 67,000 instructions per pgbench transaction).
//!
//! One memo belongs to one [`crate::PolicyEngine`], so a reloaded policy set starts empty.
//! Keys are exact encodings of a decision's inputs ([`crate::decision_key`]). The memo keeps
//! two generations of at most `capacity / 2` entries each, as `gatehouse-sql`'s statement
//! cache does: lookups check the current generation, then the previous one (promoting a hit);
//! when the current generation is full it becomes the previous one and the old previous one is
//! dropped. That bounds memory to `capacity` entries of bounded keys, costs O(1), and keeps
//! whatever was used since the last rotation. Lookups of the current generation take only the
//! read side of the lock, so threads deciding at once do not wait on each other.

use crate::engine::PolicyVerdict;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

/// foldhash: a fraction of SipHash's cost over a key of a few hundred bytes, and seeded at
/// random per process, so clients cannot choose requests whose keys collide.
type Map = HashMap<Box<[u8]>, PolicyVerdict, foldhash::fast::RandomState>;

#[derive(Default)]
struct Generations {
    current: Map,
    previous: Map,
}

/// Verdicts by decision key, at most `capacity` of them.
pub(crate) struct Memo {
    generation_size: usize,
    generations: RwLock<Generations>,
    /// Lookups answered, so tests can tell a memoised verdict from a recomputed one.
    #[cfg(test)]
    pub(crate) hits: std::sync::atomic::AtomicUsize,
}

impl Memo {
    /// A memo of at most `capacity` verdicts (rounded down to an even number).
    pub(crate) fn new(capacity: usize) -> Self {
        Memo {
            generation_size: capacity / 2,
            generations: RwLock::new(Generations::default()),
            #[cfg(test)]
            hits: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// The verdict memoised under `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Option<PolicyVerdict> {
        let found = self.find(key);
        #[cfg(test)]
        if found.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        found
    }

    fn find(&self, key: &[u8]) -> Option<PolicyVerdict> {
        {
            let generations = self
                .generations
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(verdict) = generations.current.get(key) {
                return Some(verdict.clone());
            }
            if !generations.previous.contains_key(key) {
                return None;
            }
        }
        let mut generations = self
            .generations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(verdict) = generations.current.get(key) {
            return Some(verdict.clone());
        }
        let (key, verdict) = generations.previous.remove_entry(key)?;
        self.insert_into(&mut generations, key, verdict.clone());
        Some(verdict)
    }

    /// Memoise `verdict` under `key`.
    pub(crate) fn insert(&self, key: Vec<u8>, verdict: PolicyVerdict) {
        if self.generation_size == 0 {
            return;
        }
        let mut generations = self
            .generations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.insert_into(&mut generations, key.into_boxed_slice(), verdict);
    }

    fn insert_into(&self, generations: &mut Generations, key: Box<[u8]>, verdict: PolicyVerdict) {
        if generations.current.len() >= self.generation_size {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(key, verdict);
    }

    /// Number of verdicts held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let generations = self
            .generations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        generations.current.len() + generations.previous.len()
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
    fn previous_generation_hits_are_promoted() {
        let memo = Memo::new(4);
        memo.insert(vec![1], verdict(true));
        memo.insert(vec![2], verdict(true));
        memo.insert(vec![3], verdict(true)); // rotates: 1 and 2 are previous
        assert!(memo.get(&[1]).is_some()); // promoted: current is 3, 1
        memo.insert(vec![4], verdict(true)); // rotates: 3 and 1 are previous, 2 dropped
        assert!(memo.get(&[1]).is_some());
        assert!(memo.get(&[2]).is_none());
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let memo = Memo::new(1);
        memo.insert(vec![1], verdict(true));
        assert_eq!(memo.get(&[1]), None);
        assert_eq!(memo.len(), 0);
    }
}
