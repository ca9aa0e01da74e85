//! Masking by column lineage, for masked sessions. A result column's name says nothing once
//! a masked column is cast, passed through a function or renamed, and a condition on a masked
//! column (`WHERE card LIKE '4%'`, `ORDER BY card`, `CASE WHEN ssn ... THEN 1/0`) shows its
//! value without returning it. With the classifier's lineage and the connection's column
//! rules this module decides:
//!
//! - which statements a masked identity may not run: those that filter, order or limit on a
//!   masked column, compare or group on one whose rule does not `allow = ["equality"]`, send
//!   one anywhere but the result (into a table, a view, a notification), or use whole rows of
//!   a relation that may have masked columns (which columns those hold is the catalog's);
//! - per result column, whether it is a masked column as stored (its rule's strategy, as if
//!   named), a value computed from one (masked whole: redacted, or `NULL` under a `null`
//!   rule, since a partial or hashed view of a transformed value can show what the rule
//!   hides — the last digits of `reverse(card)` are its first), or neither (masked by name
//!   and content as before);
//! - whether a statement computes on a masked column, so that the server's errors for it
//!   (which quote the values they choke on) are withheld.

use gatehouse_core::{ColumnSource, Derivation, Lineage, Output, SqlKind, SqlStatement};
use gatehouse_mask::{ColumnMask, Masker, SensitiveColumn, Strategy};

/// Makes `statement` unknown, saying why, when a masked identity may not run it; policy then
/// decides it as `sql:unknown` and the audit log records the reason.
pub(crate) fn refuse_untraceable(masker: &Masker, statement: &mut SqlStatement) {
    let Some(lineage) = statement.lineage.as_deref() else {
        return;
    };
    if let Some(reason) = refusal(masker, lineage, &statement.reads) {
        statement.kind = SqlKind::Unknown;
        statement.reason = Some(reason);
    }
}

fn refusal(masker: &Masker, lineage: &Lineage, reads: &[String]) -> Option<String> {
    let outputs = lineage.outputs.iter().filter_map(|output| match output {
        Output::Column(derivation) | Output::Columns(derivation) => Some(derivation),
        Output::Relation(_) => None,
    });
    let every = outputs.chain([&lineage.equality, &lineage.filters, &lineage.escapes]);
    for derivation in every {
        if let Some(relation) = derivation
            .rows
            .iter()
            .find(|relation| masker.may_hold_sensitive(relation.as_deref(), reads))
        {
            let relation = relation.as_deref().unwrap_or("a relation it reads");
            return Some(format!(
                "uses whole rows of `{relation}`, which may have masked columns, so gatehouse cannot tell which values to mask; name the columns instead"
            ));
        }
    }
    if let Some((column, _)) = sensitive(masker, &lineage.filters, reads).next() {
        return Some(format!(
            "filters, sorts or computes a condition on masked column `{column}`; masked identities may read it (masked) but not choose rows by it"
        ));
    }
    if let Some((column, _)) =
        sensitive(masker, &lineage.equality, reads).find(|(_, rule)| !rule.allows_equality)
    {
        return Some(format!(
            "compares or groups on masked column `{column}`, which its masking rule does not allow (a rule can, with allow = [\"equality\"])"
        ));
    }
    if let Some((column, _)) = sensitive(masker, &lineage.escapes, reads).next() {
        return Some(format!(
            "copies masked column `{column}` out of the result (into a table, a view or a notification), where it would no longer be masked"
        ));
    }
    None
}

/// The masked columns `derivation` comes from, with their rules, named for messages.
fn sensitive<'a>(
    masker: &'a Masker,
    derivation: &'a Derivation,
    reads: &'a [String],
) -> impl Iterator<Item = (String, SensitiveColumn)> + 'a {
    derivation.columns.iter().filter_map(move |source| {
        let rule = masker.sensitive_column(source.relation.as_deref(), &source.column, reads)?;
        Some((column_name(source), rule))
    })
}

fn column_name(source: &ColumnSource) -> String {
    match &source.relation {
        Some(relation) => format!("{relation}.{}", source.column),
        None => source.column.clone(),
    }
}

/// A masked column the statement computes on (in a result value or a condition), if any.
pub(crate) fn computes_on(masker: &Masker, lineage: &Lineage, reads: &[String]) -> Option<String> {
    let computed = lineage.outputs.iter().filter_map(|output| match output {
        Output::Column(derivation) if !derivation.plain => Some(derivation),
        Output::Columns(derivation) => Some(derivation),
        _ => None,
    });
    computed
        .chain([&lineage.equality, &lineage.filters, &lineage.escapes])
        .find_map(|derivation| sensitive(masker, derivation, reads).next())
        .map(|(column, _)| column)
}

/// Per result column, the mask its lineage calls for (`None`: mask it by name and content).
/// `count` is the number of columns the server described; `*` over relations leaves the
/// number of some spans open, and columns that cannot be lined up with their lineage take
/// the strictest mask of everything they could be.
pub(crate) fn result_masks(
    masker: &Masker,
    lineage: &Lineage,
    reads: &[String],
    count: usize,
) -> Vec<Option<ColumnMask>> {
    let masks: Vec<(bool, Option<ColumnMask>)> = lineage
        .outputs
        .iter()
        .map(|output| match output {
            Output::Column(derivation) => (false, mask_of(masker, derivation, reads, true)),
            Output::Relation(_) => (true, None),
            Output::Columns(derivation) => (true, mask_of(masker, derivation, reads, false)),
        })
        .collect();
    let first_open = masks.iter().position(|(open, _)| *open);
    let last_open = masks.iter().rposition(|(open, _)| *open);
    let (prefix, middle, suffix) = match (first_open, last_open) {
        (Some(first), Some(last)) => (
            masks.get(..first).unwrap_or_default(),
            masks.get(first..=last).unwrap_or_default(),
            masks.get(last + 1..).unwrap_or_default(),
        ),
        _ if masks.len() == count => (masks.as_slice(), &[][..], &[][..]),
        // the analysis and the server disagree on the columns: nothing lines up
        _ => (&[][..], masks.as_slice(), &[][..]),
    };
    if prefix.len() + suffix.len() > count {
        return vec![strictest(&masks); count];
    }
    let spread = strictest(middle);
    let middle_count = count - prefix.len() - suffix.len();
    prefix
        .iter()
        .map(|(_, mask)| mask.clone())
        .chain(std::iter::repeat_n(spread, middle_count))
        .chain(suffix.iter().map(|(_, mask)| mask.clone()))
        .collect()
}

/// The mask a value derived as `derivation` needs: its rule's own when it is a masked column
/// as stored (and `plain` is possible), masked whole when computed from one, none otherwise.
fn mask_of(
    masker: &Masker,
    derivation: &Derivation,
    reads: &[String],
    may_be_plain: bool,
) -> Option<ColumnMask> {
    let rules: Vec<SensitiveColumn> = sensitive(masker, derivation, reads)
        .map(|(_, rule)| rule)
        .collect();
    let first = rules.first()?;
    let one_rule = rules.iter().all(|rule| rule == first);
    if may_be_plain && derivation.plain && one_rule {
        return Some(ColumnMask::Whole {
            rule: first.rule.clone(),
            strategy: first.strategy,
        });
    }
    let strategy = if rules.iter().any(|rule| rule.strategy == Strategy::Null) {
        Strategy::Null
    } else {
        Strategy::Redact
    };
    Some(ColumnMask::Whole {
        rule: first.rule.clone(),
        strategy,
    })
}

/// Of several columns' masks, the one hiding most: `NULL`, then redaction, then any rule's.
fn strictest(masks: &[(bool, Option<ColumnMask>)]) -> Option<ColumnMask> {
    let rank = |mask: &ColumnMask| match mask {
        ColumnMask::Whole {
            strategy: Strategy::Null,
            ..
        } => 3,
        ColumnMask::Whole {
            strategy: Strategy::Redact,
            ..
        } => 2,
        ColumnMask::Whole { .. } => 1,
        ColumnMask::Scan => 0,
    };
    let strongest = masks
        .iter()
        .filter_map(|(_, mask)| mask.as_ref())
        .max_by_key(|mask| rank(mask))?;
    match strongest {
        // a rule's own strategy fits its own column only
        ColumnMask::Whole {
            rule,
            strategy: Strategy::Partial { .. } | Strategy::Hash,
        } => Some(ColumnMask::Whole {
            rule: rule.clone(),
            strategy: Strategy::Redact,
        }),
        other => Some(other.clone()),
    }
}
