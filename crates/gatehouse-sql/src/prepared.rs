//! Per-session tracking of SQL-level prepared statements, so that `EXECUTE p` is judged by what
//! `p` was prepared as rather than waved through or refused blindly.
//!
//! `PREPARE p AS DELETE FROM t` is classified as the `DELETE` it prepares; a later `EXECUTE p`
//! on its own says nothing, so the session keeps a map from name to the prepared statement's
//! classification and [`PreparedStatements::resolve`] substitutes it.
//!
//! The map errs towards the stronger classification:
//! - PostgreSQL refuses to `PREPARE` a name that already exists, so a second `PREPARE p` while
//!   `p` is recorded cannot replace the server's `p`. It is merged with the recorded one instead
//!   (stronger kind, union of relations and functions), so it can never downgrade it.
//! - `DEALLOCATE p`, `DEALLOCATE ALL` and `DISCARD ALL` forget; an `EXECUTE` of a name the map
//!   does not hold is `Unknown`.
//!
//! Names share a namespace with protocol-level (extended query) prepared statements; those are
//! not seen here, which again only makes `EXECUTE` of such a name `Unknown`.

use std::collections::HashMap;

use gatehouse_core::{SqlKind, SqlStatement};

use crate::{ClassifiedStatement, PreparedOp, functions};

/// Per-session tracker of SQL-level `PREPARE` / `EXECUTE` / `DEALLOCATE`.
#[derive(Debug, Default, Clone)]
pub struct PreparedStatements {
    prepared: HashMap<String, SqlStatement>,
}

impl PreparedStatements {
    /// Walk `statements` in order, updating the session's prepared statements, and return the
    /// resolved statements, one per input, in the same order.
    ///
    /// - `PREPARE p AS ...` records `p` as the inner statement's classification (the statement
    ///   itself is returned unchanged).
    /// - `EXECUTE p` returns a statement with the `EXECUTE` text and fingerprint, but the
    ///   kind, reads, writes and functions of the prepared one, with reason
    ///   ``executes prepared statement `p` ``. Functions called in its parameters are added,
    ///   and raise the kind if they are stronger. An `EXECUTE` of a name not recorded is
    ///   `Unknown`, with reason
    ///   ``executes prepared statement `p`, which gatehouse has not seen prepared``.
    /// - `DEALLOCATE p` forgets `p`; `DEALLOCATE ALL` and `DISCARD ALL` forget all.
    pub fn resolve(&mut self, statements: &[ClassifiedStatement]) -> Vec<SqlStatement> {
        statements
            .iter()
            .map(|classified| self.resolve_one(classified))
            .collect()
    }

    /// Whether a statement named `name` is recorded.
    pub fn contains(&self, name: &str) -> bool {
        self.prepared.contains_key(name)
    }

    /// Number of recorded prepared statements.
    pub fn len(&self) -> usize {
        self.prepared.len()
    }

    /// Whether no prepared statement is recorded.
    pub fn is_empty(&self) -> bool {
        self.prepared.is_empty()
    }

    fn resolve_one(&mut self, classified: &ClassifiedStatement) -> SqlStatement {
        let statement = &classified.statement;
        match &classified.prepared {
            None | Some(PreparedOp::DeclareCursor { .. } | PreparedOp::UsesCursor { .. }) => {
                statement.clone()
            }
            Some(PreparedOp::Prepare { name }) => {
                let recorded = match self.prepared.remove(name) {
                    Some(existing) => merge(existing, statement),
                    None => statement.clone(),
                };
                self.prepared.insert(name.clone(), recorded);
                statement.clone()
            }
            Some(PreparedOp::Deallocate { name: Some(name) }) => {
                self.prepared.remove(name);
                statement.clone()
            }
            Some(PreparedOp::Deallocate { name: None }) => {
                self.prepared.clear();
                statement.clone()
            }
            Some(PreparedOp::Execute { name }) => match self.prepared.get(name) {
                Some(prepared) => executed(statement, prepared, name),
                None => SqlStatement {
                    kind: SqlKind::Unknown,
                    reason: Some(format!(
                        "executes prepared statement `{name}`, which gatehouse has not seen prepared"
                    )),
                    ..statement.clone()
                },
            },
        }
    }
}

/// The `EXECUTE` statement judged as the statement it executes.
fn executed(execute: &SqlStatement, prepared: &SqlStatement, name: &str) -> SqlStatement {
    let mut resolved = SqlStatement {
        text: execute.text.clone(),
        kind: prepared.kind,
        reads: union(&prepared.reads, &execute.reads),
        writes: union(&prepared.writes, &execute.writes),
        functions: union(&prepared.functions, &execute.functions),
        fingerprint: execute.fingerprint.clone(),
        reason: Some(format!("executes prepared statement `{name}`")),
        all_rows: prepared.all_rows,
    };
    // The EXECUTE's own kind is Unknown by construction; what its parameters do is in the
    // functions they call.
    for function in &execute.functions {
        if let Some((kind, why)) = functions::lookup_listed(function)
            && kind.severity() > resolved.kind.severity()
        {
            resolved.kind = kind;
            resolved.reason = Some(format!(
                "executes prepared statement `{name}` with a parameter that calls {function}, which {why}"
            ));
        }
    }
    resolved
}

/// Two classifications recorded under one name: the stronger kind, everything either lists.
fn merge(existing: SqlStatement, new: &SqlStatement) -> SqlStatement {
    let (kind, reason) = if new.kind.severity() > existing.kind.severity() {
        (new.kind, new.reason.clone())
    } else {
        (existing.kind, existing.reason.clone())
    };
    SqlStatement {
        kind,
        reason,
        reads: union(&existing.reads, &new.reads),
        writes: union(&existing.writes, &new.writes),
        functions: union(&existing.functions, &new.functions),
        all_rows: existing.all_rows || new.all_rows,
        ..existing
    }
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut all: Vec<String> = a.iter().chain(b).cloned().collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::classify;

    #[test]
    fn execute_takes_the_prepared_classification() {
        let mut session = PreparedStatements::default();
        let resolved = session.resolve(&classify("PREPARE p AS DELETE FROM t; EXECUTE p"));
        assert_eq!(resolved[0].kind, SqlKind::Delete);
        assert_eq!(resolved[1].kind, SqlKind::Delete);
        assert_eq!(resolved[1].text, "EXECUTE p");
        assert_eq!(resolved[1].writes, vec!["t"]);
        assert_eq!(
            resolved[1].reason.as_deref(),
            Some("executes prepared statement `p`")
        );
        assert!(session.contains("p"));
    }

    #[test]
    fn a_failing_second_prepare_cannot_downgrade() {
        let mut session = PreparedStatements::default();
        session.resolve(&classify("PREPARE p AS DELETE FROM t"));
        session.resolve(&classify("PREPARE p AS SELECT 1"));
        let resolved = session.resolve(&classify("EXECUTE p"));
        assert_eq!(resolved[0].kind, SqlKind::Delete);
    }

    #[test]
    fn parameters_can_raise_the_kind() {
        let mut session = PreparedStatements::default();
        session.resolve(&classify("PREPARE p(text) AS SELECT $1"));
        let resolved = session.resolve(&classify("EXECUTE p(pg_read_file('/etc/passwd'))"));
        assert_eq!(resolved[0].kind, SqlKind::Admin);
        assert!(resolved[0].functions.contains(&"pg_read_file".to_owned()));
    }

    #[test]
    fn discard_all_forgets() {
        let mut session = PreparedStatements::default();
        session.resolve(&classify("PREPARE a AS SELECT 1; PREPARE b AS SELECT 2"));
        assert_eq!(session.len(), 2);
        session.resolve(&classify("DISCARD ALL"));
        assert!(session.is_empty());
    }
}
