//! Queries and data-changing statements: `WITH`, set operations, `VALUES`, `FROM` items,
//! target lists, the clauses that choose, group and order rows, and where `INSERT`,
//! `UPDATE`, `DELETE` and `MERGE` put values.

use gatehouse_core::Derivation;
use pg_query::NodeEnum;
use pg_query::protobuf::{
    self, Alias, CommonTableExpr, JoinExpr, RangeVar, SelectStmt, SetOperation, WithClause,
};

use super::scope::{Col, Scope, Source, renamed, whole_of};
use super::{Analyzer, generic};
use crate::facts::render_name;

/// Passes over a recursive common table expression before its columns are taken as settled.
const RECURSION_PASSES: usize = 6;

impl Analyzer {
    /// The result columns of a statement that returns rows (a query, or a data-changing
    /// statement's `RETURNING`), recording its uses of columns.
    pub(super) fn statement(&mut self, node: &NodeEnum, parent: Option<&Scope<'_>>) -> Vec<Col> {
        match node {
            NodeEnum::SelectStmt(select) => self.select(select, parent),
            NodeEnum::InsertStmt(insert) => {
                let mut scope = Scope::within(parent);
                self.with(insert.with_clause.as_ref(), &mut scope);
                let source = self.inner_statement(insert.select_stmt.as_deref(), Some(&scope));
                self.escape_all(&source);
                let target = target_source(insert.relation.as_ref());
                let mut conflict = Scope::within(Some(&scope));
                conflict.sources.extend(target.clone());
                if let Some(target) = &target {
                    conflict.sources.push(Source {
                        name: "excluded".to_owned(),
                        columns: target.columns.clone(),
                    });
                }
                if let Some(on_conflict) = &insert.on_conflict_clause {
                    self.assignments(&on_conflict.target_list, &conflict);
                    self.condition_opt(on_conflict.where_clause.as_deref(), &conflict);
                }
                let mut returning = Scope::within(Some(&scope));
                returning.sources.extend(target);
                self.returning(insert.returning_clause.as_ref(), &returning)
            }
            NodeEnum::UpdateStmt(update) => {
                let mut scope = Scope::within(parent);
                self.with(update.with_clause.as_ref(), &mut scope);
                scope
                    .sources
                    .extend(target_source(update.relation.as_ref()));
                for item in &update.from_clause {
                    self.add_from_item(item, &mut scope);
                }
                self.assignments(&update.target_list, &scope);
                self.condition_opt(update.where_clause.as_deref(), &scope);
                self.returning(update.returning_clause.as_ref(), &scope)
            }
            NodeEnum::DeleteStmt(delete) => {
                let mut scope = Scope::within(parent);
                self.with(delete.with_clause.as_ref(), &mut scope);
                scope
                    .sources
                    .extend(target_source(delete.relation.as_ref()));
                for item in &delete.using_clause {
                    self.add_from_item(item, &mut scope);
                }
                self.condition_opt(delete.where_clause.as_deref(), &scope);
                self.returning(delete.returning_clause.as_ref(), &scope)
            }
            NodeEnum::MergeStmt(merge) => {
                let mut scope = Scope::within(parent);
                self.with(merge.with_clause.as_ref(), &mut scope);
                scope.sources.extend(target_source(merge.relation.as_ref()));
                if let Some(source) = merge.source_relation.as_deref() {
                    self.add_from_item(source, &mut scope);
                }
                self.condition_opt(merge.join_condition.as_deref(), &scope);
                for clause in &merge.merge_when_clauses {
                    if let Some(NodeEnum::MergeWhenClause(when)) = &clause.node {
                        self.condition_opt(when.condition.as_deref(), &scope);
                        self.assignments(&when.target_list, &scope);
                        for value in &when.values {
                            let derivation = self.value(value, &scope);
                            self.escapes.absorb(derivation);
                        }
                    }
                }
                self.returning(merge.returning_clause.as_ref(), &scope)
            }
            other => {
                let (derivation, nested) = generic::derivation(other, &Scope::within(parent));
                self.filters.absorb(nested);
                vec![Col::Opaque(derivation)]
            }
        }
    }

    /// [`Analyzer::statement`] of an optional wrapped node.
    pub(super) fn inner_statement(
        &mut self,
        node: Option<&protobuf::Node>,
        parent: Option<&Scope<'_>>,
    ) -> Vec<Col> {
        match node.and_then(|node| node.node.as_ref()) {
            Some(node) => self.statement(node, parent),
            None => Vec::new(),
        }
    }

    /// Values that leave through something other than the result.
    pub(super) fn escape_all(&mut self, columns: &[Col]) {
        self.escapes.absorb(whole_of(columns));
    }

    pub(super) fn select(&mut self, select: &SelectStmt, parent: Option<&Scope<'_>>) -> Vec<Col> {
        let mut scope = Scope::within(parent);
        self.with(select.with_clause.as_ref(), &mut scope);
        let operation = SetOperation::try_from(select.op).unwrap_or(SetOperation::SetopNone);
        let outputs = if let (Some(left), Some(right)) = (&select.larg, &select.rarg)
            && operation != SetOperation::SetopNone
        {
            let left = self.select(left, Some(&scope));
            let right = self.select(right, Some(&scope));
            let combined = combine(left, right);
            if !select.all || operation != SetOperation::SetopUnion {
                // removing duplicates, or matching rows across branches, compares values
                self.equality.absorb(whole_of(&combined));
            }
            combined
        } else if !select.values_lists.is_empty() {
            self.values(&select.values_lists, &scope)
        } else {
            for item in &select.from_clause {
                self.add_from_item(item, &mut scope);
            }
            let outputs = self.targets(&select.target_list, &scope);
            self.condition_opt(select.where_clause.as_deref(), &scope);
            for group in &select.group_clause {
                let derivation = self.by_output(group, &scope, &outputs);
                self.equality.absorb(derivation);
            }
            self.condition_opt(select.having_clause.as_deref(), &scope);
            for window in &select.window_clause {
                if let Some(NodeEnum::WindowDef(window)) = &window.node {
                    self.window(window, &scope);
                }
            }
            for distinct in &select.distinct_clause {
                let derivation = match &distinct.node {
                    // plain DISTINCT: the whole output row
                    None => whole_of(&outputs),
                    Some(_) => self.by_output(distinct, &scope, &outputs),
                };
                self.equality.absorb(derivation);
            }
            outputs
        };
        for sort in &select.sort_clause {
            let key = match &sort.node {
                Some(NodeEnum::SortBy(sort)) => sort.node.as_deref(),
                _ => Some(sort),
            };
            if let Some(key) = key {
                let derivation = self.by_output(key, &scope, &outputs);
                self.filters.absorb(derivation);
            }
        }
        for limit in [&select.limit_count, &select.limit_offset]
            .into_iter()
            .flatten()
        {
            let derivation = self.value(limit, &scope);
            self.filters.absorb(derivation);
        }
        outputs
    }

    /// `WITH` (common table expressions, visible to what follows them).
    fn with(&mut self, with: Option<&WithClause>, scope: &mut Scope<'_>) {
        let Some(with) = with else {
            return;
        };
        for cte in &with.ctes {
            if let Some(NodeEnum::CommonTableExpr(cte)) = &cte.node {
                let columns = if with.recursive {
                    self.recursive_cte(cte, scope)
                } else {
                    self.inner_statement(cte.ctequery.as_deref(), Some(scope))
                };
                let columns = renamed(columns, &names(&cte.aliascolnames));
                scope.ctes.push((cte.ctename.clone(), columns));
            }
        }
    }

    /// A common table expression that may refer to itself: its columns are computed again
    /// with what the previous pass found standing for the self-reference, until that no
    /// longer grows; they are never plain.
    fn recursive_cte(&mut self, cte: &CommonTableExpr, scope: &mut Scope<'_>) -> Vec<Col> {
        let mut so_far = Derivation::default();
        let mut columns = Vec::new();
        for _ in 0..RECURSION_PASSES {
            scope
                .ctes
                .push((cte.ctename.clone(), vec![Col::Opaque(so_far.clone())]));
            columns = self.inner_statement(cte.ctequery.as_deref(), Some(scope));
            scope.ctes.pop();
            let mut grown = so_far.clone();
            grown.absorb(whole_of(&columns));
            if grown == so_far {
                break;
            }
            so_far = grown;
        }
        columns
            .into_iter()
            .map(|column| match column {
                Col::Named(name, mut derivation) => {
                    derivation.absorb(so_far.clone());
                    Col::Named(name, derivation)
                }
                other => other,
            })
            .collect()
    }

    /// `VALUES (...), (...)`: column `i` is any row's `i`-th value.
    fn values(&mut self, rows: &[protobuf::Node], scope: &Scope<'_>) -> Vec<Col> {
        let mut columns: Vec<Col> = Vec::new();
        for row in rows {
            let Some(NodeEnum::List(row)) = &row.node else {
                continue;
            };
            for (index, item) in row.items.iter().enumerate() {
                let derivation = self.value(item, scope);
                match columns.get_mut(index) {
                    Some(Col::Named(_, existing)) => existing.alternative(derivation),
                    _ => columns.push(Col::Named(Some(format!("column{}", index + 1)), derivation)),
                }
            }
        }
        columns
    }

    /// One `FROM` item: adds the names it brings into scope and what `*` expands to.
    pub(super) fn add_from_item(&mut self, item: &protobuf::Node, scope: &mut Scope<'_>) {
        let columns = self.source_columns(item, scope);
        scope.star.extend(columns);
    }

    /// The columns of one `FROM` item, adding its names to `scope`.
    fn source_columns(&mut self, item: &protobuf::Node, scope: &mut Scope<'_>) -> Vec<Col> {
        let (name, columns) = match &item.node {
            Some(NodeEnum::RangeVar(range)) => {
                let columns = match scope.cte(&range.relname) {
                    Some(columns) if range.schemaname.is_empty() => columns.to_vec(),
                    _ => vec![Col::Stored(relation_name(range))],
                };
                aliased(range.alias.as_ref(), range.relname.clone(), columns)
            }
            Some(NodeEnum::RangeSubselect(subselect)) => {
                let columns = self.inner_statement(subselect.subquery.as_deref(), Some(scope));
                aliased(subselect.alias.as_ref(), String::new(), columns)
            }
            Some(NodeEnum::RangeFunction(function)) => {
                let mut derivation = Derivation::default();
                let mut called = String::new();
                for call in &function.functions {
                    let call = match &call.node {
                        Some(NodeEnum::List(list)) => list.items.first(),
                        _ => Some(call),
                    };
                    if let Some(call) = call {
                        if let Some(NodeEnum::FuncCall(func)) = &call.node
                            && called.is_empty()
                        {
                            called = names(&func.funcname).last().cloned().unwrap_or_default();
                        }
                        derivation.absorb(self.value(call, scope));
                    }
                }
                let name = function
                    .alias
                    .as_ref()
                    .map_or(called, |alias| alias.aliasname.clone());
                (name, vec![Col::Opaque(derivation)])
            }
            Some(NodeEnum::JoinExpr(join)) => return self.join(join, scope),
            Some(NodeEnum::RangeTableSample(sample)) => {
                for argument in sample.args.iter().chain(sample.repeatable.as_deref()) {
                    let derivation = self.value(argument, scope);
                    self.filters.absorb(derivation);
                }
                return match sample.relation.as_deref() {
                    Some(relation) => self.source_columns(relation, scope),
                    None => Vec::new(),
                };
            }
            Some(other) => {
                let (derivation, nested) = generic::derivation(other, scope);
                self.filters.absorb(nested);
                (generic::alias_name(other), vec![Col::Opaque(derivation)])
            }
            None => return Vec::new(),
        };
        scope.sources.push(Source {
            name,
            columns: columns.clone(),
        });
        columns
    }

    /// `a JOIN b ON ... | USING (...)`, `NATURAL JOIN`, with an optional alias.
    fn join(&mut self, join: &JoinExpr, scope: &mut Scope<'_>) -> Vec<Col> {
        let left = match join.larg.as_deref() {
            Some(item) => self.source_columns(item, scope),
            None => Vec::new(),
        };
        let right = match join.rarg.as_deref() {
            Some(item) => self.source_columns(item, scope),
            None => Vec::new(),
        };
        self.condition_opt(join.quals.as_deref(), scope);
        let using = names(&join.using_clause);
        for name in &using {
            for side in [&left, &right] {
                if let Some(derivation) = super::scope::lookup(side, name) {
                    self.equality.absorb(derivation);
                }
            }
        }
        if join.is_natural {
            // compares every column the two sides share, which only the catalog knows
            self.equality.absorb(whole_of(&left));
            self.equality.absorb(whole_of(&right));
        }
        let mut columns: Vec<Col> = left.into_iter().chain(right).collect();
        let merged = !using.is_empty() || join.is_natural;
        if merged
            && !columns
                .iter()
                .all(|column| matches!(column, Col::Stored(_)))
        {
            // merged join columns come first: the order can no longer be followed
            columns = vec![Col::Opaque(whole_of(&columns))];
        }
        for alias in [&join.alias, &join.join_using_alias].into_iter().flatten() {
            scope.sources.push(Source {
                name: alias.aliasname.clone(),
                columns: columns.clone(),
            });
        }
        columns
    }

    /// A target list (`SELECT ...`, `RETURNING ...`): its result columns.
    fn targets(&mut self, targets: &[protobuf::Node], scope: &Scope<'_>) -> Vec<Col> {
        let mut columns = Vec::new();
        for target in targets {
            let Some(NodeEnum::ResTarget(target)) = &target.node else {
                continue;
            };
            let Some(value) = target.val.as_deref() else {
                continue;
            };
            if let Some(NodeEnum::ColumnRef(column)) = &value.node
                && let Some((fields, true)) = super::expr::column_fields(column)
            {
                columns.extend(self.expand_star(&fields, scope));
                continue;
            }
            let derivation = self.value(value, scope);
            let name = if target.name.is_empty() {
                output_name(value)
            } else {
                Some(target.name.clone())
            };
            columns.push(Col::Named(name, derivation));
        }
        columns
    }

    /// `*` or `t.*` in a target list: the columns it stands for.
    fn expand_star(&mut self, fields: &[String], scope: &Scope<'_>) -> Vec<Col> {
        let Some(relation) = fields.last() else {
            return scope.star.clone();
        };
        let found: Vec<Col> = scope
            .sources
            .iter()
            .filter(|source| &source.name == relation)
            .flat_map(|source| source.columns.clone())
            .collect();
        if found.is_empty() {
            // an outer level's source, or one the tree does not show
            vec![Col::Opaque(scope.resolve(fields, true))]
        } else {
            found
        }
    }

    fn returning(
        &mut self,
        returning: Option<&protobuf::ReturningClause>,
        scope: &Scope<'_>,
    ) -> Vec<Col> {
        match returning {
            Some(returning) => self.targets(&returning.exprs, scope),
            None => Vec::new(),
        }
    }

    /// `SET c = value, (a, b) = (SELECT ...)`: values written into the database.
    fn assignments(&mut self, targets: &[protobuf::Node], scope: &Scope<'_>) {
        for target in targets {
            if let Some(NodeEnum::ResTarget(target)) = &target.node
                && let Some(value) = target.val.as_deref()
            {
                let derivation = self.value(value, scope);
                self.escapes.absorb(derivation);
            }
        }
    }

    pub(super) fn condition_opt(&mut self, condition: Option<&protobuf::Node>, scope: &Scope<'_>) {
        if let Some(condition) = condition {
            self.condition(condition, scope);
        }
    }

    /// A `GROUP BY`, `ORDER BY` or `DISTINCT ON` key: an output position (`ORDER BY 2`), an
    /// output name or an input expression, whichever the tree allows.
    fn by_output(
        &mut self,
        key: &protobuf::Node,
        scope: &Scope<'_>,
        outputs: &[Col],
    ) -> Derivation {
        match &key.node {
            Some(NodeEnum::AConst(constant)) => {
                if let Some(protobuf::a_const::Val::Ival(position)) = &constant.val {
                    self.reads_literal_values = true;
                    let index = usize::try_from(position.ival).unwrap_or(0);
                    let fixed = outputs
                        .iter()
                        .take(index)
                        .all(|column| matches!(column, Col::Named(..)));
                    return match outputs.get(index.wrapping_sub(1)) {
                        Some(column) if fixed => column.whole(),
                        _ => whole_of(outputs),
                    };
                }
                Derivation::constant()
            }
            Some(NodeEnum::GroupingSet(set)) => {
                let mut derivation = Derivation::default();
                for item in &set.content {
                    derivation.absorb(self.by_output(item, scope, outputs));
                }
                derivation
            }
            Some(NodeEnum::ColumnRef(column)) => {
                let mut derivation = self.value(key, scope);
                if let Some((fields, false)) = super::expr::column_fields(column)
                    && let [name] = fields.as_slice()
                    && let Some(output) = super::scope::lookup(
                        &outputs
                            .iter()
                            .filter(|column| matches!(column, Col::Named(..)))
                            .cloned()
                            .collect::<Vec<_>>(),
                        name,
                    )
                {
                    derivation.alternative(output);
                }
                derivation
            }
            _ => self.value(key, scope),
        }
    }
}

/// The target relation of `INSERT`, `UPDATE`, `DELETE` or `MERGE`, as a source.
fn target_source(relation: Option<&RangeVar>) -> Option<Source> {
    let relation = relation?;
    let (name, columns) = aliased(
        relation.alias.as_ref(),
        relation.relname.clone(),
        vec![Col::Stored(relation_name(relation))],
    );
    Some(Source { name, columns })
}

/// A relation's name as the classifier lists it.
fn relation_name(range: &RangeVar) -> String {
    render_name([
        range.catalogname.as_str(),
        range.schemaname.as_str(),
        range.relname.as_str(),
    ])
}

/// The name and columns of a `FROM` item under its alias, if it has one.
fn aliased(alias: Option<&Alias>, name: String, columns: Vec<Col>) -> (String, Vec<Col>) {
    match alias {
        Some(alias) => (
            alias.aliasname.clone(),
            renamed(columns, &names(&alias.colnames)),
        ),
        None => (name, columns),
    }
}

/// Two set-operation branches: column by column when both line up, otherwise one opaque
/// span holding everything (names come from the left, so a name rule would see the wrong
/// name for the right's columns).
fn combine(left: Vec<Col>, right: Vec<Col>) -> Vec<Col> {
    let all_named = |columns: &[Col]| {
        columns
            .iter()
            .all(|column| matches!(column, Col::Named(..)))
    };
    if left.len() == right.len() && all_named(&left) && all_named(&right) {
        return left
            .into_iter()
            .zip(right)
            .map(|pair| match pair {
                (Col::Named(name, mut left), Col::Named(_, right)) => {
                    left.alternative(right);
                    Col::Named(name, left)
                }
                (left, _) => left,
            })
            .collect();
    }
    if left == right {
        return left;
    }
    let mut everything = whole_of(&left);
    everything.absorb(whole_of(&right));
    vec![Col::Opaque(everything)]
}

/// The strings of a list of `String` nodes (names, alias column lists).
pub(super) fn names(list: &[protobuf::Node]) -> Vec<String> {
    list.iter()
        .filter_map(|node| match &node.node {
            Some(NodeEnum::String(name)) => Some(name.sval.clone()),
            _ => None,
        })
        .collect()
}

/// The name PostgreSQL gives an unaliased result column, where it matters for lineage: a
/// column reference's last field, a function's name, a cast's operand's name.
fn output_name(value: &protobuf::Node) -> Option<String> {
    match &value.node {
        Some(NodeEnum::ColumnRef(column)) => names(&column.fields).last().cloned(),
        Some(NodeEnum::FuncCall(call)) => names(&call.funcname).last().cloned(),
        Some(NodeEnum::TypeCast(cast)) => cast.arg.as_deref().and_then(output_name),
        Some(NodeEnum::CollateClause(collate)) => collate.arg.as_deref().and_then(output_name),
        _ => None,
    }
}
