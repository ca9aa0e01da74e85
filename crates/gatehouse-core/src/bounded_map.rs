//! A bounded, thread-safe map for the caches in front of per-request work (statement
//! classification, policy verdicts): lookups from every session thread at once, memory
//! bounded whatever clients send, and eviction close to least-recently-used at O(1).
//!
//! The map keeps two generations of at most `capacity / 2` entries each. Lookups check the
//! current generation, then the previous one (promoting a hit into the current one); when the
//! current generation is full it becomes the previous one and the old previous one is dropped.
//! A lookup that finds its key in the current generation, or nowhere, takes only the read side
//! of the lock, so a stream of misses (every pgbench statement has a new literal) does not
//! serialise the threads. Keys are hashed with foldhash, seeded at random per process: a
//! fraction of SipHash's cost, and clients still cannot choose keys that collide.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

type Map<K, V> = HashMap<Box<K>, V, foldhash::fast::RandomState>;

struct Generations<K: ?Sized, V> {
    current: Map<K, V>,
    previous: Map<K, V>,
}

/// At most `capacity` entries in two generations, behind one lock.
pub struct TwoGenerationMap<K: ?Sized, V> {
    generation_size: usize,
    generations: RwLock<Generations<K, V>>,
}

impl<K: ?Sized + Eq + Hash, V: Clone> TwoGenerationMap<K, V> {
    /// A map of at most `capacity` entries (rounded down to an even number); 0 or 1 keeps
    /// nothing.
    pub fn new(capacity: usize) -> Self {
        TwoGenerationMap {
            generation_size: capacity / 2,
            generations: RwLock::new(Generations {
                current: Map::default(),
                previous: Map::default(),
            }),
        }
    }

    /// Whether this map keeps anything at all.
    pub fn keeps_entries(&self) -> bool {
        self.generation_size > 0
    }

    /// The value for `key`, promoted into the current generation if it was in the previous.
    pub fn get(&self, key: &K) -> Option<V>
    where
        Box<K>: Borrow<K>,
    {
        {
            let generations = self.read();
            if let Some(value) = generations.current.get(key) {
                return Some(value.clone());
            }
            if !generations.previous.contains_key(key) {
                return None;
            }
        }
        let mut generations = self.write();
        if let Some(value) = generations.current.get(key) {
            return Some(value.clone());
        }
        let (key, value) = generations.previous.remove_entry(key)?;
        self.insert_locked(&mut generations, key, value.clone());
        Some(value)
    }

    /// Store `value` for `key` and return it, or return the value another thread stored for
    /// `key` meanwhile, so that both share it. A map that keeps nothing returns `value`.
    pub fn insert(&self, key: Box<K>, value: V) -> V {
        if !self.keeps_entries() {
            return value;
        }
        let mut generations = self.write();
        if let Some(existing) = generations.current.get(&*key) {
            return existing.clone();
        }
        self.insert_locked(&mut generations, key, value.clone());
        value
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        let generations = self.read();
        generations.current.len() + generations.previous.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert_locked(&self, generations: &mut Generations<K, V>, key: Box<K>, value: V) {
        if generations.current.len() >= self.generation_size {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(key, value);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Generations<K, V>> {
        self.generations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Generations<K, V>> {
        self.generations
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;

    #[test]
    fn stays_bounded_and_keeps_recently_used_entries() {
        let map: TwoGenerationMap<str, u32> = TwoGenerationMap::new(8);
        for n in 0..100 {
            map.insert(n.to_string().into(), n);
            assert!(map.len() <= 8, "{} after {n}", map.len());
        }
        assert_eq!(map.get("99"), Some(99));
        assert_eq!(map.get("0"), None);
    }

    #[test]
    fn a_hit_in_the_previous_generation_survives_the_next_rotation() {
        let map: TwoGenerationMap<str, u32> = TwoGenerationMap::new(4);
        map.insert("a".into(), 1);
        map.insert("b".into(), 2);
        map.insert("c".into(), 3); // rotates: a and b are the previous generation
        assert_eq!(map.get("a"), Some(1)); // promoted
        map.insert("d".into(), 4); // rotates: c and a are the previous generation
        assert_eq!(map.get("a"), Some(1));
        assert_eq!(map.get("b"), None);
    }

    #[test]
    fn the_first_value_stored_for_a_key_is_shared() {
        let map: TwoGenerationMap<[u8], Arc<str>> = TwoGenerationMap::new(8);
        let first = map.insert(Box::from(&b"k"[..]), Arc::from("first"));
        let second = map.insert(Box::from(&b"k"[..]), Arc::from("second"));
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(map.get(b"k").as_deref(), Some("first"));
    }

    #[test]
    fn a_map_of_capacity_zero_keeps_nothing() {
        let map: TwoGenerationMap<str, u32> = TwoGenerationMap::new(1);
        assert!(!map.keeps_entries());
        assert_eq!(map.insert("a".into(), 1), 1);
        assert!(map.is_empty());
        assert_eq!(map.get("a"), None);
    }

    #[test]
    fn shared_across_threads() {
        let map: Arc<TwoGenerationMap<str, usize>> = Arc::new(TwoGenerationMap::new(64));
        let handles: Vec<_> = (0..4)
            .map(|thread| {
                let map = Arc::clone(&map);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let key = (i % 40 + thread).to_string();
                        let value = map
                            .get(&key)
                            .unwrap_or_else(|| map.insert(key.as_str().into(), i % 40 + thread));
                        assert_eq!(value.to_string(), key);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert!(map.len() <= 64);
    }
}
