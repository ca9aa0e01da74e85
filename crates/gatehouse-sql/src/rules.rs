//! Rewrite rules as the side effects they are. `CREATE RULE ... AS ON INSERT TO t DO ALSO
//! DELETE FROM u` makes every `INSERT INTO t` also delete from `u`, and nothing in the INSERT's
//! text says so: a writer whose DELETEs need approval would delete without one. An adapter that
//! knows a table's rules (from the catalog: `pg_get_ruledef`) reads each definition here into
//! what its actions do, and raises a statement that fires the rule to that.

use gatehouse_core::{SqlKind, SqlStatement};
use pg_query::NodeEnum;
use pg_query::protobuf::CmdType;

use crate::classify::analyze;
use crate::facts::Facts;
use crate::walk::walk;

/// What one rewrite rule does when it fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEffect {
    /// The rule's name.
    pub name: String,
    /// The command that fires it: `Insert`, `Update`, `Delete` (or `Select` for a view's
    /// `ON SELECT` rule, which never changes anything).
    pub event: SqlKind,
    /// Its actions (and its condition) classified as one statement: the strongest kind of
    /// all of them, every relation they read and write, every function they call.
    pub actions: SqlStatement,
}

/// Read a rule definition as `pg_get_ruledef` prints it. `None` when it is not a single
/// `CREATE RULE` (the caller should then treat the table as one whose writes it cannot see).
pub fn rule_effect(definition: &str) -> Option<RuleEffect> {
    let parsed = std::panic::catch_unwind(|| pg_query::parse(definition, 0))
        .ok()?
        .ok()?;
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return None;
    };
    let Some(NodeEnum::RuleStmt(rule)) = raw.stmt.as_ref()?.node.as_ref() else {
        return None;
    };
    let event = match CmdType::try_from(rule.event).ok()? {
        CmdType::CmdInsert => SqlKind::Insert,
        CmdType::CmdUpdate => SqlKind::Update,
        CmdType::CmdDelete => SqlKind::Delete,
        CmdType::CmdSelect => SqlKind::Select,
        _ => return None,
    };
    let mut facts = Facts::default();
    for action in &rule.actions {
        if let Some(node) = action.node.as_ref() {
            let analysed = analyze(node).facts;
            facts.reads.extend(analysed.reads);
            facts.writes.extend(analysed.writes);
            facts.functions.extend(analysed.functions);
            facts.effects.extend(analysed.effects);
            facts.all_rows |= analysed.all_rows;
        }
    }
    if let Some(condition) = rule.where_clause.as_deref() {
        walk(condition, &mut facts);
    }
    if facts.effects.is_empty() {
        // DO NOTHING (or DO INSTEAD NOTHING): the rule only discards the command.
        facts.effect(SqlKind::Select, None);
    }
    let (kind, reason) = facts.verdict();
    Some(RuleEffect {
        name: rule.rulename.clone(),
        event,
        actions: SqlStatement {
            text: definition.to_owned(),
            kind,
            reads: facts.reads.into_iter().collect(),
            writes: facts.writes.into_iter().collect(),
            functions: facts.functions.into_iter().collect(),
            fingerprint: String::new(),
            reason,
            all_rows: facts.all_rows,
            context: None,
            lineage: None,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_rule_reads_as_what_its_actions_do() {
        let rule = rule_effect(
            "CREATE RULE purge AS ON INSERT TO public.ruled DO ALSO DELETE FROM canary WHERE (canary.id = new.id);",
        )
        .unwrap();
        assert_eq!(rule.name, "purge");
        assert_eq!(rule.event, SqlKind::Insert);
        assert_eq!(rule.actions.kind, SqlKind::Delete);
        assert_eq!(rule.actions.writes, ["canary"]);
    }

    #[test]
    fn several_actions_and_a_condition_count() {
        let rule = rule_effect(
            "CREATE RULE r AS ON UPDATE TO t WHERE (pg_read_file('x') IS NOT NULL) DO INSTEAD (INSERT INTO log VALUES (1); UPDATE u SET a = 1;);",
        )
        .unwrap();
        assert_eq!(rule.event, SqlKind::Update);
        assert_eq!(rule.actions.kind, SqlKind::Admin, "{:?}", rule.actions);
        assert_eq!(rule.actions.writes, ["log", "u"]);
    }

    #[test]
    fn do_nothing_changes_nothing_and_other_text_is_not_a_rule() {
        let rule = rule_effect("CREATE RULE quiet AS ON DELETE TO t DO INSTEAD NOTHING;").unwrap();
        assert_eq!(rule.event, SqlKind::Delete);
        assert_eq!(rule.actions.kind, SqlKind::Select);
        assert!(rule_effect("SELECT 1").is_none());
        assert!(rule_effect("CREATE RULE a AS ON INSERT TO t DO NOTHING; SELECT 1").is_none());
        assert!(rule_effect("not sql").is_none());
    }
}
