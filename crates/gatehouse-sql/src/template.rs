//! The proof half of the template cache ([`crate::Classifier`]): whether the classification of
//! one text holds for every text with the same key ([`crate::literals`]), that is, for any
//! values of its replaced literals.
//!
//! This is a security boundary: reusing a classification that is laxer than the real one of
//! the text at hand is a policy bypass. So a template is stored only when the real parse and
//! analysis of the first text seen with the key prove, by the rules below, that no part of the
//! classification but the statement's text depends on a replaced literal's value:
//!
//! 1. **The literals are expression constants.** Every replaced literal is the `A_Const` node
//!    at its own offset, holding exactly its value (an integer's value, a numeric's text, a
//!    string's inside with doubled quotes undoubled), or, for a number right after a `-`, the
//!    `A_Const` at the `-` holding the negated value (the grammar folds `-5` into one
//!    constant). A literal the grammar takes as something else (`LANGUAGE 'c'`,
//!    `COPY t FROM '/file'`, `PASSWORD '...'`, a `UESCAPE` character, `float(30)`, `int[5]`,
//!    `CURRENT_TIME(3)`) has no such node, and then there is no template. The grammar itself
//!    then cannot branch on a value: it only sees the token's class, which the key fixes, and
//!    the constant node carries the value unchanged into the tree.
//! 2. **Plain DML.** The statement is a `SELECT`, `INSERT`, `UPDATE` or `DELETE` whose kind is
//!    `Select`, `Insert`, `Update` or `Delete`, without a reason and without a prepared-
//!    statement or cursor operation. The refinements that read constants (`SET` values,
//!    `EXPLAIN` options, `COPY` targets, function languages, ...) apply to other statement
//!    types only; for these the classification comes from the walk and the lineage alone.
//! 3. **No rule read a literal's value.** The walk marks where constant folding's result
//!    decides `all_rows` from a condition that a literal went into, whatever it folded to
//!    (`WHERE 1 = 1` is every row, `WHERE 1 = 2` is none, `WHERE x = 1 OR 'n'` is unknown but
//!    `'y'` makes it every row); the lineage marks where `ORDER BY 2`, `GROUP BY 2` or
//!    `DISTINCT ON (2)` names an output by position. Everything else the walk and the lineage
//!    read from a tree of plain DML is a name (relations, functions, columns, operators) or
//!    the kind of a node, never a constant's value.
//! 4. **The statement text is found without parsing.** The message holds one statement, and
//!    its text as the parser cut it is what [`Normalised::statement_text`] cuts lexically.
//!
//! The fingerprint ignores constants, so it is the same for every text with the key; lineage,
//! relations, functions and `all_rows` come from the tree, which differs only in constant
//! values (and in the offsets after a literal whose length changed, which no rule reads).
//! The `standard_conforming_strings` differential check is run on every text before a template
//! is used, by the cache, as it is by [`crate::classify()`].

use std::collections::HashMap;

use gatehouse_core::SqlKind;
use pg_query::NodeEnum;
use serde_json::Value;

use crate::classify::Analysed;
use crate::literals::{self, Class, Literal, Normalised};

/// Whether `statement`, the only statement of `sql`, is classified the same for any values of
/// `normalised`'s literals (see the module documentation for the rules).
pub(crate) fn proven(sql: &str, normalised: &Normalised, statement: &Analysed<'_>) -> bool {
    let classified = &statement.classified;
    let plain_dml = matches!(
        statement.node,
        NodeEnum::SelectStmt(_)
            | NodeEnum::InsertStmt(_)
            | NodeEnum::UpdateStmt(_)
            | NodeEnum::DeleteStmt(_)
    ) && matches!(
        classified.statement.kind,
        SqlKind::Select | SqlKind::Insert | SqlKind::Update | SqlKind::Delete
    ) && classified.statement.reason.is_none()
        && classified.statement.context.is_none()
        && classified.prepared.is_none();
    plain_dml
        && !statement.reads_literal_values
        && classified.statement.text == normalised.statement_text(sql)
        && literals_are_constants(sql, &normalised.literals, statement.node)
}

/// A constant's value as the parse tree holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Constant {
    Integer(i64),
    Numeric(String),
    String(String),
    /// A boolean, a bit string, or `NULL`: never a replaced literal.
    Other,
}

/// Rule 1: each literal is the constant at its offset (or at its `-`) with its value.
fn literals_are_constants(sql: &str, literals: &[Literal], node: &NodeEnum) -> bool {
    let Ok(tree) = serde_json::to_value(node) else {
        return false;
    };
    let mut constants = HashMap::new();
    collect_constants(&tree, &mut constants);
    literals.iter().all(|literal| {
        let Some(text) = sql.get(literal.start..literal.end) else {
            return false;
        };
        let at = |offset: usize, value: Option<Constant>| {
            value.is_some()
                && i64::try_from(offset).is_ok_and(|offset| constants.get(&offset) == Some(&value))
        };
        at(literal.start, value(literal.class, text, false))
            || literal
                .minus
                .is_some_and(|minus| at(minus, value(literal.class, text, true)))
    })
}

/// The constant the grammar makes of a literal's text, negated or not.
fn value(class: Class, text: &str, negated: bool) -> Option<Constant> {
    match class {
        Class::Integer => {
            let value = i64::from(literals::integer_value(text)?);
            Some(Constant::Integer(if negated { -value } else { value }))
        }
        Class::Numeric if negated => Some(Constant::Numeric(format!("-{text}"))),
        Class::Numeric => Some(Constant::Numeric(text.to_owned())),
        Class::String if negated => None,
        Class::String => literals::string_value(text).map(Constant::String),
    }
}

/// Every `A_Const` in a tree, by location. Two constants at one location make it ambiguous
/// (`None`), and no literal matches it.
fn collect_constants(tree: &Value, constants: &mut HashMap<i64, Option<Constant>>) {
    match tree {
        Value::Object(fields) => {
            for (key, inner) in fields {
                if key == "AConst"
                    && let Some(location) = inner.get("location").and_then(Value::as_i64)
                {
                    let constant = constant(inner);
                    constants
                        .entry(location)
                        .and_modify(|existing| *existing = None)
                        .or_insert(Some(constant));
                }
                collect_constants(inner, constants);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_constants(item, constants);
            }
        }
        _ => {}
    }
}

/// An `A_Const`'s value, from its serialized form: `{"isnull": .., "val": {"Ival": {"ival":
/// 5}}}`, `{"Fval": {"fval": "1.5"}}`, `{"Sval": {"sval": "a"}}`, ...
fn constant(a_const: &Value) -> Constant {
    if a_const.get("isnull").and_then(Value::as_bool) == Some(true) {
        return Constant::Other;
    }
    let val = a_const.get("val");
    let field = |variant: &str, field: &str| val?.get(variant)?.get(field);
    if let Some(value) = field("Ival", "ival").and_then(Value::as_i64) {
        Constant::Integer(value)
    } else if let Some(value) = field("Fval", "fval").and_then(Value::as_str) {
        Constant::Numeric(value.to_owned())
    } else if let Some(value) = field("Sval", "sval").and_then(Value::as_str) {
        Constant::String(value.to_owned())
    } else {
        Constant::Other
    }
}
