//! The target's rewrite rules, so that a write is decided as everything it does. A rule
//! (`CREATE RULE ... AS ON INSERT TO ruled DO ALSO DELETE FROM canary`) runs its actions with
//! the rule owner's rights whenever its table is written, whatever login the session has, and
//! nothing in the writing statement's text shows it. `gatehouse serve` reads each connection's
//! rules from the catalog (and again every little while) into a [`RuleBook`]; a statement that
//! writes a table with rules then takes the strongest kind of their actions, and lists what
//! they read, write and call.
//!
//! Names are matched conservatively: a written relation named `t` (unqualified) takes the
//! rules of a `t` in any schema. Rules whose actions write tables with rules of their own are
//! followed to a bounded depth; deeper than that, the statement is `sql:unknown`.

use gatehouse_core::{SqlKind, SqlStatement};
use gatehouse_sql::RuleEffect;
use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

/// How many rules deep a write is followed.
const MAX_DEPTH: usize = 8;

/// The rules of one connection's database, by relation name (`schema.table` and `table`).
/// Until they have been read once, every write is `sql:unknown` (fail closed): a rule could
/// make it anything.
#[derive(Debug, Default)]
pub struct RuleBook {
    /// `None` until the rules were read once.
    by_relation: RwLock<Option<HashMap<String, Vec<RuleEffect>>>>,
}

impl RuleBook {
    /// Whether the rules have been read at least once.
    pub fn is_loaded(&self) -> bool {
        self.by_relation
            .read()
            .map(|known| known.is_some())
            .unwrap_or(false)
    }

    /// Replace what is known with the rules read now: `(schema, table, rule)` each.
    pub fn replace(&self, rules: Vec<(String, String, RuleEffect)>) {
        let mut by_relation: HashMap<String, Vec<RuleEffect>> = HashMap::new();
        for (schema, table, rule) in rules {
            if rule.event == SqlKind::Select {
                // A view's ON SELECT rule is the view; it changes nothing.
                continue;
            }
            by_relation
                .entry(format!("{schema}.{table}"))
                .or_default()
                .push(rule.clone());
            by_relation.entry(table).or_default().push(rule);
        }
        if let Ok(mut known) = self.by_relation.write() {
            *known = Some(by_relation);
        }
    }

    /// Raise `statement` to what the rules its writes fire do.
    pub(crate) fn apply(&self, statement: &mut SqlStatement) {
        if statement.writes.is_empty() {
            return;
        }
        let Ok(guard) = self.by_relation.read() else {
            return;
        };
        let Some(known) = guard.as_ref() else {
            statement.kind = SqlKind::Unknown;
            statement.reason = Some(
                "writes tables whose rewrite rules gatehouse has not been able to read yet (a rule could make the write anything); try again in a moment"
                    .to_owned(),
            );
            return;
        };
        if known.is_empty() {
            return;
        }
        let mut visited: BTreeSet<String> = BTreeSet::new();
        let mut frontier: Vec<String> = statement.writes.clone();
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for relation in frontier {
                if !visited.insert(relation.clone()) {
                    continue;
                }
                for rule in rules_of(known, &relation) {
                    raise(statement, rule, &relation);
                    next.extend(rule.actions.writes.iter().cloned());
                }
            }
            if next.is_empty() {
                return;
            }
            frontier = next;
        }
        statement.kind = SqlKind::Unknown;
        statement.reason = Some(format!(
            "writes tables whose rewrite rules write tables with rules of their own, more than {MAX_DEPTH} deep"
        ));
    }
}

/// The rules of `relation` as a statement names it: by its full name, and by its table name.
fn rules_of<'k>(
    known: &'k HashMap<String, Vec<RuleEffect>>,
    relation: &str,
) -> Vec<&'k RuleEffect> {
    let table = relation.rsplit('.').next().unwrap_or(relation);
    let mut found: Vec<&RuleEffect> = known.get(relation).into_iter().flatten().collect();
    if table != relation {
        found.extend(known.get(table).into_iter().flatten());
    }
    found
}

fn raise(statement: &mut SqlStatement, rule: &RuleEffect, relation: &str) {
    let actions = &rule.actions;
    for (list, more) in [
        (&mut statement.reads, &actions.reads),
        (&mut statement.writes, &actions.writes),
        (&mut statement.functions, &actions.functions),
    ] {
        for item in more {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
        list.sort();
    }
    statement.all_rows |= actions.all_rows;
    if actions.kind.severity() > statement.kind.severity() {
        statement.kind = actions.kind;
        statement.reason = Some(format!(
            "writes `{relation}`, whose rule `{}` also runs a `{}` statement{}",
            rule.name,
            actions.kind.action_name(),
            actions
                .reason
                .as_deref()
                .map(|why| format!(" ({why})"))
                .unwrap_or_default()
        ));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn statement(sql: &str) -> SqlStatement {
        gatehouse_sql::classify(sql).remove(0).statement
    }

    fn book(rules: &[(&str, &str, &str)]) -> RuleBook {
        let book = RuleBook::default();
        book.replace(
            rules
                .iter()
                .map(|(schema, table, definition)| {
                    (
                        (*schema).to_owned(),
                        (*table).to_owned(),
                        gatehouse_sql::rule_effect(definition).unwrap(),
                    )
                })
                .collect(),
        );
        book
    }

    #[test]
    fn a_write_takes_what_its_rules_do() {
        let book = book(&[(
            "public",
            "ruled",
            "CREATE RULE purge AS ON INSERT TO public.ruled DO ALSO DELETE FROM canary;",
        )]);
        for sql in [
            "INSERT INTO ruled VALUES (1)",
            "INSERT INTO public.ruled VALUES (1)",
        ] {
            let mut insert = statement(sql);
            book.apply(&mut insert);
            assert_eq!(insert.kind, SqlKind::Delete, "{sql}");
            assert!(insert.writes.contains(&"canary".to_owned()));
            assert!(insert.reason.unwrap().contains("rule `purge`"));
        }
        let mut elsewhere = statement("INSERT INTO other VALUES (1)");
        book.apply(&mut elsewhere);
        assert_eq!(elsewhere.kind, SqlKind::Insert);
        let mut read = statement("SELECT * FROM ruled");
        book.apply(&mut read);
        assert_eq!(read.kind, SqlKind::Select);
    }

    #[test]
    fn writes_are_unknown_until_the_rules_were_read() {
        let book = RuleBook::default();
        let mut insert = statement("INSERT INTO t VALUES (1)");
        book.apply(&mut insert);
        assert_eq!(insert.kind, SqlKind::Unknown);
        book.replace(Vec::new());
        let mut insert = statement("INSERT INTO t VALUES (1)");
        book.apply(&mut insert);
        assert_eq!(insert.kind, SqlKind::Insert);
    }

    #[test]
    fn rules_of_rules_are_followed_and_cycles_end() {
        let book = book(&[
            (
                "public",
                "a",
                "CREATE RULE ab AS ON INSERT TO a DO ALSO INSERT INTO b VALUES (1);",
            ),
            (
                "public",
                "b",
                "CREATE RULE bc AS ON INSERT TO b DO ALSO DELETE FROM c;",
            ),
            (
                "public",
                "x",
                "CREATE RULE xy AS ON INSERT TO x DO ALSO INSERT INTO y VALUES (1);",
            ),
            (
                "public",
                "y",
                "CREATE RULE yx AS ON INSERT TO y DO ALSO INSERT INTO x VALUES (1);",
            ),
        ]);
        let mut chained = statement("INSERT INTO a VALUES (1)");
        book.apply(&mut chained);
        assert_eq!(chained.kind, SqlKind::Delete);
        let mut cycle = statement("INSERT INTO x VALUES (1)");
        book.apply(&mut cycle);
        assert_eq!(
            cycle.kind,
            SqlKind::Insert,
            "a cycle visits each table once"
        );
    }
}
