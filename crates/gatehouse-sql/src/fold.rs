//! Constant folding of conditions, just enough to see an `UPDATE`/`DELETE` whose `WHERE` (or a
//! `MERGE` whose `ON`) holds for every row, so that it counts as changing all rows like one
//! with no condition at all.
//!
//! The walk hands each expression node the values of its operands, bottom-up, and this module
//! says what the node's value is when it can be known from the text alone:
//!
//! - constants: `true`, `false`, `NULL`, integers, and string literals, which in a boolean
//!   position are read as PostgreSQL reads a boolean (`'t'`, `'yes'`, `'on'`, ...);
//! - comparisons of two constants of the same sort (`1 = 1`, `'a' = 'a'`, `2 > 1`; strings
//!   only for `=` and `<>`, their order depends on collation), with `NULL` making the result
//!   null;
//! - a column compared with itself (`id = id`, `id >= id`, `id IS NOT DISTINCT FROM id`):
//!   true. Strictly it is null where the column is null (except for `IS NOT DISTINCT FROM`),
//!   so it matches every row whose value is not null: all rows for a `NOT NULL` column, and
//!   treated as all rows whatever the column;
//! - `AND`, `OR`, `NOT` in three-valued logic (`x OR true` is true whatever `x` is), `IS
//!   [NOT] NULL` of a constant, `IS [NOT] TRUE/FALSE/UNKNOWN` of a known truth value.
//!
//! Everything else is unknown, and an unknown condition never counts as all rows: the folding
//! is sound (what it calls true is true, short of the column-with-itself rule above), not
//! complete. Casts (`'t'::boolean`), functions (`coalesce(true)`), subqueries (`EXISTS
//! (SELECT 1)`), `IN` lists, `BETWEEN`, arithmetic (`1 + 1 = 2`), tautologies over columns
//! (`x IS NULL OR x IS NOT NULL`, `x = 1 OR x <> 1`) and predicates that merely happen to
//! match every row of the data (`id > 0`) are not seen. No static test can catch every condition
//! that selects all rows; a cap on the rows a statement may change, enforced while it runs, is
//! the complete answer and a separate piece of work.
//!
//! Each folded value also carries its [`Dependence`] on the values of the number and string
//! literals that went into it. The template cache reuses a classification for other literal
//! values only where no decision read a value that depends on them (see [`crate::template`]):
//! a literal's class fixes its sort (an integer literal always folds to an integer, a string
//! literal to text), so `id = 5` is unknown for any value, but `1 = 1` is true and `1 = 2`
//! false, and `x = 1 OR 'n'` is unknown where `x = 1 OR 'y'` is true.

use pg_query::protobuf::{BoolExprType, BoolTestType};

/// What is known of an expression's value from the statement text alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Folded {
    /// Not a constant this module can fold.
    Unknown,
    Null,
    Bool(bool),
    Int(i64),
    /// A string literal, whose type is decided by where it is used.
    Text(String),
    /// A plain column reference, by its name parts, to see a column compared with itself.
    Column(Vec<String>),
}

/// How a folded value depends on the values of the literals that went into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dependence {
    /// Not at all.
    None,
    /// Its sort (integer, text, boolean, unknown, ...) is the same for any values; what it
    /// holds is not: a literal, or a comparison of two values of one sort.
    Value,
    /// Even its sort may change: `Bool` for some values, `Null` or `Unknown` for others.
    Sort,
}

impl Dependence {
    /// Whether the truth value of `value`, which depends on literals this way, may change with
    /// their values: what [`holds_for_every_row`] and [`holds_for_no_row`] decide on.
    pub(crate) fn of_truth(self, value: &Folded) -> bool {
        match self {
            Dependence::None => false,
            Dependence::Value => matches!(value, Folded::Bool(_) | Folded::Text(_)),
            Dependence::Sort => true,
        }
    }

    /// Of [`operator`] or [`distinctness`] over two operands: they read what two values of
    /// one sort hold, and otherwise decide by the operands' sorts alone.
    pub(crate) fn of_comparison(left: (&Folded, Self), right: (&Folded, Self)) -> Self {
        match (left.1, right.1) {
            (Dependence::None, Dependence::None) => Dependence::None,
            (Dependence::Sort, _) | (_, Dependence::Sort) => Dependence::Sort,
            _ => match (left.0, right.0) {
                (Folded::Int(_), Folded::Int(_))
                | (Folded::Bool(_), Folded::Bool(_))
                | (Folded::Text(_), Folded::Text(_)) => Dependence::Value,
                _ => Dependence::None,
            },
        }
    }

    /// Of [`boolean`] and [`boolean_test`], which read their arguments' truth values.
    pub(crate) fn of_truths<'a>(args: impl IntoIterator<Item = (&'a Folded, Self)>) -> Self {
        if args
            .into_iter()
            .any(|(value, dependence)| dependence.of_truth(value))
        {
            Dependence::Sort
        } else {
            Dependence::None
        }
    }

    /// Of [`null_test`], which reads its argument's sort only.
    pub(crate) fn of_null_test(arg: Self) -> Self {
        match arg {
            Dependence::Sort => Dependence::Sort,
            Dependence::None | Dependence::Value => Dependence::None,
        }
    }
}

/// A condition that holds for every row (true, never false or null).
pub(crate) fn holds_for_every_row(condition: &Folded) -> bool {
    truth(condition) == Some(Some(true))
}

/// A condition that holds for no row (false or null).
pub(crate) fn holds_for_no_row(condition: &Folded) -> bool {
    matches!(truth(condition), Some(Some(false) | None))
}

/// A binary operator applied to two folded operands. `operator` is the operator's name as
/// the parser produced it, possibly qualified (`OPERATOR(pg_catalog.=)`); an operator from
/// any schema but `pg_catalog` is not folded.
pub(crate) fn operator(operator: &[&str], left: &Folded, right: &Folded) -> Folded {
    let (symbol, schema) = match operator {
        [symbol] => (*symbol, None),
        [schema, symbol] => (*symbol, Some(*schema)),
        _ => return Folded::Unknown,
    };
    if schema.is_some_and(|schema| schema != "pg_catalog") {
        return Folded::Unknown;
    }
    let Some(comparison) = Comparison::of(symbol) else {
        return Folded::Unknown;
    };
    match (left, right) {
        (Folded::Null, _) | (_, Folded::Null) => Folded::Null,
        (Folded::Column(a), Folded::Column(b)) if a == b => Folded::Bool(comparison.reflexive()),
        (Folded::Int(a), Folded::Int(b)) => Folded::Bool(comparison.holds(a.cmp(b))),
        (Folded::Bool(a), Folded::Bool(b)) => comparison.equality(a == b),
        (Folded::Text(a), Folded::Text(b)) => comparison.equality(a == b),
        _ => Folded::Unknown,
    }
}

/// `left IS DISTINCT FROM right` (`not_distinct` false) or `IS NOT DISTINCT FROM` (true),
/// which treat null as a value.
pub(crate) fn distinctness(not_distinct: bool, left: &Folded, right: &Folded) -> Folded {
    let same = match (left, right) {
        (Folded::Column(a), Folded::Column(b)) if a == b => true,
        (Folded::Null, Folded::Null) => true,
        (Folded::Null, Folded::Bool(_) | Folded::Int(_) | Folded::Text(_))
        | (Folded::Bool(_) | Folded::Int(_) | Folded::Text(_), Folded::Null) => false,
        (Folded::Bool(a), Folded::Bool(b)) => a == b,
        (Folded::Int(a), Folded::Int(b)) => a == b,
        (Folded::Text(a), Folded::Text(b)) => a == b,
        _ => return Folded::Unknown,
    };
    Folded::Bool(same == not_distinct)
}

/// `AND`, `OR` or `NOT` over folded arguments, in SQL's three-valued logic.
pub(crate) fn boolean(operator: BoolExprType, args: &[Folded]) -> Folded {
    let truths: Vec<Option<Option<bool>>> = args.iter().map(truth).collect();
    let all_known = || truths.iter().all(Option::is_some);
    let any_null = || truths.contains(&Some(None));
    match operator {
        BoolExprType::AndExpr if truths.contains(&Some(Some(false))) => Folded::Bool(false),
        BoolExprType::OrExpr if truths.contains(&Some(Some(true))) => Folded::Bool(true),
        BoolExprType::AndExpr | BoolExprType::OrExpr if all_known() => {
            if any_null() {
                Folded::Null
            } else {
                // no false in an AND, no true in an OR
                Folded::Bool(operator == BoolExprType::AndExpr)
            }
        }
        BoolExprType::NotExpr => match truths.as_slice() {
            [Some(Some(value))] => Folded::Bool(!value),
            [Some(None)] => Folded::Null,
            _ => Folded::Unknown,
        },
        _ => Folded::Unknown,
    }
}

/// `arg IS NULL` (`is_null` true) or `arg IS NOT NULL`.
pub(crate) fn null_test(is_null: bool, arg: &Folded) -> Folded {
    match arg {
        Folded::Null => Folded::Bool(is_null),
        Folded::Bool(_) | Folded::Int(_) | Folded::Text(_) => Folded::Bool(!is_null),
        Folded::Unknown | Folded::Column(_) => Folded::Unknown,
    }
}

/// `arg IS [NOT] TRUE`, `IS [NOT] FALSE`, `IS [NOT] UNKNOWN`.
pub(crate) fn boolean_test(test: BoolTestType, arg: &Folded) -> Folded {
    let Some(value) = truth(arg) else {
        return Folded::Unknown;
    };
    let result = match test {
        BoolTestType::IsTrue => value == Some(true),
        BoolTestType::IsNotTrue => value != Some(true),
        BoolTestType::IsFalse => value == Some(false),
        BoolTestType::IsNotFalse => value != Some(false),
        BoolTestType::IsUnknown => value.is_none(),
        BoolTestType::IsNotUnknown => value.is_some(),
        BoolTestType::Undefined => return Folded::Unknown,
    };
    Folded::Bool(result)
}

/// The truth value of a folded expression in a boolean position: `Some(Some(b))` true or
/// false, `Some(None)` null, `None` unknown.
fn truth(value: &Folded) -> Option<Option<bool>> {
    match value {
        Folded::Bool(value) => Some(Some(*value)),
        Folded::Null => Some(None),
        Folded::Text(text) => text_truth(text).map(Some),
        Folded::Unknown | Folded::Int(_) | Folded::Column(_) => None,
    }
}

/// A string literal read as a boolean the way PostgreSQL reads one: surrounding whitespace
/// ignored, any case, `true`/`false`/`yes`/`no` and their prefixes, `on`, `off` (or `of`),
/// `1`, `0`. `None` for text that is not a boolean (the statement would fail).
fn text_truth(text: &str) -> Option<bool> {
    let text = text.trim().to_ascii_lowercase();
    let prefix_of = |word: &str| !text.is_empty() && word.starts_with(text.as_str());
    match text.as_str() {
        "1" | "on" => Some(true),
        "0" | "of" | "off" => Some(false),
        _ if text.starts_with('o') => None,
        _ if prefix_of("true") || prefix_of("yes") => Some(true),
        _ if prefix_of("false") || prefix_of("no") => Some(false),
        _ => None,
    }
}

/// A comparison operator, as far as folding goes.
#[derive(Clone, Copy)]
enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    fn of(symbol: &str) -> Option<Self> {
        Some(match symbol {
            "=" => Comparison::Equal,
            // the lexer turns `!=` into `<>`
            "<>" => Comparison::NotEqual,
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            ">" => Comparison::Greater,
            ">=" => Comparison::GreaterOrEqual,
            _ => return None,
        })
    }

    fn holds(self, order: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Comparison::Equal => order == Equal,
            Comparison::NotEqual => order != Equal,
            Comparison::Less => order == Less,
            Comparison::LessOrEqual => order != Greater,
            Comparison::Greater => order == Greater,
            Comparison::GreaterOrEqual => order != Less,
        }
    }

    /// The comparison of a value with itself.
    fn reflexive(self) -> bool {
        self.holds(std::cmp::Ordering::Equal)
    }

    /// The comparison of two values known only to be equal or not: `=` and `<>` fold.
    fn equality(self, equal: bool) -> Folded {
        match self {
            Comparison::Equal => Folded::Bool(equal),
            Comparison::NotEqual => Folded::Bool(!equal),
            _ => Folded::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn strings_read_as_booleans_like_postgresql() {
        for text in ["t", "TRUE", " yes ", "y", "on", "1", "tr"] {
            assert_eq!(text_truth(text), Some(true), "{text:?}");
        }
        for text in ["f", "false", "n", "no", "off", "of", "0"] {
            assert_eq!(text_truth(text), Some(false), "{text:?}");
        }
        for text in ["", "o", "onn", "truth", "2", "x"] {
            assert_eq!(text_truth(text), None, "{text:?}");
        }
    }

    #[test]
    fn three_valued_logic() {
        use BoolExprType::{AndExpr, NotExpr, OrExpr};
        let t = Folded::Bool(true);
        let f = Folded::Bool(false);
        let u = Folded::Unknown;
        assert_eq!(boolean(OrExpr, &[u.clone(), t.clone()]), t);
        assert_eq!(boolean(AndExpr, &[u.clone(), f.clone()]), f);
        assert_eq!(boolean(AndExpr, &[u.clone(), t.clone()]), u);
        assert_eq!(boolean(AndExpr, &[Folded::Null, t.clone()]), Folded::Null);
        assert_eq!(boolean(OrExpr, &[Folded::Null, f.clone()]), Folded::Null);
        assert_eq!(boolean(NotExpr, &[f]), t);
        assert_eq!(boolean(NotExpr, &[Folded::Null]), Folded::Null);
    }

    #[test]
    fn operators_outside_pg_catalog_are_not_folded() {
        let one = Folded::Int(1);
        assert_eq!(operator(&["="], &one, &one), Folded::Bool(true));
        assert_eq!(
            operator(&["pg_catalog", "="], &one, &one),
            Folded::Bool(true)
        );
        assert_eq!(operator(&["trap", "="], &one, &one), Folded::Unknown);
        assert_eq!(operator(&["~~"], &one, &one), Folded::Unknown);
    }

    #[test]
    fn dependence_follows_what_is_read() {
        use Dependence::{None, Sort, Value};
        let (int, text, column) = (
            Folded::Int(1),
            Folded::Text("y".into()),
            Folded::Column(vec!["x".into()]),
        );
        // `x = 5`: unknown whatever the value
        assert_eq!(
            Dependence::of_comparison((&column, None), (&int, Value)),
            None
        );
        // `1 = 1`
        assert_eq!(
            Dependence::of_comparison((&int, Value), (&int, Value)),
            Value
        );
        assert!(Value.of_truth(&Folded::Bool(true)));
        // `NULL = 1`
        assert_eq!(
            Dependence::of_comparison((&Folded::Null, None), (&int, Value)),
            None
        );
        assert!(!Value.of_truth(&int));
        // `x OR 'y'`
        assert_eq!(
            Dependence::of_truths([(&Folded::Unknown, None), (&text, Value)]),
            Sort
        );
        assert_eq!(Dependence::of_truths([(&int, Value)]), None);
        assert_eq!(Dependence::of_null_test(Value), None);
        assert_eq!(Dependence::of_null_test(Sort), Sort);
    }
}
