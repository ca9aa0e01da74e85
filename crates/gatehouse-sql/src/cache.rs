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
//! Each cache is a [`TwoGenerationMap`] of at most `capacity` entries: O(1), roughly
//! least-recently-used, and a miss takes only the read side of its lock. Messages longer than
//! [`MAX_CACHED_LEN`] bytes are classified but not cached, so a cache of `capacity` entries
//! cannot be made to hold `capacity` huge messages.

use std::sync::Arc;

use gatehouse_core::{SqlStatement, TwoGenerationMap};

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

/// Thread-safe cache in front of [`classify`], by full message text and by template (the text
/// with its literal values taken out), each bounded to `capacity` entries.
pub struct Classifier {
    /// Entries each cache may hold.
    capacity: usize,
    texts: TwoGenerationMap<str, Entry>,
    templates: TwoGenerationMap<str, Template>,
}

impl Classifier {
    /// A cache holding at most `capacity` messages and `capacity` templates. `capacity` is
    /// rounded down to an even number (two generations of half each); 0 or 1 disables caching.
    pub fn new(capacity: usize) -> Self {
        Classifier {
            capacity: capacity / 2 * 2,
            texts: TwoGenerationMap::new(capacity),
            templates: TwoGenerationMap::new(capacity),
        }
    }

    /// Classify `sql`, from the cache when it, or the same text with other literal values, has
    /// been seen recently. The result is always what [`classify`] gives for `sql`.
    pub fn classify(&self, sql: &str) -> Arc<[ClassifiedStatement]> {
        if !self.texts.keeps_entries() || sql.len() > MAX_CACHED_LEN {
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
        self.texts.insert(sql.into(), entry)
    }

    /// The first message with its key: classified in full, cached by its text, and its
    /// classification made the key's template if it is proven to hold for any values.
    fn classify_first(&self, sql: &str, normalised: &Normalised) -> Entry {
        let (classified, proven) = classify_message_proving(sql, normalised);
        let template = match (proven, classified.as_slice()) {
            (true, [only]) => Template::Proven(Arc::new(only.clone())),
            _ => Template::Unproven,
        };
        self.templates
            .insert(normalised.key.as_str().into(), template);
        self.texts.insert(sql.into(), classified.into())
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
            .field("capacity", &self.capacity)
            .field("texts", &self.texts.len())
            .field("templates", &self.templates.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
