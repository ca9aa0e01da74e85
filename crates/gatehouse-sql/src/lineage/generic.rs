//! The fallback for parse-tree nodes the lineage analysis does not take apart: every column
//! reference anywhere inside counts. Those outside nested queries resolve in the enclosing
//! scope; those inside a nested query (whose own `FROM` is not looked at) count as columns of
//! any relation the statement reads, a single name also as a whole row of any relation, and
//! are taken to choose rows. The node is seen through the serde serialization pg_query generates, so no
//! node type can hide a reference.

use gatehouse_core::{ColumnSource, Derivation};
use pg_query::NodeEnum;
use serde_json::Value;

use super::scope::Scope;

/// What `node` derives from, and the column references inside its nested queries.
pub(super) fn derivation(node: &NodeEnum, scope: &Scope<'_>) -> (Derivation, Derivation) {
    let mut found = Found {
        scope,
        value: Derivation::default(),
        nested: Derivation::default(),
    };
    match serde_json::to_value(node) {
        Ok(tree) => found.visit(&tree, false),
        // cannot be looked at: it may hold anything of any relation
        Err(_) => {
            found.value.rows.insert(None);
            found.nested.rows.insert(None);
        }
    }
    (found.value, found.nested)
}

/// The name a `FROM` item of a kind this analysis does not take apart answers to.
pub(super) fn alias_name(node: &NodeEnum) -> String {
    let alias = match node {
        NodeEnum::RangeTableFunc(table) => table.alias.as_ref(),
        NodeEnum::JsonTable(table) => table.alias.as_ref(),
        _ => None,
    };
    alias
        .map(|alias| alias.aliasname.clone())
        .unwrap_or_default()
}

struct Found<'s, 'p> {
    scope: &'s Scope<'p>,
    value: Derivation,
    nested: Derivation,
}

impl Found<'_, '_> {
    fn visit(&mut self, tree: &Value, in_query: bool) {
        match tree {
            Value::Object(fields) => {
                for (key, inner) in fields {
                    match key.as_str() {
                        "ColumnRef" => self.column(inner, in_query),
                        "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => {
                            self.visit(inner, true)
                        }
                        _ => self.visit(inner, in_query),
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.visit(item, in_query);
                }
            }
            _ => {}
        }
    }

    fn column(&mut self, reference: &Value, in_query: bool) {
        let fields = reference
            .get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut names = Vec::new();
        let mut star = false;
        for field in &fields {
            match field.pointer("/node/String/sval").and_then(Value::as_str) {
                Some(name) if !star => names.push(name.to_owned()),
                _ => star = true,
            }
        }
        if !in_query {
            let resolved = self.scope.resolve(&names, star);
            self.value.absorb(resolved);
            return;
        }
        if let (Some(column), false) = (names.last(), star) {
            self.nested.columns.insert(ColumnSource {
                relation: None,
                column: column.clone(),
            });
        }
        if star || names.len() == 1 {
            self.nested.rows.insert(None);
        }
    }
}
