//! A bounded, thread-safe cache in front of [`classify`], so that the statements an
//! application sends over and over cost a hash lookup, not a parse.
//!
//! Two caches, tried in this order:
//!
//! 1. **Full text.** Keyed by the whole message; a hit is the very classification `classify`
//!    gave that text.
//! 2. **Templates.** Applications, drivers that interpolate parameters client-side, and
//!    pgbench send the same statement with new literal values each time, which the full-text
//!    cache never hits. Such a message is keyed by its text with its number and plain string
//!    literals replaced by markers of their lexical class ([`crate::literals`]): a lexical
//!    scan, no parse. The first message seen with a key is parsed and classified as usual,
//!    and its classification becomes the key's template only when its parse tree proves that
//!    nothing in it but the statement's text depends on the literals' values
//!    ([`crate::template`]: plain DML, every literal a constant node holding its value, no
//!    rule that read a constant's value); otherwise the key is remembered as unproven and
//!    each of its messages is classified in full. A later message with a proven key gets
//!    the template with its own statement text, after the `standard_conforming_strings`
//!    differential check that `classify` runs first on every message (a value can change how
//!    a text reads with the setting off). The result is always what `classify` gives that
//!    text. Template hits are not added to the full-text cache, so a stream of ever-new values
//!    does not push out the messages that repeat.
//!
//! Each cache keeps two generations of at most `capacity / 2` entries: lookups check the
//! current generation, then the previous one (promoting a hit into the current one); when the
//! current generation is full it becomes the previous one and the old previous one is
//! dropped. That bounds memory to `capacity` entries each, costs O(1) per operation, and keeps
//! whatever was used since the last rotation, an approximation of LRU. Messages longer than
//! [`MAX_CACHED_LEN`] bytes are classified but not cached, so a cache of `capacity` entries
//! cannot be made to hold `capacity` huge messages.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use gatehouse_core::SqlStatement;

use crate::classify::{classify_message, classify_message_proving};
use crate::lexing::conforming_strings_differential;
use crate::literals::{self, Normalised};
use crate::{ClassifiedStatement, classify};

/// Longest message text, in bytes, that is kept in the cache.
pub(crate) const MAX_CACHED_LEN: usize = 64 * 1024;

type Entry = Arc<[ClassifiedStatement]>;

/// What the template cache knows of a key.
#[derive(Clone)]
enum Template {
    /// The classification of every message with this key, but for the statement's text.
    Proven(Arc<ClassifiedStatement>),
    /// The first message seen with this key was not proven to be classified the same for any
    /// values: every message with it is classified in full.
    Unproven,
}

/// SipHash cost more than the lookup it serves; foldhash is as fast as Fx yet seeded at
/// random per process, so clients cannot choose texts that collide.
type Map<V> = HashMap<Box<str>, V, foldhash::fast::RandomState>;

struct Generations<V> {
    current: Map<V>,
    previous: Map<V>,
}

/// A map bounded to two generations of `generation_size` entries, behind a lock.
struct Bounded<V> {
    generation_size: usize,
    generations: RwLock<Generations<V>>,
}

impl<V: Clone> Bounded<V> {
    fn new(generation_size: usize) -> Self {
        Bounded {
            generation_size,
            generations: RwLock::new(Generations {
                current: Map::default(),
                previous: Map::default(),
            }),
        }
    }

    /// The value for `key`, promoted into the current generation if it was in the previous.
    fn get(&self, key: &str) -> Option<V> {
        {
            let generations = self
                .generations
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(value) = generations.current.get(key) {
                return Some(value.clone());
            }
        }
        let mut generations = self
            .generations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = generations.previous.remove(key) {
            self.insert_locked(&mut generations, key, value.clone());
            return Some(value);
        }
        generations.current.get(key).cloned()
    }

    /// Store `value` for `key` and return it, or return the value another thread stored
    /// meanwhile, so that they share it.
    fn insert(&self, key: &str, value: V) -> V {
        let mut generations = self
            .generations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = generations.current.get(key) {
            return existing.clone();
        }
        self.insert_locked(&mut generations, key, value.clone());
        value
    }

    fn insert_locked(&self, generations: &mut Generations<V>, key: &str, value: V) {
        if generations.current.len() >= self.generation_size {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(key.into(), value);
    }

    fn len(&self) -> usize {
        let generations = self
            .generations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        generations.current.len() + generations.previous.len()
    }
}

/// Thread-safe cache in front of [`classify`], by full message text and by template (the text
/// with its literal values taken out), each bounded to `capacity` entries.
pub struct Classifier {
    texts: Bounded<Entry>,
    templates: Bounded<Template>,
}

impl Classifier {
    /// A cache holding at most `capacity` messages and `capacity` templates. `capacity` is
    /// rounded down to an even number (two generations of half each); 0 or 1 disables caching.
    pub fn new(capacity: usize) -> Self {
        Classifier {
            texts: Bounded::new(capacity / 2),
            templates: Bounded::new(capacity / 2),
        }
    }

    /// Classify `sql`, from the cache when it, or the same text with other literal values, has
    /// been seen recently. The result is always what [`classify`] gives for `sql`.
    pub fn classify(&self, sql: &str) -> Arc<[ClassifiedStatement]> {
        if self.texts.generation_size == 0 || sql.len() > MAX_CACHED_LEN {
            return classify(sql).into();
        }
        if let Some(entry) = self.texts.get(sql) {
            return entry;
        }
        // Literals are only looked at in text that reads the same whatever the session's
        // standard_conforming_strings; other text is refused by `classify` anyway.
        let Some(normalised) =
            literals::normalise(sql).filter(|_| conforming_strings_differential(sql).is_none())
        else {
            return self.classify_text(sql);
        };
        match self.templates.get(&normalised.key) {
            Some(Template::Proven(template)) => reuse(&template, &normalised, sql),
            Some(Template::Unproven) => self.classify_text(sql),
            None => self.classify_first(sql, &normalised),
        }
    }

    /// Number of entries currently cached: message texts and templates.
    pub fn len(&self) -> usize {
        self.texts.len() + self.templates.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Classify `sql` in full (outside any lock: other threads keep hitting the cache
    /// meanwhile) and cache it by its text.
    fn classify_text(&self, sql: &str) -> Entry {
        let entry: Entry = classify_message(sql).into();
        self.texts.insert(sql, entry)
    }

    /// The first message with its key: classified in full, cached by its text, and its
    /// classification made the key's template if it is proven to hold for any values.
    fn classify_first(&self, sql: &str, normalised: &Normalised) -> Entry {
        let (classified, proven) = classify_message_proving(sql, normalised);
        let template = match (proven, classified.as_slice()) {
            (true, [only]) => Template::Proven(Arc::new(only.clone())),
            _ => Template::Unproven,
        };
        self.templates.insert(&normalised.key, template);
        self.texts.insert(sql, classified.into())
    }
}

/// A proven template's classification for `sql`, a message with the template's key: every
/// field is the template's but the statement's text, which is `sql`'s own.
fn reuse(template: &ClassifiedStatement, normalised: &Normalised, sql: &str) -> Entry {
    let statement = &template.statement;
    Arc::new([ClassifiedStatement {
        statement: SqlStatement {
            text: normalised.statement_text(sql).to_owned(),
            // the proof: the same for any literal values
            kind: statement.kind,
            reads: statement.reads.clone(),
            writes: statement.writes.clone(),
            functions: statement.functions.clone(),
            // pg_query's fingerprint ignores constants
            fingerprint: statement.fingerprint.clone(),
            // always None for a template (plain DML without a reason)
            reason: statement.reason.clone(),
            all_rows: statement.all_rows,
            // never set by classification
            context: statement.context.clone(),
            // the proof: no literal's value is read for it
            lineage: statement.lineage.clone(),
        },
        // always None for a template
        prepared: template.prepared.clone(),
    }])
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("capacity", &(self.texts.generation_size * 2))
            .field("texts", &self.texts.len())
            .field("templates", &self.templates.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
