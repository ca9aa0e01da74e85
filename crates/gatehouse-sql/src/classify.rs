//! Turning a query message into classified statements.
//!
//! The message is parsed once with PostgreSQL's own grammar (pg_query); each top-level
//! statement is cut out of the message by the byte offsets the parser reports, and analysed:
//! its type gives a base kind ([`statements`]), a few types are refined by their contents
//! (below), and the [`walk`] over its whole tree adds everything nested (data-modifying CTEs,
//! row locks, function calls, relations). The strongest effect wins ([`Facts::verdict`]).
//!
//! Refinements by content:
//! - `EXPLAIN` without `ANALYZE` only plans: `Select`, the inner statement's relations count as
//!   reads. With `ANALYZE` (any true spelling; an unreadable value counts as true) it runs the
//!   statement: the inner statement's classification.
//! - `COPY ... PROGRAM` and `COPY` to or from a server file: `Admin`. Otherwise
//!   `COPY (query) TO STDOUT` is the query's classification, `COPY t TO STDOUT` reads `t`
//!   (`Select`), `COPY t FROM STDIN` writes `t` (`Insert`).
//! - `PREPARE p AS stmt` and `DECLARE c CURSOR FOR stmt`: the inner statement's classification.
//! - `EXECUTE p`: `Unknown` by itself; [`crate::PreparedStatements`] resolves it. `FETCH` and
//!   `MOVE` of a cursor: `Session` by themselves; [`crate::PreparedStatements`] resolves them
//!   to the cursor's query.
//! - `SET`/`RESET` (and the defaults `ALTER ROLE/DATABASE ... SET` give): by setting, see
//!   [`crate::settings`]. `role`, `session_authorization` and `session_replication_role`,
//!   superuser-only settings, and a `search_path` that puts a schema ahead of `pg_catalog`:
//!   `Admin`. Settings gatehouse reads SQL with pinned (`standard_conforming_strings` off,
//!   `backslash_quote`, an ASCII-unsafe `client_encoding`): `Unknown`. Other settings, and
//!   `RESET ALL`: `Session`.
//! - `PREPARE TRANSACTION`, `COMMIT PREPARED`, `ROLLBACK PREPARED`: `Admin`, a prepared
//!   transaction outlives the session and holds its locks. Other transaction control: `Session`.
//! - `DROP`, `COMMENT ON` and `SECURITY LABEL ON` tables, views, materialized views, indexes,
//!   sequences and foreign tables list them as writes.
//! - `CREATE FUNCTION ... LANGUAGE c`/`internal` or an untrusted language (`plpython3u`,
//!   `plperlu`, ...): `Admin`, it loads native code or reaches outside the database.
//! - Any statement that reads or writes a catalog holding secrets or showing the server's
//!   files (`pg_authid`, `pg_shadow`, `pg_statistic`, `pg_hba_file_rules`, ..., see
//!   [`crate::catalogs`]): `Admin`, except under `EXPLAIN` without `ANALYZE`, which only plans.

use std::collections::HashMap;

use gatehouse_core::{SqlKind, SqlStatement};
use pg_query::protobuf::{
    self, CopyStmt, DiscardMode, ExplainStmt, ObjectType, TransactionStmtKind, VariableSetStmt,
};
use pg_query::{FingerprintOptions, NodeEnum};

use crate::facts::{Facts, render_name};
use crate::literals::Normalised;
use crate::{ClassifiedStatement, PreparedOp, settings, statements, walk::walk};

/// How the reason of a statement that does not parse starts; the parser's message follows.
pub const UNPARSABLE: &str = "does not parse: ";

/// How the reason of a message refused because `standard_conforming_strings` would change where
/// its statements end starts; the place and the way to write it unambiguously follow.
pub const LEXES_DIFFERENTLY: &str =
    "reads as different statements depending on standard_conforming_strings: ";

/// Classify a whole query message; see [`crate::classify`].
pub(crate) fn classify_message(sql: &str) -> Vec<ClassifiedStatement> {
    match parse_message(sql) {
        Ok(parsed) => analyse_statements(sql, &parsed)
            .into_iter()
            .map(|statement| statement.classified)
            .collect(),
        Err(refused) => vec![*refused],
    }
}

/// [`classify_message`], and whether the classification is proven to hold for any values of
/// `normalised`'s literals, for the template cache (see [`crate::template`]).
pub(crate) fn classify_message_proving(
    sql: &str,
    normalised: &Normalised,
) -> (Vec<ClassifiedStatement>, bool) {
    let parsed = match parse_message(sql) {
        Ok(parsed) => parsed,
        Err(refused) => return (vec![*refused], false),
    };
    let statements = analyse_statements(sql, &parsed);
    let proven = match statements.as_slice() {
        [only] => crate::template::proven(sql, normalised, only),
        _ => false,
    };
    let classified = statements
        .into_iter()
        .map(|statement| statement.classified)
        .collect();
    (classified, proven)
}

/// One statement of a parsed message: its tree, its classification, and whether a rule read a
/// literal's value to classify it.
pub(crate) struct Analysed<'p> {
    pub(crate) node: &'p NodeEnum,
    pub(crate) classified: ClassifiedStatement,
    pub(crate) reads_literal_values: bool,
}

#[cfg(test)]
thread_local! {
    /// Messages this thread has parsed, so tests can tell that a cache hit parsed nothing.
    pub(crate) static PARSED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The message parsed, or the single `Unknown` statement it is refused as.
fn parse_message(sql: &str) -> Result<pg_query::ParseResult, Box<ClassifiedStatement>> {
    if let Some(difference) = crate::lexing::conforming_strings_differential(sql) {
        return Err(Box::new(unknown_text(
            sql,
            format!(
                "{LEXES_DIFFERENTLY}{} (at byte {})",
                difference.explanation, difference.offset
            ),
        )));
    }
    #[cfg(test)]
    PARSED.with(|parsed| parsed.set(parsed.get() + 1));
    match std::panic::catch_unwind(|| pg_query::parse(sql, 0)) {
        Ok(Ok(parsed)) => Ok(parsed),
        Ok(Err(error)) => Err(Box::new(unparsable(sql, &parse_error_message(&error)))),
        Err(_) => Err(Box::new(unparsable(sql, "the parser failed"))),
    }
}

/// Each top-level statement of a parsed message, cut out and analysed.
fn analyse_statements<'p>(sql: &str, parsed: &'p pg_query::ParseResult) -> Vec<Analysed<'p>> {
    // A message repeating one statement many times fingerprints it once.
    let mut fingerprints: HashMap<&str, String> = HashMap::new();
    parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|raw| {
            let node = raw.stmt.as_ref()?.node.as_ref()?;
            let text = statement_text(sql, raw.stmt_location, raw.stmt_len);
            let fingerprint = fingerprints
                .entry(text)
                .or_insert_with(|| fingerprint(text))
                .clone();
            let lineage = crate::lineage::of(node);
            let analysis = analyze(node);
            let reads_literal_values =
                analysis.facts.reads_literal_values || lineage.reads_literal_values;
            let lineage = lineage.lineage.map(std::sync::Arc::new);
            Some(Analysed {
                node,
                classified: analysis.into_classified(text, fingerprint, lineage),
                reads_literal_values,
            })
        })
        .collect()
}

/// The parser's own message, without pg_query's prefix where it adds one.
///
/// A tree nested more than 100 messages deep (about 45 chained binary operators, or a dozen
/// nested subqueries) is refused by prost's recursion limit while decoding. That limit is what
/// keeps decoding, walking and dropping the tree within any thread's stack, so such statements
/// are reported as not parsing (`Unknown`) rather than analysed.
fn parse_error_message(error: &pg_query::Error) -> String {
    match error {
        pg_query::Error::Parse(message) => message.clone(),
        pg_query::Error::Decode(decode) if decode.to_string().contains("recursion limit") => {
            "the statement nests too deeply for gatehouse to analyse (more than 100 levels of parse tree)"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// The single `Unknown` statement reported for a message that does not parse.
fn unparsable(sql: &str, message: &str) -> ClassifiedStatement {
    unknown_text(sql, format!("{UNPARSABLE}{message}"))
}

/// A whole message as one `Unknown` statement, for `reason`.
fn unknown_text(sql: &str, reason: String) -> ClassifiedStatement {
    ClassifiedStatement {
        statement: SqlStatement {
            text: sql.to_owned(),
            kind: SqlKind::Unknown,
            reads: Vec::new(),
            writes: Vec::new(),
            functions: Vec::new(),
            fingerprint: String::new(),
            reason: Some(reason),
            all_rows: false,
            context: None,
            lineage: None,
        },
        prepared: None,
    }
}

/// One statement's text, cut from the message by the parser's byte offsets and trimmed.
/// A length of 0 means "to the end of the message".
fn statement_text(sql: &str, location: i32, len: i32) -> &str {
    let start = usize::try_from(location).unwrap_or(0);
    let end = match usize::try_from(len) {
        Ok(0) | Err(_) => sql.len(),
        Ok(len) => start.saturating_add(len).min(sql.len()),
    };
    sql.get(start..end).unwrap_or(sql).trim()
}

/// The fingerprint of one statement's text: constants are ignored, but schema names and full
/// relation names are kept (PostgreSQL 17 style plus full relation names), so statements on
/// `public.t` and `secret.t`, or on `orders_2024` and `orders_2025`, never share one.
fn fingerprint(text: &str) -> String {
    let options = FingerprintOptions::RANGEVAR_PG17_COMPAT | FingerprintOptions::FULL_RELNAME;
    pg_query::fingerprint(text, 0, options)
        .map(|fingerprint| fingerprint.hex)
        .unwrap_or_default()
}

/// What one statement does, before it gets its text.
pub(crate) struct Analysis {
    pub(crate) facts: Facts,
    prepared: Option<PreparedOp>,
}

impl Analysis {
    fn plain(facts: Facts) -> Self {
        Analysis {
            facts,
            prepared: None,
        }
    }

    fn into_classified(
        self,
        text: &str,
        fingerprint: String,
        lineage: Option<std::sync::Arc<gatehouse_core::Lineage>>,
    ) -> ClassifiedStatement {
        let (kind, reason) = self.facts.verdict();
        ClassifiedStatement {
            statement: SqlStatement {
                text: text.to_owned(),
                kind,
                reads: self.facts.reads.into_iter().collect(),
                writes: self.facts.writes.into_iter().collect(),
                functions: self.facts.functions.into_iter().collect(),
                fingerprint,
                reason,
                all_rows: self.facts.all_rows,
                context: None,
                lineage,
            },
            prepared: self.prepared,
        }
    }
}

/// Analyse one statement node.
///
/// Reading a catalog that holds secrets is checked here, once the statement's relations are
/// known, except for `EXPLAIN`: its inner statement was checked already, and without
/// `ANALYZE` it only plans.
pub(crate) fn analyze(node: &NodeEnum) -> Analysis {
    let mut analysis = analyze_statement(node);
    if !matches!(node, NodeEnum::ExplainStmt(_)) {
        analysis.facts.flag_sensitive_relations();
    }
    analysis
}

fn analyze_statement(node: &NodeEnum) -> Analysis {
    match node {
        NodeEnum::ExplainStmt(explain) => Analysis::plain(self::explain(explain)),
        NodeEnum::CopyStmt(copy) => Analysis::plain(self::copy(copy)),
        NodeEnum::PrepareStmt(prepare) => Analysis {
            facts: inner(prepare.query.as_deref(), "PREPARE"),
            prepared: Some(PreparedOp::Prepare {
                name: prepare.name.clone(),
            }),
        },
        NodeEnum::DeclareCursorStmt(declare) => Analysis {
            facts: inner(declare.query.as_deref(), "DECLARE"),
            prepared: Some(PreparedOp::DeclareCursor {
                name: declare.portalname.clone(),
            }),
        },
        NodeEnum::ExecuteStmt(execute) => {
            let mut facts = Facts::of(
                SqlKind::Unknown,
                Some(format!(
                    "executes prepared statement `{}`; what it does depends on what was prepared",
                    execute.name
                )),
            );
            walk(&execute.params, &mut facts);
            Analysis {
                facts,
                prepared: Some(PreparedOp::Execute {
                    name: execute.name.clone(),
                }),
            }
        }
        NodeEnum::DeallocateStmt(deallocate) => Analysis {
            facts: Facts::of(SqlKind::Session, None),
            prepared: Some(PreparedOp::Deallocate {
                name: (!deallocate.isall && !deallocate.name.is_empty())
                    .then(|| deallocate.name.clone()),
            }),
        },
        NodeEnum::DiscardStmt(discard) => Analysis {
            facts: Facts::of(SqlKind::Session, None),
            // DISCARD ALL includes DEALLOCATE ALL and CLOSE ALL
            prepared: (discard.target == DiscardMode::DiscardAll as i32)
                .then_some(PreparedOp::DiscardAll),
        },
        NodeEnum::FetchStmt(fetch) => Analysis {
            facts: generic(node),
            prepared: Some(PreparedOp::UsesCursor {
                name: fetch.portalname.clone(),
            }),
        },
        NodeEnum::ClosePortalStmt(close) => Analysis {
            facts: generic(node),
            prepared: Some(PreparedOp::CloseCursor {
                // CLOSE ALL names no portal
                name: (!close.portalname.is_empty()).then(|| close.portalname.clone()),
            }),
        },
        NodeEnum::VariableSetStmt(set) => Analysis::plain(self::set(set)),
        NodeEnum::TransactionStmt(transaction) => {
            Analysis::plain(self::transaction(transaction.kind))
        }
        _ => Analysis::plain(generic(node)),
    }
}

/// A statement with no refinement beyond its type, plus whatever its tree holds.
fn generic(node: &NodeEnum) -> Facts {
    let mut facts = Facts::default();
    let root = walk(node, &mut facts);
    let (kind, reason) = root.and_then(statements::base_kind).unwrap_or((
        SqlKind::Unknown,
        Some("gatehouse does not recognise the statement type".to_owned()),
    ));
    facts
        .effects
        .insert(0, crate::facts::KindEffect { kind, reason });
    match node {
        NodeEnum::DropStmt(drop) => named_relations(drop.remove_type, &drop.objects, &mut facts),
        NodeEnum::CommentStmt(comment) => {
            named_relations(comment.objtype, comment.object.as_deref(), &mut facts);
        }
        NodeEnum::SecLabelStmt(label) => {
            named_relations(label.objtype, label.object.as_deref(), &mut facts);
        }
        NodeEnum::CreateFunctionStmt(create) => function_language(&create.options, &mut facts),
        NodeEnum::AlterRoleSetStmt(alter) => setting_default(alter.setstmt.as_ref(), &mut facts),
        NodeEnum::AlterDatabaseSetStmt(alter) => {
            setting_default(alter.setstmt.as_ref(), &mut facts);
        }
        _ => {}
    }
    facts
}

/// The inner statement of a wrapper (`PREPARE`, `DECLARE`, `EXPLAIN`, `COPY (query)`).
fn inner(query: Option<&protobuf::Node>, wrapper: &str) -> Facts {
    match query.and_then(|query| query.node.as_ref()) {
        Some(node) => analyze(node).facts,
        None => Facts::of(
            SqlKind::Unknown,
            Some(format!("{wrapper} without a statement")),
        ),
    }
}

fn explain(explain: &ExplainStmt) -> Facts {
    let facts = inner(explain.query.as_deref(), "EXPLAIN");
    let analyze = explain.options.iter().any(|option| {
        matches!(&option.node, Some(NodeEnum::DefElem(def))
            if def.defname.eq_ignore_ascii_case("analyze") && option_is_true(def.arg.as_deref()))
    });
    if analyze {
        let mut facts = facts;
        let (kind, _) = facts.verdict();
        facts.effect(kind, Some("EXPLAIN ANALYZE runs the statement".to_owned()));
        facts
    } else {
        facts.plan_only()
    }
}

/// Whether a boolean option (`ANALYZE`, `ANALYZE true`, `ANALYZE off`, ...) is on. A missing
/// value means on; a value that cannot be read counts as on, the stronger reading.
fn option_is_true(arg: Option<&protobuf::Node>) -> bool {
    match arg.and_then(|arg| arg.node.as_ref()) {
        None => true,
        Some(NodeEnum::Boolean(value)) => value.boolval,
        Some(NodeEnum::Integer(value)) => value.ival != 0,
        Some(NodeEnum::String(value)) => {
            let value = value.sval.to_ascii_lowercase();
            !matches!(value.as_str(), "false" | "off" | "no" | "0" | "f" | "n")
        }
        Some(NodeEnum::AConst(constant)) => !matches!(
            &constant.val,
            Some(protobuf::a_const::Val::Boolval(protobuf::Boolean {
                boolval: false
            })) | Some(protobuf::a_const::Val::Ival(protobuf::Integer { ival: 0 }))
        ),
        Some(_) => true,
    }
}

fn copy(copy: &CopyStmt) -> Facts {
    let mut facts = if copy.query.is_some() {
        inner(copy.query.as_deref(), "COPY")
    } else if let Some(relation) = &copy.relation {
        let name = render_name([
            relation.catalogname.as_str(),
            relation.schemaname.as_str(),
            relation.relname.as_str(),
        ]);
        if copy.is_from {
            let mut facts = Facts::of(SqlKind::Insert, None);
            facts.writes.insert(name);
            facts
        } else {
            let mut facts = Facts::of(SqlKind::Select, None);
            facts.reads.insert(name);
            facts
        }
    } else {
        Facts::of(
            SqlKind::Unknown,
            Some("COPY without a table or query".to_owned()),
        )
    };
    // COPY ... FROM ... WHERE runs expressions for every row.
    if let Some(condition) = copy.where_clause.as_deref() {
        walk(condition, &mut facts);
    }
    let direction = if copy.is_from { "from" } else { "to" };
    if copy.is_program {
        facts.effect(
            SqlKind::Admin,
            Some(format!(
                "COPY {direction} PROGRAM runs a shell command on the database server"
            )),
        );
    } else if !copy.filename.is_empty() {
        let access = if copy.is_from { "reads" } else { "writes" };
        facts.effect(
            SqlKind::Admin,
            Some(format!(
                "COPY {direction} a file {access} files on the database server"
            )),
        );
    }
    facts
}

fn set(set: &VariableSetStmt) -> Facts {
    match settings::effect(set) {
        Some((kind, why)) => Facts::of(kind, Some(why)),
        None => Facts::of(SqlKind::Session, None),
    }
}

/// `ALTER ROLE ... SET` and `ALTER DATABASE ... SET` give later sessions a setting: the same
/// settings rules apply, on top of the statement's own kind.
fn setting_default(set: Option<&VariableSetStmt>, facts: &mut Facts) {
    if let Some((kind, why)) = set.and_then(settings::effect) {
        facts.effect(kind, Some(why));
    }
}

fn transaction(kind: i32) -> Facts {
    match TransactionStmtKind::try_from(kind) {
        Ok(
            TransactionStmtKind::TransStmtPrepare
            | TransactionStmtKind::TransStmtCommitPrepared
            | TransactionStmtKind::TransStmtRollbackPrepared,
        ) => Facts::of(
            SqlKind::Admin,
            Some(
                "two-phase commit: a prepared transaction outlives the session and keeps its locks"
                    .to_owned(),
            ),
        ),
        _ => Facts::of(SqlKind::Session, None),
    }
}

/// `DROP TABLE a, s.b`, `COMMENT ON TABLE t` and `SECURITY LABEL ON TABLE t` name their
/// relations as lists of strings, not `RangeVar`s: list them as writes.
fn named_relations<'a>(
    object_type: i32,
    objects: impl IntoIterator<Item = &'a protobuf::Node>,
    facts: &mut Facts,
) {
    let relation_like = matches!(
        ObjectType::try_from(object_type),
        Ok(ObjectType::ObjectTable
            | ObjectType::ObjectView
            | ObjectType::ObjectMatview
            | ObjectType::ObjectIndex
            | ObjectType::ObjectSequence
            | ObjectType::ObjectForeignTable)
    );
    if !relation_like {
        return;
    }
    for object in objects {
        if let Some(NodeEnum::List(list)) = &object.node {
            let parts = list.items.iter().filter_map(|item| match &item.node {
                Some(NodeEnum::String(part)) => Some(part.sval.as_str()),
                _ => None,
            });
            facts.writes.insert(render_name(parts));
        }
    }
}

/// `CREATE FUNCTION ... LANGUAGE c` loads native code; an untrusted language (`plpython3u`,
/// `plperlu`, `pltclu`) can reach outside the database.
fn function_language(options: &[protobuf::Node], facts: &mut Facts) {
    for option in options {
        let Some(NodeEnum::DefElem(def)) = &option.node else {
            continue;
        };
        if !def.defname.eq_ignore_ascii_case("language") {
            continue;
        }
        let Some(NodeEnum::String(language)) = def.arg.as_ref().and_then(|arg| arg.node.as_ref())
        else {
            continue;
        };
        let language = language.sval.to_ascii_lowercase();
        if language == "c" || language == "internal" {
            facts.effect(
                SqlKind::Admin,
                Some(format!(
                    "creates a function in {language}, which loads native code into the server"
                )),
            );
        } else if language.starts_with("pl") && language.ends_with('u') {
            facts.effect(
                SqlKind::Admin,
                Some(format!(
                    "creates a function in the untrusted language {language}, which can reach outside the database"
                )),
            );
        }
    }
}
