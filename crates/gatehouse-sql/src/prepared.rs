//! Per-session tracking of SQL-level prepared statements and cursors, so that `EXECUTE p` is
//! judged by what `p` was prepared as, and `FETCH c` by the query cursor `c` was declared for,
//! rather than waved through or refused blindly.
//!
//! `PREPARE p AS DELETE FROM t` is classified as the `DELETE` it prepares; a later `EXECUTE p`
//! on its own says nothing, so the session keeps a map from name to the prepared statement's
//! classification and [`PreparedStatements::resolve`] substitutes it. Cursors are the same:
//! `DECLARE c CURSOR FOR SELECT ...` is classified as its query, but the query only runs when
//! the cursor is fetched from, and the rows `FETCH c` returns carry that query's lineage, so
//! `FETCH c` and `MOVE c` are judged as the declared query.
//!
//! The maps err towards the stronger classification:
//! - PostgreSQL refuses to `PREPARE` a name that already exists, so a second `PREPARE p` while
//!   `p` is recorded cannot replace the server's `p`. It is merged with the recorded one instead
//!   (stronger kind, union of relations and functions, either one's lineage), so it can never
//!   downgrade it. A second
//!   `DECLARE c` is merged the same way: the server refuses it while `c` is open, and a cursor
//!   closed by the end of its transaction (gatehouse does not follow transactions) only leaves
//!   the record stronger than needed.
//! - `DEALLOCATE p`, `DEALLOCATE ALL` forget prepared statements; `CLOSE c` and `CLOSE ALL`
//!   forget cursors; `DISCARD ALL` forgets both. An `EXECUTE` of a name the map does not hold
//!   is `Unknown`.
//! - A `FETCH` or `MOVE` of a name never declared through gatehouse is `Select` with no reads:
//!   such a cursor was opened by a function (a PL/pgSQL `refcursor`), whose call was decided
//!   when it was made, and fetching it runs nothing gatehouse could see. Names starting with
//!   `gh_` are the exception and stay `Unknown`: the protocol adapter names its own portals
//!   that way, and `FETCH` reaches protocol-level portals too.
//!
//! Statement names share a namespace with protocol-level (extended query) prepared
//! statements, and cursor names with protocol-level portals; those are not seen here, which
//! only makes an `EXECUTE` of such a name `Unknown`. Going the other way,
//! [`PreparedStatements::prepared`] and [`PreparedStatements::cursor`] let an adapter judge a
//! protocol-level `Bind` of SQL statement `p`, or `Describe`/`Execute` of portal `c`, as what
//! SQL declared them to be.

use std::collections::HashMap;

use gatehouse_core::{SqlKind, SqlStatement};

use crate::{ClassifiedStatement, PreparedOp, functions};

/// Prefix of the names the protocol adapter gives its own server-side statements and portals.
const RESERVED_PREFIX: &str = "gh_";

/// Per-session tracker of SQL-level `PREPARE` / `EXECUTE` / `DEALLOCATE` and `DECLARE` /
/// `FETCH` / `MOVE` / `CLOSE`.
#[derive(Debug, Default, Clone)]
pub struct PreparedStatements {
    prepared: HashMap<String, SqlStatement>,
    cursors: HashMap<String, SqlStatement>,
}

impl PreparedStatements {
    /// Walk `statements` in order, updating the session's prepared statements and cursors, and
    /// return the resolved statements, one per input, in the same order.
    ///
    /// - `PREPARE p AS ...` records `p` as the inner statement's classification (the statement
    ///   itself is returned unchanged).
    /// - `EXECUTE p` returns a statement with the `EXECUTE` text and fingerprint, but the
    ///   kind, reads, writes, functions and lineage of the prepared one, with reason
    ///   ``executes prepared statement `p` ``. Functions called in its parameters are added,
    ///   and raise the kind if they are stronger. An `EXECUTE` of a name not recorded is
    ///   `Unknown`, with reason
    ///   ``executes prepared statement `p`, which gatehouse has not seen prepared``.
    /// - `DEALLOCATE p` forgets `p`; `DEALLOCATE ALL` forgets all prepared statements.
    /// - `DECLARE c CURSOR FOR ...` records `c` as the query's classification (returned
    ///   unchanged).
    /// - `FETCH ... c` and `MOVE ... c` return a statement with their own text and
    ///   fingerprint, but the kind (at least `Select`), reads, writes, functions and
    ///   `all_rows` and lineage of the declared query (the rows are that query's), with reason
    ///   ``fetches from cursor `c` ``. A name
    ///   not recorded is `Select` with nothing read, with a reason saying the cursor was not
    ///   declared through gatehouse; one starting with `gh_` is `Unknown`.
    /// - `CLOSE c` forgets `c`; `CLOSE ALL` forgets all cursors; `DISCARD ALL` forgets all
    ///   prepared statements and cursors.
    pub fn resolve(&mut self, statements: &[ClassifiedStatement]) -> Vec<SqlStatement> {
        statements
            .iter()
            .map(|classified| self.resolve_one(classified))
            .collect()
    }

    /// Whether a prepared statement named `name` is recorded.
    pub fn contains(&self, name: &str) -> bool {
        self.prepared.contains_key(name)
    }

    /// The classification SQL-level prepared statement `name` was recorded with, for a
    /// protocol-level `Bind` (or `Describe`) of that statement.
    pub fn prepared(&self, name: &str) -> Option<&SqlStatement> {
        self.prepared.get(name)
    }

    /// The classification of the query SQL-level cursor `name` was declared for, for a
    /// protocol-level `Describe` or `Execute` of that portal.
    pub fn cursor(&self, name: &str) -> Option<&SqlStatement> {
        self.cursors.get(name)
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
            None => statement.clone(),
            Some(PreparedOp::Prepare { name }) => {
                record(&mut self.prepared, name, statement);
                statement.clone()
            }
            Some(PreparedOp::DeclareCursor { name }) => {
                record(&mut self.cursors, name, statement);
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
            Some(PreparedOp::CloseCursor { name: Some(name) }) => {
                self.cursors.remove(name);
                statement.clone()
            }
            Some(PreparedOp::CloseCursor { name: None }) => {
                self.cursors.clear();
                statement.clone()
            }
            Some(PreparedOp::DiscardAll) => {
                self.prepared.clear();
                self.cursors.clear();
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
            Some(PreparedOp::UsesCursor { name }) => match self.cursors.get(name) {
                Some(declared) => fetched(statement, declared, name),
                None if name.starts_with(RESERVED_PREFIX) => SqlStatement {
                    kind: SqlKind::Unknown,
                    reason: Some(format!(
                        "fetches from `{name}`, a name gatehouse reserves for its own portals"
                    )),
                    ..statement.clone()
                },
                None => SqlStatement {
                    kind: SqlKind::Select,
                    reads: Vec::new(),
                    writes: Vec::new(),
                    reason: Some(format!(
                        "fetches from cursor `{name}`, which was not declared through gatehouse \
                         (a cursor opened by a function was decided when the function was called)"
                    )),
                    ..statement.clone()
                },
            },
        }
    }
}

/// Record `statement` under `name`, merged with what the name already holds.
fn record(map: &mut HashMap<String, SqlStatement>, name: &str, statement: &SqlStatement) {
    let recorded = match map.remove(name) {
        Some(existing) => merge(existing, statement),
        None => statement.clone(),
    };
    map.insert(name.to_owned(), recorded);
}

/// The `FETCH`/`MOVE` statement judged as the query of the cursor it fetches from.
fn fetched(fetch: &SqlStatement, declared: &SqlStatement, name: &str) -> SqlStatement {
    let kind = if declared.kind.severity() < SqlKind::Select.severity() {
        SqlKind::Select
    } else {
        declared.kind
    };
    SqlStatement {
        text: fetch.text.clone(),
        kind,
        reads: declared.reads.clone(),
        writes: declared.writes.clone(),
        functions: declared.functions.clone(),
        fingerprint: fetch.fingerprint.clone(),
        reason: Some(format!("fetches from cursor `{name}`")),
        all_rows: declared.all_rows,
        context: None,
        lineage: declared.lineage.clone(),
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
        context: None,
        lineage: prepared.lineage.clone(),
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
        lineage: match (&existing.lineage, &new.lineage) {
            (Some(old), Some(new)) if old != new => Some(std::sync::Arc::new(old.either(new))),
            (Some(_), _) => existing.lineage.clone(),
            (None, new) => new.clone(),
        },
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
