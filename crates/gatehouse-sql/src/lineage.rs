//! Column lineage: for each result column, the stored columns it derives from and whether it
//! is one of them unchanged; and the columns a statement uses to choose, order or group rows,
//! or sends somewhere other than its result. Masking by column needs this: a rule for
//! `people.card` must hold for `card::float8`, `lower(card) AS x` and `WHERE card LIKE '4%'`,
//! none of which a result's column names give away.
//!
//! Computed from the parse tree alone, without a catalog, so references are resolved the way
//! the tree allows and conservatively where it does not:
//!
//! - `t.c` is column `c` of whatever `t` names in scope: a relation (then the column is
//!   `relation.c`), a subquery or common table expression (then whatever its output `c`
//!   derives from), a function or `VALUES` (everything its arguments derive from).
//! - An unqualified `c` could be a column of any relation or output in scope, at any level
//!   of nesting (the tree does not say which relation has a column `c`): it derives from all
//!   of the candidates.
//! - Casts, operators, function calls, `CASE`, concatenation, subscripts and field
//!   selections compute: the value derives from everything inside and is no longer plain.
//!   Collations do not change a value.
//! - Whole rows (`t` naming a relation, `t.*` or `*` inside an expression, `to_json(t)`) are
//!   recorded as such ([`Derivation::rows`]): which columns they hold is the catalog's.
//! - Conditions are the `WHERE`, `JOIN ... ON`, `HAVING`, `CASE WHEN`, `FILTER`, `MERGE`
//!   conditions and the conditions of subqueries anywhere; `ORDER BY` (also an aggregate's),
//!   `LIMIT`, `OFFSET` and window `ORDER BY` and frame offsets choose or order rows too.
//!   `GROUP BY`, `DISTINCT`, `DISTINCT ON`, `PARTITION BY`, `USING`, `UNION`, `INTERSECT` and
//!   `EXCEPT` group or compare whole values. A condition that compares a bare column with a
//!   constant, a parameter or another bare column by `=`, `<>`, `IN`, `IS [NOT] DISTINCT
//!   FROM` or `IS [NOT] NULL` is an *equality* use; everything else is a *filter* use.
//! - Values written by `INSERT ... SELECT`, `UPDATE ... SET`, `MERGE`, `CREATE TABLE ... AS`,
//!   `SELECT ... INTO` and views, or handed to `pg_notify`, *escape* the result.
//! - Anything this module does not take apart (XML and JSON constructors, `XMLTABLE`,
//!   `JSON_TABLE`, ...) derives from every column reference inside it, each as a column of
//!   any relation the statement reads, and those inside its subqueries count as filters.
//!
//! Not covered, because the text does not show it: what views and functions read (a view's
//! column is the view's), what a function does with its arguments, and cursors opened by
//! functions.

mod expr;
mod generic;
mod query;
mod scope;

use gatehouse_core::{Derivation, Lineage, Output};
use pg_query::NodeEnum;
use pg_query::protobuf;

/// What one statement's analysis gathers besides its result columns.
#[derive(Default)]
struct Analyzer {
    equality: Derivation,
    filters: Derivation,
    escapes: Derivation,
    /// Whether the analysis read a literal's value (`ORDER BY 2` names the second output).
    reads_literal_values: bool,
}

/// A statement's lineage, and whether it was computed from the value of a literal, so that
/// the same text with other values could have another (see [`crate::template`]).
pub(crate) struct Traced {
    pub(crate) lineage: Option<Lineage>,
    pub(crate) reads_literal_values: bool,
}

/// The lineage of one statement, `None` for statements that return no query rows and store
/// no query's values (`SET`, `CREATE TABLE`, ...).
pub(crate) fn of(node: &NodeEnum) -> Traced {
    let mut analyzer = Analyzer::default();
    let outputs = match node {
        NodeEnum::SelectStmt(select) => {
            let columns = analyzer.select(select, None);
            if select.into_clause.is_some() {
                analyzer.escape_all(&columns);
                Vec::new()
            } else {
                columns
            }
        }
        NodeEnum::InsertStmt(_)
        | NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_)
        | NodeEnum::MergeStmt(_) => analyzer.statement(node, None),
        NodeEnum::DeclareCursorStmt(declare) => return of_inner(declare.query.as_deref()),
        NodeEnum::PrepareStmt(prepare) => return of_inner(prepare.query.as_deref()),
        NodeEnum::CopyStmt(copy) => return of_inner(copy.query.as_deref()),
        NodeEnum::ExplainStmt(explain) => {
            // The result is the plan, not the query's rows; its conditions still run (and
            // show in row counts) under ANALYZE.
            let mut inner = of_inner(explain.query.as_deref());
            if let Some(lineage) = &mut inner.lineage {
                lineage.outputs.clear();
            }
            return inner;
        }
        NodeEnum::CreateTableAsStmt(create) => {
            let columns = analyzer.inner_statement(create.query.as_deref(), None);
            analyzer.escape_all(&columns);
            Vec::new()
        }
        NodeEnum::ViewStmt(view) => {
            let columns = analyzer.inner_statement(view.query.as_deref(), None);
            analyzer.escape_all(&columns);
            Vec::new()
        }
        _ => {
            return Traced {
                lineage: None,
                reads_literal_values: false,
            };
        }
    };
    Traced {
        lineage: Some(Lineage {
            outputs: outputs.iter().map(scope::Col::output).collect(),
            equality: analyzer.equality,
            filters: analyzer.filters,
            escapes: analyzer.escapes,
        }),
        reads_literal_values: analyzer.reads_literal_values,
    }
}

fn of_inner(query: Option<&protobuf::Node>) -> Traced {
    match query.and_then(|query| query.node.as_ref()) {
        Some(node) => of(node),
        None => Traced {
            lineage: None,
            reads_literal_values: false,
        },
    }
}

/// `Output` is what callers see; the analysis keeps names as long as they matter.
impl scope::Col {
    fn output(&self) -> Output {
        match self {
            scope::Col::Named(_, derivation) => Output::Column(derivation.clone()),
            scope::Col::Stored(relation) => Output::Relation(relation.clone()),
            scope::Col::Opaque(derivation) => Output::Columns(derivation.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
