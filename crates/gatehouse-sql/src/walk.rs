//! A walk over every node of a pg_query parse tree, collecting [`Facts`].
//!
//! PostgreSQL's raw parse tree has a few hundred node types, and a hand-written walker that
//! forgets one of them is a way to hide a `DELETE` or a `pg_read_file()` from policy. Instead
//! this walker rides on the `serde::Serialize` implementations pg_query generates for every
//! protobuf message: it is a [`serde::Serializer`] that serializes nothing, but is shown every
//! struct, field and value of the tree in order. What it cannot miss, it does not need to list.
//!
//! It keeps a stack of the structs it is inside ([`Frame`]: struct name, current field), and
//! acts on a handful of them:
//!
//! - `RangeVar`: a relation. It is a write when it is the target of its parent
//!   ([`WRITE_POSITIONS`], e.g. `InsertStmt.relation`, `TruncateStmt.relations`), otherwise a
//!   read. An unqualified read whose name is a common table expression in scope is a reference
//!   to that CTE, not a relation, and is dropped (scoping follows PostgreSQL: a CTE is visible
//!   in its query's body and subqueries, in later CTEs of the same `WITH`, and in all of them
//!   with `RECURSIVE`; anything out of scope stays a read, so the error is always towards
//!   reporting too much).
//! - `FuncCall`: a function call; its name is listed and looked up in [`crate::functions`].
//! - Field selections that may be function calls in attribute notation. PostgreSQL reads
//!   `x.name`, `t.name`, `(expr).name`, `((expr)).name` and `(expr).a.name` as the call
//!   `name(x)` whenever the value before the dot has no column `name` (`SELECT
//!   ('seq'::regclass).nextval` calls `nextval`). The parser cannot tell the two apart: it
//!   produces a `ColumnRef` with several fields, or an `A_Indirection` whose indirection list
//!   holds the names (beside subscripts and `*`; `(expr).*` selects every column and is never
//!   a call). Every such name after the first field of a `ColumnRef`, and every name
//!   in an `A_Indirection`'s list, that [`crate::functions`] knows is treated as a call of
//!   that function with one argument: listed in `functions`, and raising the kind. A known
//!   name that really is a column (a table with a column `nextval`) is therefore judged as
//!   the call, too strict but never too lax. Names the table does not know are taken for
//!   columns and not listed, so that ordinary column names do not flood `functions`; this
//!   means a call of any other function written in attribute notation (`t.my_function`)
//!   does not appear in `functions`, and a policy that names such a function there can be
//!   bypassed this way. The first field of a `ColumnRef` is never a call (a bare name is a
//!   column or a whole row), and neither is a field being assigned (`UPDATE t SET c.f = 1`,
//!   `INSERT INTO t (c.f)`), which is not a `ColumnRef`.
//! - Statements nested below the root (`WITH d AS (DELETE ...)`, rule actions, `CREATE SCHEMA`
//!   elements, SQL-standard function bodies): their own kind, from [`crate::statements`].
//! - `LockingClause` (`FOR UPDATE`, `FOR SHARE`, ...): `Update`, row locks need UPDATE privilege.
//! - `OnConflictClause` with `DO UPDATE`: `Update`.
//! - `MergeWhenClause`: its action's kind (`THEN DELETE` is `Delete`, `THEN UPDATE` is
//!   `Update`, `THEN INSERT` is `Insert`, `DO NOTHING` nothing).
//! - `IntoClause` under a `SelectStmt` (`SELECT ... INTO t`): `Ddl`, it creates a table.
//! - `UpdateStmt` and `DeleteStmt` with nothing in `where_clause`, or a condition that holds
//!   for every row (`WHERE true`, `WHERE 1 = 1`, `WHERE id = id`, `WHERE x OR true`, see
//!   [`crate::fold`]): the statement changes every row of its table ([`Facts::all_rows`]),
//!   which policies may treat differently. A `MERGE` does too when one of its `UPDATE` or
//!   `DELETE` actions, with no `AND` condition of its own that could fail, reaches every
//!   target row: `WHEN MATCHED` with an `ON` that holds for every pair of rows (`ON true`),
//!   or `WHEN NOT MATCHED BY SOURCE` with an `ON` that holds for none (`ON false`).
//!
//! Constant folding rides on the same walk: each expression struct ([`takes_operands`])
//! receives the folded values of its operands as they are popped, and is folded in turn when
//! it is popped itself, bottom-up. Each folded value carries its [`Dependence`] on the values
//! of literals; where a folded condition decides `all_rows` (the `WHERE` of `UPDATE` and
//! `DELETE`, a `MERGE`'s `ON` and `AND` conditions) and its truth value depends on them
//! (`WHERE 1 = 1`, `WHERE x OR 'y'`), [`Facts::reads_literal_values`] is set, so that the
//! template cache never reuses the classification for other values (see [`crate::template`]).
//!
//! Depth is bounded before this runs: prost refuses to decode trees nested deeper than its
//! recursion limit, so the walk's own recursion cannot overflow the stack.

use std::collections::HashMap;
use std::fmt;

use gatehouse_core::SqlKind;
use pg_query::protobuf::{
    AExprKind, BoolExprType, BoolTestType, CmdType, MergeMatchKind, NullTestType, OnConflictAction,
};
use serde::ser::{self, Serialize};

use crate::facts::{Facts, render_name};
use crate::fold::{self, Dependence, Folded};
use crate::{functions, statements};

/// `(parent struct, field)` positions where a `RangeVar` is the relation being changed.
const WRITE_POSITIONS: &[(&str, &str)] = &[
    ("InsertStmt", "relation"),
    ("UpdateStmt", "relation"),
    ("DeleteStmt", "relation"),
    ("MergeStmt", "relation"),
    ("IntoClause", "rel"),
    ("CreateStmt", "relation"),
    ("IndexStmt", "relation"),
    ("AlterTableStmt", "relation"),
    ("RenameStmt", "relation"),
    ("AlterObjectSchemaStmt", "relation"),
    ("AlterOwnerStmt", "relation"),
    ("TruncateStmt", "relations"),
    ("RefreshMatViewStmt", "relation"),
    ("CreateTrigStmt", "relation"),
    ("RuleStmt", "relation"),
    ("CreatePolicyStmt", "table"),
    ("AlterPolicyStmt", "table"),
    ("ViewStmt", "view"),
    ("CreateSeqStmt", "sequence"),
    ("AlterSeqStmt", "sequence"),
    ("CompositeTypeStmt", "typevar"),
    ("PartitionCmd", "name"),
    ("GrantStmt", "objects"),
    ("LockStmt", "relations"),
    ("VacuumRelation", "relation"),
    ("ClusterStmt", "relation"),
    ("ReindexStmt", "relation"),
];

/// Positions whose `RangeVar` the caller accounts for itself (`COPY`'s table is read or written
/// depending on direction, see `classify::copy`).
const SKIPPED_POSITIONS: &[(&str, &str)] = &[("CopyStmt", "relation")];

/// Structs that open a query scope able to carry a `WITH` clause.
const SCOPES: &[&str] = &[
    "SelectStmt",
    "InsertStmt",
    "UpdateStmt",
    "DeleteStmt",
    "MergeStmt",
];

/// Walk `node` (a statement, or any part of one) and add what it finds to `facts`.
///
/// The outermost statement struct is the caller's business (it knows the statement type and
/// records its base kind); every statement nested below it records its own kind here.
/// Returns the name of the outermost struct, e.g. `"SelectStmt"`.
pub(crate) fn walk<T: Serialize + ?Sized>(node: &T, facts: &mut Facts) -> Option<&'static str> {
    let mut walker = Walker {
        frames: Vec::new(),
        next_scope: 0,
        root: None,
        candidates: Vec::new(),
        ctes: HashMap::new(),
        facts,
    };
    // The walker itself never fails; an error could only come from a Serialize impl, and then
    // whatever was collected so far is still reported.
    let _ = node.serialize(&mut walker);
    walker.resolve_reads();
    walker.root
}

/// One struct being walked.
struct Frame {
    name: &'static str,
    /// The field currently being walked.
    field: &'static str,
    /// Index of the element being walked, when `field` is a list.
    index: usize,
    /// Number of elements of the `args` field (for `FuncCall`).
    nargs: usize,
    /// Query scope id, for structs that can carry a `WITH`.
    scope: Option<usize>,
    /// Strings captured from this struct's fields: `(field, value)`.
    strings: Vec<(&'static str, String)>,
    /// Integers captured from this struct's fields (enum values such as `command_type`, an
    /// `Integer`'s value): `(field, value)`.
    numbers: Vec<(&'static str, i32)>,
    /// A boolean captured from this struct (`WithClause.recursive`, `A_Const.isnull`,
    /// `Boolean.boolval`).
    flag: bool,
    /// What is known of the values of this struct's operands, for the structs constant folding
    /// looks into ([`takes_operands`]): `(field, value, dependence on literals)`, in order.
    operands: Vec<(&'static str, Folded, Dependence)>,
}

/// Where a relation reference sits relative to one enclosing query scope: in its body, or in
/// its `WITH` list at the given position.
type ScopeStep = (usize, Option<usize>);

/// An unqualified relation read that may turn out to be a CTE reference.
struct Candidate {
    name: String,
    /// Enclosing scopes, innermost first.
    path: Vec<ScopeStep>,
}

/// The CTEs of one `WITH`: whether it is `RECURSIVE`, and each name with its first position.
type CteList = (bool, HashMap<String, usize>);

struct Walker<'f> {
    frames: Vec<Frame>,
    next_scope: usize,
    root: Option<&'static str>,
    candidates: Vec<Candidate>,
    ctes: HashMap<usize, CteList>,
    facts: &'f mut Facts,
}

impl Walker<'_> {
    fn top(&mut self) -> Option<&mut Frame> {
        self.frames.last_mut()
    }

    /// The nearest enclosing struct below the top that is not a `Node` wrapper.
    fn container_below_top(&mut self) -> Option<&mut Frame> {
        let below = self.frames.len().checked_sub(1)?;
        self.frames
            .get_mut(..below)?
            .iter_mut()
            .rev()
            .find(|frame| frame.name != "Node")
    }

    /// The nearest enclosing struct that is not a `Node` wrapper (the top frame has already
    /// been popped when this is called).
    fn container(&self) -> Option<(&'static str, &'static str)> {
        self.frames
            .iter()
            .rev()
            .find(|frame| frame.name != "Node")
            .map(|frame| (frame.name, frame.field))
    }

    fn push(&mut self, name: &'static str) {
        let scope = if SCOPES.contains(&name) {
            self.next_scope += 1;
            Some(self.next_scope)
        } else {
            None
        };
        if self.frames.is_empty() && self.root.is_none() {
            self.root = Some(name);
        } else if let Some((kind, reason)) = statements::nested_kind(name) {
            self.facts.effect(kind, reason);
        }
        self.frames.push(Frame {
            name,
            field: "",
            index: 0,
            nargs: 0,
            scope,
            strings: Vec::new(),
            numbers: Vec::new(),
            flag: false,
            operands: Vec::new(),
        });
    }

    fn pop(&mut self) {
        let Some(frame) = self.frames.pop() else {
            return;
        };
        self.report_operand(&frame);
        match frame.name {
            "RangeVar" => self.range_var(&frame),
            "FuncCall" => self.func_call(&frame),
            "LockingClause" => self.facts.effect(
                SqlKind::Update,
                Some(
                    "locks rows (SELECT ... FOR UPDATE/SHARE), which needs UPDATE privilege"
                        .to_owned(),
                ),
            ),
            "OnConflictClause"
                if number(&frame, "action") == Some(OnConflictAction::OnconflictUpdate as i32) =>
            {
                self.facts.effect(
                    SqlKind::Update,
                    Some("INSERT ... ON CONFLICT DO UPDATE updates existing rows".to_owned()),
                );
            }
            // no WHERE at all, or one that holds for every row
            "UpdateStmt" | "DeleteStmt" => {
                let condition = operand(&frame, "where_clause");
                if let Some((value, dependence)) = condition {
                    self.facts.reads_literal_values |= dependence.of_truth(value);
                }
                if condition.is_none_or(|(value, _)| fold::holds_for_every_row(value)) {
                    self.facts.all_rows = true;
                }
            }
            "MergeWhenClause" => {
                self.merge_action(number(&frame, "command_type"));
                self.merge_reach(&frame);
            }
            "IntoClause" if self.container() == Some(("SelectStmt", "into_clause")) => {
                self.facts.effect(
                    SqlKind::Ddl,
                    Some("SELECT ... INTO creates a new table".to_owned()),
                );
            }
            "CommonTableExpr" => {
                let name = captured(&frame, "ctename").next().map(str::to_owned);
                let with = self
                    .frames
                    .iter_mut()
                    .rev()
                    .find(|frame| frame.name != "Node");
                if let (Some(name), Some(with)) = (name, with) {
                    with.strings.push(("cte", name));
                }
            }
            "WithClause" => {
                let mut names = HashMap::new();
                for (index, name) in captured(&frame, "cte").enumerate() {
                    names.entry(name.to_owned()).or_insert(index);
                }
                if let Some(scope) = self.frames.last().and_then(|owner| owner.scope) {
                    self.ctes.insert(scope, (frame.flag, names));
                }
            }
            _ => {}
        }
    }

    fn range_var(&mut self, frame: &Frame) {
        let catalog = captured(frame, "catalogname").next().unwrap_or("");
        let schema = captured(frame, "schemaname").next().unwrap_or("");
        let Some(relname) = captured(frame, "relname").next() else {
            return;
        };
        let name = render_name([catalog, schema, relname]);
        let position = self.container();
        if position.is_some_and(|position| WRITE_POSITIONS.contains(&position)) {
            self.facts.writes.insert(name);
        } else if position.is_some_and(|position| SKIPPED_POSITIONS.contains(&position)) {
            // accounted for by the caller
        } else if !catalog.is_empty() || !schema.is_empty() {
            // a qualified name never refers to a CTE
            self.facts.reads.insert(name);
        } else {
            let path = self.scope_path();
            self.candidates.push(Candidate { name, path });
        }
    }

    /// The enclosing query scopes of the current position, innermost first.
    fn scope_path(&self) -> Vec<ScopeStep> {
        let mut path = Vec::new();
        for (depth, frame) in self.frames.iter().enumerate().rev() {
            let Some(scope) = frame.scope else {
                continue;
            };
            let cte_index = if frame.field == "with_clause" {
                self.frames
                    .get(depth + 1)
                    .filter(|with| with.name == "WithClause")
                    .map(|with| with.index)
            } else {
                None
            };
            path.push((scope, cte_index));
        }
        path
    }

    fn func_call(&mut self, frame: &Frame) {
        let parts: Vec<&str> = captured(frame, "funcname").collect();
        let name = render_name(parts.iter().copied());
        if let Some((kind, why)) = functions::lookup(&parts, frame.nargs) {
            self.facts
                .effect(kind, Some(format!("calls {name}, which {why}")));
        }
        self.facts.functions.insert(name);
    }

    fn merge_action(&mut self, command_type: Option<i32>) {
        let (kind, action) = match command_type.map(CmdType::try_from) {
            Some(Ok(CmdType::CmdInsert)) => (SqlKind::Insert, "INSERT"),
            Some(Ok(CmdType::CmdUpdate)) => (SqlKind::Update, "UPDATE"),
            Some(Ok(CmdType::CmdDelete)) => (SqlKind::Delete, "DELETE"),
            Some(Ok(CmdType::CmdNothing)) => return,
            _ => (SqlKind::Unknown, "unrecognised"),
        };
        self.facts.effect(
            kind,
            Some(format!("MERGE has a WHEN ... THEN {action} action")),
        );
    }

    /// Whether a `MERGE` action updates or deletes every row of the target: a `WHEN MATCHED`
    /// action when `ON` holds for every pair of rows, a `WHEN NOT MATCHED BY SOURCE` action
    /// when `ON` holds for none, in both cases with no `AND` condition of its own (or one that
    /// holds for every row).
    fn merge_reach(&mut self, clause: &Frame) {
        let changes = matches!(
            number(clause, "command_type").map(CmdType::try_from),
            Some(Ok(CmdType::CmdUpdate | CmdType::CmdDelete))
        );
        let condition = operand(clause, "condition");
        let unconditional = condition.is_none_or(|(value, _)| fold::holds_for_every_row(value));
        let Some(merge) = self.frames.iter().rev().find(|frame| frame.name != "Node") else {
            return;
        };
        let join = operand(merge, "join_condition").unwrap_or((&Folded::Unknown, Dependence::None));
        if changes
            && condition
                .into_iter()
                .chain([join])
                .any(|(value, dependence)| dependence.of_truth(value))
        {
            self.facts.reads_literal_values = true;
        }
        let join = join.0;
        let reaches_every_row = match number(clause, "match_kind").map(MergeMatchKind::try_from) {
            Some(Ok(MergeMatchKind::MergeWhenMatched)) => fold::holds_for_every_row(join),
            Some(Ok(MergeMatchKind::MergeWhenNotMatchedBySource)) => fold::holds_for_no_row(join),
            _ => false,
        };
        if merge.name == "MergeStmt" && changes && unconditional && reaches_every_row {
            self.facts.all_rows = true;
        }
    }

    /// Turn read candidates into reads, dropping those that name a CTE in scope.
    fn resolve_reads(&mut self) {
        for candidate in std::mem::take(&mut self.candidates) {
            if !self.is_cte_reference(&candidate) {
                self.facts.reads.insert(candidate.name);
            }
        }
    }

    fn is_cte_reference(&self, candidate: &Candidate) -> bool {
        for &(scope, cte_index) in &candidate.path {
            let Some((recursive, names)) = self.ctes.get(&scope) else {
                continue;
            };
            let Some(&position) = names.get(&candidate.name) else {
                continue;
            };
            match cte_index {
                // inside CTE number i of a plain WITH, only the CTEs before it are visible
                Some(index) if !*recursive && position >= index => {}
                _ => return true,
            }
        }
        false
    }

    fn string(&mut self, value: &str) {
        let Some(top) = self.frames.last_mut() else {
            return;
        };
        match (top.name, top.field) {
            ("RangeVar", field @ ("catalogname" | "schemaname" | "relname"))
            | ("CommonTableExpr", field @ "ctename")
                if !value.is_empty() =>
            {
                top.strings.push((field, value.to_owned()));
            }
            ("String", "sval") => self.name_part(value),
            _ => {}
        }
    }

    /// A `String` node, by where it sits: a part of a called function's name, or a field
    /// selected from a row or composite value, which may be a function call in attribute
    /// notation.
    fn name_part(&mut self, value: &str) {
        let Some(container) = self.container_below_top() else {
            return;
        };
        let (name, field, index) = (container.name, container.field, container.index);
        match (name, field) {
            ("FuncCall", "funcname") => container.strings.push(("funcname", value.to_owned())),
            // the first field of a column reference is a column or a relation, never a call
            ("ColumnRef", "fields") if index > 0 => self.attribute_notation(value),
            ("AIndirection", "indirection") => self.attribute_notation(value),
            _ => {}
        }
        // a constant, a column's name or an operator, for constant folding
        if takes_operands(name, field)
            && let Some(top) = self.top()
        {
            top.strings.push(("sval", value.to_owned()));
        }
    }

    /// Hand a popped struct's folded value, and its dependence on literals, to the struct it
    /// is an operand of, if that one folds its operands.
    fn report_operand(&mut self, frame: &Frame) {
        if frame.name == "Node" {
            return;
        }
        let Some(container) = self.frames.iter_mut().rev().find(|f| f.name != "Node") else {
            return;
        };
        if takes_operands(container.name, container.field) {
            let value = folded(frame);
            let dependence = dependence(frame, &value);
            container
                .operands
                .push((container.field, value, dependence));
        }
    }

    /// `x.name` or `(expr).name`: where no column `name` exists, PostgreSQL reads it as the
    /// call `name(x)`. Only names of functions [`crate::functions`] knows count as calls;
    /// any other name is taken for a column (see the module documentation).
    fn attribute_notation(&mut self, name: &str) {
        let Some((kind, why)) = functions::lookup(&[name], 1) else {
            return;
        };
        let listed = render_name([name]);
        self.facts.effect(
            kind,
            Some(format!(
                "calls {listed} in attribute notation (`x.{listed}` is `{listed}(x)`), which {why}"
            )),
        );
        self.facts.functions.insert(listed);
    }
}

/// Structs whose operands constant folding looks at, and in which fields: expressions, and
/// the conditions of `UPDATE`, `DELETE` and `MERGE`.
fn takes_operands(name: &str, field: &str) -> bool {
    matches!(
        (name, field),
        ("AConst", "val")
            | ("ColumnRef", "fields")
            | ("AExpr", "name" | "lexpr" | "rexpr")
            | ("BoolExpr", "args")
            | ("NullTest", "arg")
            | ("BooleanTest", "arg")
            | ("UpdateStmt" | "DeleteStmt", "where_clause")
            | ("MergeStmt", "join_condition")
            | ("MergeWhenClause", "condition")
    )
}

/// What is known of the value of the expression a popped struct is (see [`crate::fold`]).
fn folded(frame: &Frame) -> Folded {
    let operands = |field: &'static str| {
        frame
            .operands
            .iter()
            .filter(move |(key, _, _)| *key == field)
            .map(|(_, value, _)| value)
    };
    let single = |field| operands(field).next().unwrap_or(&Folded::Unknown);
    match frame.name {
        "AConst" if frame.flag => Folded::Null,
        "AConst" => single("val").clone(),
        "Integer" => {
            number(frame, "ival").map_or(Folded::Unknown, |value| Folded::Int(i64::from(value)))
        }
        "Boolean" => Folded::Bool(frame.flag),
        "String" => captured(frame, "sval")
            .next()
            .map_or(Folded::Unknown, |text| Folded::Text(text.to_owned())),
        "ColumnRef" => operands("fields")
            .map(|part| match part {
                Folded::Text(name) => Some(name.clone()),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .map_or(Folded::Unknown, Folded::Column),
        "AExpr" => {
            let name: Option<Vec<&str>> = operands("name")
                .map(|part| match part {
                    Folded::Text(part) => Some(part.as_str()),
                    _ => None,
                })
                .collect();
            let (left, right) = (single("lexpr"), single("rexpr"));
            match (number(frame, "kind").map(AExprKind::try_from), name) {
                (Some(Ok(AExprKind::AexprOp)), Some(name)) => fold::operator(&name, left, right),
                (Some(Ok(AExprKind::AexprDistinct)), _) => fold::distinctness(false, left, right),
                (Some(Ok(AExprKind::AexprNotDistinct)), _) => fold::distinctness(true, left, right),
                _ => Folded::Unknown,
            }
        }
        "BoolExpr" => match number(frame, "boolop").map(BoolExprType::try_from) {
            Some(Ok(operator)) => {
                let args: Vec<Folded> = operands("args").cloned().collect();
                fold::boolean(operator, &args)
            }
            _ => Folded::Unknown,
        },
        "NullTest" => match number(frame, "nulltesttype").map(NullTestType::try_from) {
            Some(Ok(NullTestType::IsNull)) => fold::null_test(true, single("arg")),
            Some(Ok(NullTestType::IsNotNull)) => fold::null_test(false, single("arg")),
            _ => Folded::Unknown,
        },
        "BooleanTest" => match number(frame, "booltesttype").map(BoolTestType::try_from) {
            Some(Ok(test)) => fold::boolean_test(test, single("arg")),
            _ => Folded::Unknown,
        },
        _ => Folded::Unknown,
    }
}

/// How the value [`folded`] gives a popped struct depends on the values of literals. Structs
/// it does not fold are unknown whatever their operands; `Integer`, `String` and `Boolean`
/// are the values inside an `A_Const`, names, or keywords.
fn dependence(frame: &Frame, value: &Folded) -> Dependence {
    let single = |field| operand(frame, field).unwrap_or((&Folded::Unknown, Dependence::None));
    match frame.name {
        // NULL, TRUE and FALSE are keywords; a number or string literal's class fixes its sort
        "AConst" if frame.flag || matches!(value, Folded::Bool(_)) => Dependence::None,
        "AConst" => Dependence::Value,
        "AExpr" => Dependence::of_comparison(single("lexpr"), single("rexpr")),
        "BoolExpr" => Dependence::of_truths(
            frame
                .operands
                .iter()
                .filter(|(key, _, _)| *key == "args")
                .map(|(_, value, dependence)| (value, *dependence)),
        ),
        "NullTest" => Dependence::of_null_test(single("arg").1),
        "BooleanTest" => Dependence::of_truths([single("arg")]),
        _ => Dependence::None,
    }
}

/// The integer a frame captured for `field`.
fn number(frame: &Frame, field: &str) -> Option<i32> {
    frame
        .numbers
        .iter()
        .find(|(key, _)| *key == field)
        .map(|(_, value)| *value)
}

/// The first operand a frame received in `field`, with its dependence on literals.
fn operand<'a>(frame: &'a Frame, field: &str) -> Option<(&'a Folded, Dependence)> {
    frame
        .operands
        .iter()
        .find(|(key, _, _)| *key == field)
        .map(|(_, value, dependence)| (value, *dependence))
}

/// The strings a frame captured for `field`, in order.
fn captured<'a>(frame: &'a Frame, field: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    frame
        .strings
        .iter()
        .filter(move |(key, _)| *key == field)
        .map(|(_, value)| value.as_str())
}

/// The walker's error: never produced by the walker itself.
#[derive(Debug)]
pub(crate) struct WalkError(String);

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WalkError {}

impl ser::Error for WalkError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        WalkError(msg.to_string())
    }
}

type Done = Result<(), WalkError>;

impl<'a, 'f> ser::Serializer for &'a mut Walker<'f> {
    type Ok = ();
    type Error = WalkError;
    type SerializeSeq = Compound<'a, 'f>;
    type SerializeTuple = Compound<'a, 'f>;
    type SerializeTupleStruct = Compound<'a, 'f>;
    type SerializeTupleVariant = Compound<'a, 'f>;
    type SerializeMap = Compound<'a, 'f>;
    type SerializeStruct = Compound<'a, 'f>;
    type SerializeStructVariant = Compound<'a, 'f>;

    fn serialize_bool(self, value: bool) -> Done {
        if let Some(top) = self.top()
            && matches!(
                (top.name, top.field),
                ("WithClause", "recursive") | ("AConst", "isnull") | ("Boolean", "boolval")
            )
        {
            top.flag = value;
        }
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Done {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Done {
        Ok(())
    }
    fn serialize_i32(self, value: i32) -> Done {
        if let Some(top) = self.top()
            && matches!(
                (top.name, top.field),
                ("OnConflictClause", "action")
                    | ("MergeWhenClause", "command_type" | "match_kind")
                    | ("AExpr", "kind")
                    | ("BoolExpr", "boolop")
                    | ("NullTest", "nulltesttype")
                    | ("BooleanTest", "booltesttype")
                    | ("Integer", "ival")
            )
        {
            let field = top.field;
            top.numbers.push((field, value));
        }
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Done {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Done {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Done {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Done {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Done {
        Ok(())
    }
    fn serialize_f32(self, _: f32) -> Done {
        Ok(())
    }
    fn serialize_f64(self, _: f64) -> Done {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Done {
        Ok(())
    }
    fn serialize_str(self, value: &str) -> Done {
        self.string(value);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Done {
        Ok(())
    }
    fn serialize_none(self) -> Done {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Done {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a, 'f>, WalkError> {
        Ok(Compound {
            walker: self,
            frame: false,
        })
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound<'a, 'f>, WalkError> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'f>, WalkError> {
        self.serialize_seq(None)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Compound<'a, 'f>, WalkError> {
        self.serialize_seq(None)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a, 'f>, WalkError> {
        self.serialize_seq(None)
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Compound<'a, 'f>, WalkError> {
        self.push(name);
        Ok(Compound {
            walker: self,
            frame: true,
        })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a, 'f>, WalkError> {
        self.serialize_struct(name, len)
    }
}

/// A struct, list or map being walked. Structs own a [`Frame`], popped at `end`.
pub(crate) struct Compound<'a, 'f> {
    walker: &'a mut Walker<'f>,
    frame: bool,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        value.serialize(&mut *self.walker)?;
        if let Some(top) = self.walker.top() {
            top.index += 1;
        }
        Ok(())
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Done {
        if let Some(top) = self.walker.top() {
            if top.field == "args" {
                top.nargs = top.index;
            }
            top.field = key;
            top.index = 0;
        }
        value.serialize(&mut *self.walker)
    }

    fn finish(self) -> Done {
        if self.frame {
            self.walker.pop();
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Done {
        key.serialize(&mut *self.walker)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Done {
        self.element(value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Done {
        self.field(key, value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = WalkError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Done {
        self.field(key, value)
    }
    fn end(self) -> Done {
        self.finish()
    }
}
