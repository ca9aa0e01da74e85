//! Where the values of a statement's result come from, and which stored columns it uses to
//! choose, order or group rows: what masking by column needs beyond the result's column
//! names, which an alias, a cast or a function call changes at will.
//!
//! The classifier computes a [`Lineage`] from the parse tree, as far as the tree shows (it
//! knows no catalog); a statement carries it with itself ([`crate::SqlStatement::lineage`]),
//! so that it follows the statement through prepared statements and cursors. It is never
//! serialized and never shown to policy.

use std::collections::BTreeSet;

/// A stored column a value may come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnSource {
    /// The relation as the statement names it (lowercased, schema-qualified when written so);
    /// `None` when the reference could be a column of any relation the statement reads.
    pub relation: Option<String>,
    pub column: String,
}

/// What one value is computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derivation {
    /// Stored columns the value may be computed from. One ambiguous reference gives one
    /// candidate per relation it could belong to.
    pub columns: BTreeSet<ColumnSource>,
    /// Relations whose whole rows the value includes (`t`, `t.*` inside an expression,
    /// `to_json(t)`); `None` when which relation is unknown.
    pub rows: BTreeSet<Option<String>>,
    /// Every value is one of `columns` as stored (a plain reference, possibly renamed,
    /// through subqueries, common table expressions and set operations), or comes from no
    /// column at all. `false` once anything computes on it.
    pub plain: bool,
}

impl Derivation {
    /// A value that comes from no column (a constant, a parameter).
    pub fn constant() -> Self {
        Derivation {
            plain: true,
            ..Derivation::default()
        }
    }

    /// Whether the value comes from no column and no row.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.rows.is_empty()
    }

    /// Adds what `other` comes from; the value is computed (no longer plain).
    pub fn absorb(&mut self, other: Derivation) {
        self.columns.extend(other.columns);
        self.rows.extend(other.rows);
        self.plain = false;
    }

    /// Adds `other` as an alternative: the value is one or the other (a set operation's
    /// branches, the candidates of an ambiguous reference); plain only if both are.
    pub fn alternative(&mut self, other: Derivation) {
        self.columns.extend(other.columns);
        self.rows.extend(other.rows);
        self.plain &= other.plain;
    }
}

/// One or more result columns, in result order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// One result column.
    Column(Derivation),
    /// The columns of a stored relation (`*`, `t.*`), under their own names, how many
    /// unknown: masking by column name sees them as they are.
    Relation(String),
    /// Result columns of unknown number, each computed from this (`*` over a function, or
    /// over something whose columns cannot be lined up).
    Columns(Derivation),
}

/// What a statement's values and row choices derive from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The result's columns, in order (empty when the statement returns no rows of its own,
    /// or returns rows that are not the query's, as `EXPLAIN` does).
    pub outputs: Vec<Output>,
    /// Compared for equality with constants, parameters or other columns, or grouped on
    /// (`= 'x'`, `IN (...)`, `IS NULL`, `GROUP BY`, `DISTINCT`, `PARTITION BY`, `USING`).
    pub equality: Derivation,
    /// Used in any other way to choose, order or limit rows (`LIKE`, `<`, functions in a
    /// `WHERE`, `ORDER BY`, `CASE WHEN`, `FILTER`, `LIMIT`).
    pub filters: Derivation,
    /// Sent somewhere other than the result: written into the database (`INSERT ...
    /// SELECT`, `UPDATE ... SET`, `CREATE TABLE ... AS`, a view) or handed to a function
    /// that sends it on (`pg_notify`).
    pub escapes: Derivation,
}

impl Lineage {
    /// The lineage of a name that may hold either statement (a cursor or prepared statement
    /// recorded twice): every use of either, and result columns that line up only if both
    /// results do, otherwise computed from everything either result holds.
    pub fn either(&self, other: &Lineage) -> Lineage {
        let outputs = if self.outputs == other.outputs {
            self.outputs.clone()
        } else {
            let mut all = Derivation::default();
            for output in self.outputs.iter().chain(&other.outputs) {
                match output {
                    Output::Column(derivation) | Output::Columns(derivation) => {
                        all.absorb(derivation.clone());
                    }
                    Output::Relation(relation) => {
                        all.rows.insert(Some(relation.clone()));
                    }
                }
            }
            vec![Output::Columns(all)]
        };
        let mut merged = Lineage {
            outputs,
            ..self.clone()
        };
        merged.equality.absorb(other.equality.clone());
        merged.filters.absorb(other.filters.clone());
        merged.escapes.absorb(other.escapes.clone());
        merged
    }
}
