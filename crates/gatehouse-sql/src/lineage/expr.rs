//! Expressions: what a value derives from, and how conditions use columns (equality with
//! something fixed, or anything else).

use gatehouse_core::Derivation;
use pg_query::NodeEnum;
use pg_query::protobuf::{self, AExprKind, ColumnRef, FuncCall, SubLink, SubLinkType, WindowDef};

use super::scope::{Col, Scope};
use super::{Analyzer, generic};

/// Functions that send their arguments somewhere other than the result.
const SENDING_FUNCTIONS: &[&str] = &["pg_notify", "pg_logical_emit_message"];

/// Operators that compare for equality (or its negation).
const EQUALITY_OPERATORS: &[&str] = &["=", "<>", "!="];

impl Analyzer {
    /// What the value of `node` derives from; uses of columns inside it (conditions of
    /// `CASE`, `FILTER`, subqueries, window clauses) are recorded on the way.
    pub(super) fn value(&mut self, node: &protobuf::Node, scope: &Scope<'_>) -> Derivation {
        let Some(inner) = &node.node else {
            return Derivation::constant();
        };
        match inner {
            NodeEnum::ColumnRef(column) => match column_fields(column) {
                Some((fields, star)) => {
                    let mut derivation = scope.resolve(&fields, star);
                    if star {
                        derivation.plain = false;
                    }
                    derivation
                }
                None => computed(generic::derivation(inner, scope).0),
            },
            NodeEnum::AConst(_)
            | NodeEnum::ParamRef(_)
            | NodeEnum::SqlvalueFunction(_)
            | NodeEnum::SetToDefault(_)
            | NodeEnum::Integer(_)
            | NodeEnum::Float(_)
            | NodeEnum::Boolean(_)
            | NodeEnum::String(_)
            | NodeEnum::BitString(_) => Derivation::constant(),
            NodeEnum::TypeCast(cast) => computed(self.value_opt(cast.arg.as_deref(), scope)),
            NodeEnum::CollateClause(collate) => self.value_opt(collate.arg.as_deref(), scope),
            NodeEnum::NamedArgExpr(named) => self.value_opt(named.arg.as_deref(), scope),
            NodeEnum::MultiAssignRef(assign) => self.value_opt(assign.source.as_deref(), scope),
            NodeEnum::FuncCall(call) => self.call(call, scope),
            NodeEnum::AExpr(expression) => {
                let mut derivation = self.value_opt(expression.lexpr.as_deref(), scope);
                derivation.absorb(self.value_opt(expression.rexpr.as_deref(), scope));
                derivation
            }
            NodeEnum::BoolExpr(expression) => self.all(&expression.args, scope),
            NodeEnum::CoalesceExpr(expression) => self.all(&expression.args, scope),
            NodeEnum::MinMaxExpr(expression) => self.all(&expression.args, scope),
            NodeEnum::RowExpr(row) => self.all(&row.args, scope),
            NodeEnum::AArrayExpr(array) => self.all(&array.elements, scope),
            NodeEnum::List(list) => self.all(&list.items, scope),
            NodeEnum::NullTest(test) => computed(self.value_opt(test.arg.as_deref(), scope)),
            NodeEnum::BooleanTest(test) => computed(self.value_opt(test.arg.as_deref(), scope)),
            NodeEnum::CaseExpr(case) => {
                if let Some(operand) = case.arg.as_deref() {
                    // CASE x WHEN a: x is compared with each a
                    let derivation = self.value(operand, scope);
                    self.filters.absorb(derivation);
                }
                let mut derivation = Derivation::default();
                for when in &case.args {
                    if let Some(NodeEnum::CaseWhen(when)) = &when.node {
                        match (&case.arg, when.expr.as_deref()) {
                            (Some(_), Some(compared)) => {
                                let used = self.value(compared, scope);
                                self.filters.absorb(used);
                            }
                            (None, Some(condition)) => self.condition(condition, scope),
                            (_, None) => {}
                        }
                        derivation.absorb(self.value_opt(when.result.as_deref(), scope));
                    }
                }
                derivation.absorb(self.value_opt(case.defresult.as_deref(), scope));
                derivation
            }
            NodeEnum::AIndirection(indirection) => {
                let derivation = computed(self.value_opt(indirection.arg.as_deref(), scope));
                for step in &indirection.indirection {
                    if let Some(NodeEnum::AIndices(indices)) = &step.node {
                        for index in [&indices.lidx, &indices.uidx].into_iter().flatten() {
                            let used = self.value(index, scope);
                            self.filters.absorb(used);
                        }
                    }
                }
                derivation
            }
            NodeEnum::GroupingFunc(grouping) => {
                let used = self.all(&grouping.args, scope);
                self.equality.absorb(used);
                Derivation::constant()
            }
            NodeEnum::SubLink(link) => self.sublink(link, scope),
            other => {
                let (derivation, nested) = generic::derivation(other, scope);
                self.filters.absorb(nested);
                computed(derivation)
            }
        }
    }

    fn value_opt(&mut self, node: Option<&protobuf::Node>, scope: &Scope<'_>) -> Derivation {
        match node {
            Some(node) => self.value(node, scope),
            None => Derivation::constant(),
        }
    }

    /// Everything a list of expressions derives from, as one computed value.
    fn all(&mut self, nodes: &[protobuf::Node], scope: &Scope<'_>) -> Derivation {
        let mut derivation = Derivation::default();
        for node in nodes {
            derivation.absorb(self.value(node, scope));
        }
        derivation
    }

    fn call(&mut self, call: &FuncCall, scope: &Scope<'_>) -> Derivation {
        let mut derivation = self.all(&call.args, scope);
        for order in &call.agg_order {
            let key = match &order.node {
                Some(NodeEnum::SortBy(sort)) => sort.node.as_deref(),
                _ => Some(order),
            };
            let used = self.value_opt(key, scope);
            if call.agg_within_group {
                // percentile_disc(0.5) WITHIN GROUP (ORDER BY x) returns values of x
                derivation.absorb(used);
            } else {
                self.filters.absorb(used);
            }
        }
        if let Some(filter) = call.agg_filter.as_deref() {
            self.condition(filter, scope);
        }
        if let Some(window) = call.over.as_deref() {
            self.window(window, scope);
        }
        let name = super::query::names(&call.funcname);
        if name
            .last()
            .is_some_and(|name| SENDING_FUNCTIONS.contains(&name.as_str()))
        {
            self.escapes.absorb(derivation.clone());
        }
        derivation
    }

    /// `OVER (PARTITION BY ... ORDER BY ... ROWS BETWEEN ...)`.
    pub(super) fn window(&mut self, window: &WindowDef, scope: &Scope<'_>) {
        for partition in &window.partition_clause {
            let used = self.value(partition, scope);
            self.equality.absorb(used);
        }
        for order in &window.order_clause {
            let key = match &order.node {
                Some(NodeEnum::SortBy(sort)) => sort.node.as_deref(),
                _ => Some(order),
            };
            let used = self.value_opt(key, scope);
            self.filters.absorb(used);
        }
        for offset in [&window.start_offset, &window.end_offset]
            .into_iter()
            .flatten()
        {
            let used = self.value(offset, scope);
            self.filters.absorb(used);
        }
    }

    fn sublink(&mut self, link: &SubLink, scope: &Scope<'_>) -> Derivation {
        let columns = self.inner_statement(link.subselect.as_deref(), Some(scope));
        match SubLinkType::try_from(link.sub_link_type) {
            Ok(SubLinkType::ExprSublink) => match columns.first() {
                Some(Col::Named(_, derivation)) => derivation.clone(),
                Some(other) => other.whole(),
                None => Derivation::constant(),
            },
            // whether rows exist is decided by the subquery's conditions, recorded already
            Ok(SubLinkType::ExistsSublink) => Derivation::constant(),
            _ => {
                let mut derivation = self.value_opt(link.testexpr.as_deref(), scope);
                derivation.absorb(super::scope::whole_of(&columns));
                derivation
            }
        }
    }

    /// A condition: equality uses where it compares bare columns with something fixed,
    /// filter uses for everything else.
    pub(super) fn condition(&mut self, node: &protobuf::Node, scope: &Scope<'_>) {
        match &node.node {
            Some(NodeEnum::BoolExpr(expression)) => {
                for argument in &expression.args {
                    self.condition(argument, scope);
                }
            }
            Some(NodeEnum::AExpr(expression)) if is_equality(expression) => {
                let sides = [expression.lexpr.as_deref(), expression.rexpr.as_deref()];
                if sides.iter().all(|side| side.is_some_and(is_fixed_or_bare)) {
                    for side in sides.into_iter().flatten() {
                        let used = self.value(side, scope);
                        self.equality.absorb(used);
                    }
                } else {
                    let used = self.value(node, scope);
                    self.filters.absorb(used);
                }
            }
            Some(NodeEnum::NullTest(test)) if test.arg.as_deref().is_some_and(is_bare) => {
                let used = self.value_opt(test.arg.as_deref(), scope);
                self.equality.absorb(used);
            }
            Some(NodeEnum::SubLink(link))
                if link.sub_link_type == SubLinkType::AnySublink as i32
                    && is_equality_name(&link.oper_name)
                    && link.testexpr.as_deref().is_some_and(is_bare) =>
            {
                let tested = self.value_opt(link.testexpr.as_deref(), scope);
                self.equality.absorb(tested);
                let columns = self.inner_statement(link.subselect.as_deref(), Some(scope));
                for column in &columns {
                    match column {
                        Col::Named(_, derivation) if derivation.plain => {
                            self.equality.absorb(derivation.clone());
                        }
                        other => self.filters.absorb(other.whole()),
                    }
                }
            }
            Some(_) => {
                let used = self.value(node, scope);
                self.filters.absorb(used);
            }
            None => {}
        }
    }
}

/// A column reference's name fields and whether it ends in `*`; `None` when it holds
/// something else (which the parser does not produce).
pub(super) fn column_fields(column: &ColumnRef) -> Option<(Vec<String>, bool)> {
    let mut fields = Vec::new();
    let mut star = false;
    for field in &column.fields {
        match &field.node {
            Some(NodeEnum::String(name)) if !star => fields.push(name.sval.clone()),
            Some(NodeEnum::AStar(_)) if !star => star = true,
            _ => return None,
        }
    }
    Some((fields, star))
}

/// The value no longer is any column as stored.
fn computed(mut derivation: Derivation) -> Derivation {
    derivation.plain = false;
    derivation
}

fn is_equality(expression: &protobuf::AExpr) -> bool {
    match AExprKind::try_from(expression.kind) {
        Ok(AExprKind::AexprOp | AExprKind::AexprIn) => is_equality_name(&expression.name),
        Ok(AExprKind::AexprDistinct | AExprKind::AexprNotDistinct) => true,
        _ => false,
    }
}

/// An operator name (`=`, `<>`) that compares for equality; an `IN (subquery)` has none.
fn is_equality_name(name: &[protobuf::Node]) -> bool {
    let names = super::query::names(name);
    match names.as_slice() {
        [] => true,
        [.., last] => EQUALITY_OPERATORS.contains(&last.as_str()),
    }
}

/// A column reference (possibly with a collation), not a whole row.
fn is_bare(node: &protobuf::Node) -> bool {
    match &node.node {
        Some(NodeEnum::ColumnRef(column)) => {
            column_fields(column).is_some_and(|(fields, star)| !star && !fields.is_empty())
        }
        Some(NodeEnum::CollateClause(collate)) => collate.arg.as_deref().is_some_and(is_bare),
        _ => false,
    }
}

/// A bare column, a constant, a parameter, a cast of one of those, or a list of them.
fn is_fixed_or_bare(node: &protobuf::Node) -> bool {
    match &node.node {
        Some(NodeEnum::AConst(_) | NodeEnum::ParamRef(_)) => true,
        Some(NodeEnum::TypeCast(cast)) => cast.arg.as_deref().is_some_and(|arg| {
            matches!(&arg.node, Some(NodeEnum::AConst(_) | NodeEnum::ParamRef(_)))
        }),
        Some(NodeEnum::List(list)) => list.items.iter().all(is_fixed_or_bare),
        _ => is_bare(node),
    }
}
