//! Column rules: masking whole columns chosen by name (`ssn`, `users.ssn`, `*password*`) and/or
//! type, decided once per result set so each value only pays for what its column needs.

use crate::config::{AllowedUse, ColumnRuleConfig};
use crate::glob::Glob;
use crate::{MaskError, Strategy};
use std::sync::Arc;

/// A result column as the caller knows it. `table` may be schema-qualified (`public.users`);
/// `type_name` is whatever type name the caller has (`text`, `bytea`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnRef<'a> {
    pub name: &'a str,
    pub table: Option<&'a str>,
    pub type_name: Option<&'a str>,
}

/// What happens to every value of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnMask {
    /// A column rule matched: every value is masked with `strategy`. `rule` names the rule
    /// (its `name` as written, or `types:<list>`) for [`MaskCounts`](crate::MaskCounts).
    Whole { rule: Arc<str>, strategy: Strategy },
    /// No column rule matched: values are scanned by the content detectors.
    Scan,
}

/// A stored column a column rule names: what masking by lineage needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensitiveColumn {
    /// The rule's name as written, as in [`ColumnMask::Whole`].
    pub rule: Arc<str>,
    pub strategy: Strategy,
    /// The rule allows equality comparisons and grouping (`allow = ["equality"]`).
    pub allows_equality: bool,
}

/// The [`ColumnMask`] of each column of a result, in column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPlan {
    columns: Vec<ColumnMask>,
}

impl ColumnPlan {
    pub(crate) fn new(columns: Vec<ColumnMask>) -> Self {
        ColumnPlan { columns }
    }

    pub fn columns(&self) -> &[ColumnMask] {
        &self.columns
    }

    /// The mask of column `index`, `None` past the last column.
    pub fn get(&self, index: usize) -> Option<&ColumnMask> {
        self.columns.get(index)
    }
}

/// A compiled column rule.
#[derive(Debug)]
pub(crate) struct ColumnRule {
    label: Arc<str>,
    table: Option<Glob>,
    column: Option<Glob>,
    types: Vec<Glob>,
    strategy: Strategy,
    allows_equality: bool,
}

impl ColumnRule {
    /// `number` is the rule's 1-based position, for error messages.
    pub(crate) fn compile(config: &ColumnRuleConfig, number: usize) -> Result<Self, MaskError> {
        let glob = |text: &str| {
            Glob::parse(text).map_err(|reason| MaskError::InvalidGlob {
                rule: number,
                glob: text.to_owned(),
                reason,
            })
        };
        let (table, column) = match config.name.as_deref() {
            None => (None, None),
            Some(name) => match name.rsplit_once('.') {
                Some((table, column)) => (Some(glob(table)?), Some(glob(column)?)),
                None => (None, Some(glob(name)?)),
            },
        };
        let types = config
            .types
            .iter()
            .map(|type_name| glob(type_name))
            .collect::<Result<Vec<_>, _>>()?;
        if column.is_none() && types.is_empty() {
            return Err(MaskError::EmptyColumnRule { rule: number });
        }
        let label = match &config.name {
            Some(name) => name.clone(),
            None => format!("types:{}", config.types.join(",")),
        };
        Ok(ColumnRule {
            label: label.into(),
            table,
            column,
            types,
            strategy: config.strategy,
            allows_equality: config.allow.contains(&AllowedUse::Equality),
        })
    }

    /// Whether this rule names stored column `column` of `relation` (`None`: of any of
    /// `reads`, the relations the statement reads). Only rules with a name count: a rule by
    /// type alone says nothing about which stored columns are sensitive.
    pub(crate) fn names(&self, relation: Option<&str>, column: &str, reads: &[String]) -> bool {
        let Some(glob) = &self.column else {
            return false;
        };
        glob.matches(column) && self.may_be_in(relation, reads)
    }

    /// Whether a column this rule names may be in `relation` (`None`: in any of `reads`).
    pub(crate) fn may_be_in(&self, relation: Option<&str>, reads: &[String]) -> bool {
        if self.column.is_none() {
            return false;
        }
        let Some(table) = &self.table else {
            return true;
        };
        let matches = |relation: &str| {
            let unqualified = relation.rsplit_once('.').map_or(relation, |(_, name)| name);
            table.matches(relation) || table.matches(unqualified)
        };
        match relation {
            Some(relation) => matches(relation),
            None => reads.iter().any(|read| matches(read)),
        }
    }

    pub(crate) fn sensitive(&self) -> SensitiveColumn {
        SensitiveColumn {
            rule: Arc::clone(&self.label),
            strategy: self.strategy,
            allows_equality: self.allows_equality,
        }
    }

    /// The mask this rule gives `column`, if it applies. A rule naming a table never applies to
    /// a column whose table is unknown; it applies when the table matches either as given or
    /// without its schema.
    pub(crate) fn apply(&self, column: &ColumnRef<'_>) -> Option<ColumnMask> {
        let name_matches = self
            .column
            .as_ref()
            .is_none_or(|glob| glob.matches(column.name));
        let table_matches = self.table.as_ref().is_none_or(|glob| {
            column.table.is_some_and(|table| {
                let unqualified = table.rsplit_once('.').map_or(table, |(_, name)| name);
                glob.matches(table) || glob.matches(unqualified)
            })
        });
        let type_matches = self.types.is_empty()
            || column
                .type_name
                .is_some_and(|type_name| self.types.iter().any(|glob| glob.matches(type_name)));
        (name_matches && table_matches && type_matches).then(|| ColumnMask::Whole {
            rule: Arc::clone(&self.label),
            strategy: self.strategy,
        })
    }
}
