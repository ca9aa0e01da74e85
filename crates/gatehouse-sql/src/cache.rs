//! A bounded, thread-safe cache in front of [`classify`], so that the statements an
//! application sends over and over cost a hash lookup, not a parse.
//!
//! Keys are the full message text. The cache keeps two generations of at most `capacity / 2`
//! entries each: lookups check the current generation, then the previous one (promoting a hit
//! into the current one); when the current generation is full it becomes the previous one and
//! the old previous one is dropped. That bounds memory to `capacity` entries, costs O(1) per
//! operation, and keeps whatever was used since the last rotation, an approximation of LRU.
//! Messages longer than [`MAX_CACHED_LEN`] bytes are classified but not cached, so a cache of
//! `capacity` entries cannot be made to hold `capacity` huge messages.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use crate::{ClassifiedStatement, classify};

/// Longest message text, in bytes, that is kept in the cache.
pub(crate) const MAX_CACHED_LEN: usize = 64 * 1024;

type Entry = Arc<[ClassifiedStatement]>;

#[derive(Default)]
struct Generations {
    current: HashMap<Box<str>, Entry>,
    previous: HashMap<Box<str>, Entry>,
}

/// Thread-safe cache in front of [`classify`], keyed by the full message text, bounded to
/// `capacity` entries.
pub struct Classifier {
    generation_size: usize,
    generations: RwLock<Generations>,
}

impl Classifier {
    /// A cache holding at most `capacity` messages. `capacity` is rounded down to an even
    /// number (two generations of half each); 0 or 1 disables caching.
    pub fn new(capacity: usize) -> Self {
        Classifier {
            generation_size: capacity / 2,
            generations: RwLock::new(Generations::default()),
        }
    }

    /// Classify `sql`, from the cache when it has been seen recently.
    pub fn classify(&self, sql: &str) -> Arc<[ClassifiedStatement]> {
        if self.generation_size == 0 || sql.len() > MAX_CACHED_LEN {
            return classify(sql).into();
        }
        {
            let generations = self
                .generations
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = generations.current.get(sql) {
                return Arc::clone(entry);
            }
        }
        {
            let mut generations = self
                .generations
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = generations.previous.remove(sql) {
                self.insert(&mut generations, sql, Arc::clone(&entry));
                return entry;
            }
            if let Some(entry) = generations.current.get(sql) {
                return Arc::clone(entry);
            }
        }
        // Parse outside the lock: other threads keep hitting the cache meanwhile.
        let entry: Entry = classify(sql).into();
        let mut generations = self
            .generations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = generations.current.get(sql) {
            // another thread classified it first; share its result
            return Arc::clone(existing);
        }
        self.insert(&mut generations, sql, Arc::clone(&entry));
        entry
    }

    /// Number of messages currently cached.
    pub fn len(&self) -> usize {
        let generations = self
            .generations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        generations.current.len() + generations.previous.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, generations: &mut Generations, sql: &str, entry: Entry) {
        if generations.current.len() >= self.generation_size {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(sql.into(), entry);
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("capacity", &(self.generation_size * 2))
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use gatehouse_core::SqlKind;

    #[test]
    fn repeated_text_returns_the_same_arc() {
        let cache = Classifier::new(16);
        let first = cache.classify("SELECT * FROM t WHERE id = 1");
        let second = cache.classify("SELECT * FROM t WHERE id = 1");
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first[0].statement.kind, SqlKind::Select);
        let other = cache.classify("DELETE FROM t");
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(other[0].statement.kind, SqlKind::Delete);
    }

    #[test]
    fn stays_bounded_and_keeps_recent_entries() {
        let cache = Classifier::new(8);
        for i in 0..100 {
            cache.classify(&format!("SELECT {i}"));
            assert!(cache.len() <= 8, "len {} after {i}", cache.len());
        }
        let recent = cache.classify("SELECT 99");
        assert!(Arc::ptr_eq(&recent, &cache.classify("SELECT 99")));
    }

    #[test]
    fn previous_generation_hits_are_promoted() {
        let cache = Classifier::new(4);
        let a = cache.classify("SELECT 'a'");
        cache.classify("SELECT 'b'");
        cache.classify("SELECT 'c'"); // rotates: a, b now previous
        let again = cache.classify("SELECT 'a'");
        assert!(Arc::ptr_eq(&a, &again));
    }

    #[test]
    fn zero_capacity_and_huge_messages_are_not_cached() {
        let cache = Classifier::new(0);
        let first = cache.classify("SELECT 1");
        assert!(!Arc::ptr_eq(&first, &cache.classify("SELECT 1")));
        assert!(cache.is_empty());

        let cache = Classifier::new(8);
        let huge = format!("SELECT '{}'", "x".repeat(MAX_CACHED_LEN));
        assert_eq!(cache.classify(&huge).len(), 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn shared_across_threads() {
        let cache = Arc::new(Classifier::new(64));
        let handles: Vec<_> = (0..4)
            .map(|n| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let result = cache.classify(&format!("SELECT {}", i % 10 + n));
                        assert_eq!(result[0].statement.kind, SqlKind::Select);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert!(cache.len() <= 64);
    }
}
