//! What the analysis of one statement found, before it becomes a [`SqlStatement`].
//!
//! Every rule that fires records a [`KindEffect`] (a kind, and why). The statement's kind is the
//! strongest effect by [`SqlKind::severity`], so rules never need to know about each other:
//! a `SELECT` whose `WITH` deletes rows records both `Select` and `Delete`, and `Delete` wins.
//!
//! [`SqlStatement`]: gatehouse_core::SqlStatement

use std::collections::BTreeSet;

use gatehouse_core::SqlKind;

use crate::catalogs;

/// One effect a statement has, with the reason to show when it decides the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KindEffect {
    pub(crate) kind: SqlKind,
    pub(crate) reason: Option<String>,
}

/// Relations, functions and effects collected from a statement's tree.
///
/// The sets are ordered so the statement's lists come out deduplicated and sorted.
#[derive(Debug, Default, Clone)]
pub(crate) struct Facts {
    pub(crate) reads: BTreeSet<String>,
    pub(crate) writes: BTreeSet<String>,
    pub(crate) functions: BTreeSet<String>,
    pub(crate) effects: Vec<KindEffect>,
    /// An `UPDATE` or `DELETE` without a `WHERE` clause or with one that holds for every row,
    /// or a `MERGE` action that reaches every target row: it changes every row of its table.
    pub(crate) all_rows: bool,
    /// Whether a rule read the value of a number or string literal (constant folding of the
    /// condition that decides `all_rows`): the same text with other values could be classified
    /// otherwise, so the template cache must not reuse this classification for them.
    pub(crate) reads_literal_values: bool,
}

impl Facts {
    /// Facts holding a single effect and nothing else.
    pub(crate) fn of(kind: SqlKind, reason: Option<String>) -> Self {
        let mut facts = Facts::default();
        facts.effect(kind, reason);
        facts
    }

    /// Record one effect.
    pub(crate) fn effect(&mut self, kind: SqlKind, reason: Option<String>) {
        self.effects.push(KindEffect { kind, reason });
    }

    /// One `Admin` effect for each relation read or written whose rows are secrets or the
    /// server's files (see [`crate::catalogs`]). Recording it twice adds nothing.
    pub(crate) fn flag_sensitive_relations(&mut self) {
        let touched = self
            .reads
            .iter()
            .map(|name| ("reads", name))
            .chain(self.writes.iter().map(|name| ("writes", name)));
        let found: Vec<KindEffect> = touched
            .filter_map(|(verb, name)| {
                catalogs::sensitive(name).map(|why| KindEffect {
                    kind: SqlKind::Admin,
                    reason: Some(format!("{verb} {name}, which {why}")),
                })
            })
            .collect();
        for effect in found {
            if !self.effects.contains(&effect) {
                self.effects.push(effect);
            }
        }
    }

    /// The statement is only planned, never run (`EXPLAIN` without `ANALYZE`): it reads the
    /// catalog entries of every relation it names and has no other effect, so every relation
    /// becomes a read and every effect is replaced by `Select`. Functions stay listed (a policy
    /// may still refuse to have them named), but they are not called.
    pub(crate) fn plan_only(self) -> Facts {
        let mut reads = self.reads;
        reads.extend(self.writes);
        Facts {
            reads,
            writes: BTreeSet::new(),
            functions: self.functions,
            effects: vec![KindEffect {
                kind: SqlKind::Select,
                reason: None,
            }],
            all_rows: false,
            reads_literal_values: self.reads_literal_values,
        }
    }

    /// The strongest effect, and the reason given by the first effect of that strength that has
    /// one. No effect at all means nothing recognised the statement: `Unknown`.
    pub(crate) fn verdict(&self) -> (SqlKind, Option<String>) {
        let Some(kind) = self
            .effects
            .iter()
            .map(|effect| effect.kind)
            .max_by_key(|kind| kind.severity())
        else {
            return (
                SqlKind::Unknown,
                Some("gatehouse found nothing it recognises in the statement".to_owned()),
            );
        };
        let reason = self
            .effects
            .iter()
            .filter(|effect| effect.kind == kind)
            .find_map(|effect| effect.reason.clone());
        (kind, reason)
    }
}

/// Render a possibly qualified name (`schema.table`, `catalog.schema.table`) from its parts as
/// the parser produced them: unquoted identifiers are already lowercased, quoted ones are kept
/// as written. A part that itself contains `.` or `"` is double-quoted (with `"` doubled), so
/// the table `"a.b"` can never be mistaken for table `b` in schema `a`.
pub(crate) fn render_name<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for part in parts.into_iter().filter(|part| !part.is_empty()) {
        if !out.is_empty() {
            out.push('.');
        }
        if part.contains(['.', '"']) {
            out.push('"');
            out.push_str(&part.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn strongest_effect_wins_and_keeps_its_reason() {
        let mut facts = Facts::of(SqlKind::Select, None);
        facts.effect(SqlKind::Delete, Some("deletes".into()));
        facts.effect(SqlKind::Update, Some("updates".into()));
        assert_eq!(
            facts.verdict(),
            (SqlKind::Delete, Some("deletes".to_owned()))
        );
    }

    #[test]
    fn no_effect_is_unknown() {
        assert_eq!(Facts::default().verdict().0, SqlKind::Unknown);
    }

    #[test]
    fn names_with_dots_are_quoted() {
        assert_eq!(render_name(["public", "t"]), "public.t");
        assert_eq!(render_name(["", "t"]), "t");
        assert_eq!(render_name(["a.b"]), "\"a.b\"");
        assert_eq!(render_name(["x\"y"]), "\"x\"\"y\"");
        assert_eq!(render_name(["Weird Table"]), "Weird Table");
    }
}
