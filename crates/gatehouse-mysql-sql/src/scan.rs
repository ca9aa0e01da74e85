//! The scan over a query's tokens (a `SELECT`, the source of an `INSERT`, the expressions
//! of an `UPDATE`, `DELETE` or `SET`): the tables it reads, the functions it calls, and
//! what raises its kind.
//!
//! - Tables: the names after `TABLE` (`TABLE t`, `INSERT ... TABLE t`), after `FROM`
//!   (outside a function's parentheses: not `EXTRACT(x FROM y)`), after `JOIN` and
//!   `STRAIGHT_JOIN`, and in comma-separated `FROM` lists; lowercased, `db.t` when
//!   qualified, quotes removed; names of the statement's CTEs are left out. Subqueries are
//!   scanned like the rest.
//! - `FOR UPDATE` and `LOCK IN SHARE MODE` lock the rows read: `Update`.
//! - `INTO OUTFILE`/`INTO DUMPFILE` writes a file on the server: `Admin`. `INTO @v` stores
//!   the result in the session: no effect.
//! - Calls: a name right before `(`, unless it is a reserved word that never names a
//!   function there (`IN (`, `VALUES (`, `AS (`, `DECIMAL(` ...), a CTE (`name (cols) AS
//!   (`), or in the one place a non-reserved word is syntax: `OVER`/`AGAINST` after `)`,
//!   `ANY`/`SOME`/`ALL` after an operator, `VALUE` after `)` or at the start of an
//!   `INSERT`'s source, `COLUMNS` after `JSON_TABLE`'s path string (elsewhere the server
//!   calls a stored function of that name; `tests/server_agreement.rs` checks this). What
//!   a call does: see [`crate::functions`]. `NEXT VALUE FOR s` / `PREVIOUS VALUE FOR s`
//!   are sequence calls (`nextval` / `lastval`): `Update`.
//! - A statement keyword (`DELETE`, `DROP`, `INSERT` not followed by `(`, ...) where a query
//!   has none (what an executable comment can slip into a `SELECT`): `Unknown`.

use std::collections::HashSet;

use gatehouse_core::SqlKind;

use crate::Lexing;
use crate::comments::is_space;
use crate::facts::Facts;
use crate::functions::call_effect;
use crate::token::{Token, TokenKind};

/// Reserved words that may stand before `(` without being a function's name.
const NOT_CALLS: &[&str] = &[
    "AND",
    "AS",
    "BETWEEN",
    "BINARY",
    "BY",
    "CASE",
    "DECIMAL",
    "DISTINCT",
    "DIV",
    "DOUBLE",
    "ELSE",
    "EXCEPT",
    "EXISTS",
    "FLOAT",
    "FOR",
    "FROM",
    "HAVING",
    "IN",
    "INDEX",
    "INT",
    "INTEGER",
    "INTERSECT",
    "INTO",
    "IS",
    "JOIN",
    "KEY",
    "LIKE",
    "LIMIT",
    "MATCH",
    "NCHAR",
    "NOT",
    "NUMERIC",
    "ON",
    "OR",
    "PARTITION",
    "RECURSIVE",
    "REGEXP",
    "RETURNING",
    "RLIKE",
    "ROW",
    "SELECT",
    "SET",
    "SIGNED",
    "TABLE",
    "THEN",
    "UNION",
    "UNSIGNED",
    "USING",
    "VALUES",
    "VARBINARY",
    "VARCHAR",
    "WHEN",
    "WHERE",
    "WITH",
    "XOR",
];

/// Words that end a table reference rather than alias it.
const CLAUSE_WORDS: &[&str] = &[
    "CROSS",
    "DUAL",
    "EXCEPT",
    "FETCH",
    "FOR",
    "FORCE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IGNORE",
    "INNER",
    "INTERSECT",
    "INTO",
    "JOIN",
    "LEFT",
    "LIMIT",
    "LOCK",
    "MINUS",
    "NATURAL",
    "OFFSET",
    "ON",
    "ORDER",
    "OUTER",
    "PARTITION",
    "PROCEDURE",
    "RETURNING",
    "RIGHT",
    "SELECT",
    "SET",
    "STRAIGHT_JOIN",
    "UNION",
    "USE",
    "USING",
    "VALUES",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// Words that end a `FROM` clause.
const FROM_ENDS: &[&str] = &[
    "EXCEPT",
    "FOR",
    "GROUP",
    "HAVING",
    "INTERSECT",
    "INTO",
    "LIMIT",
    "LOCK",
    "ORDER",
    "PROCEDURE",
    "RETURNING",
    "SET",
    "UNION",
    "WHERE",
    "WINDOW",
];

/// Statement keywords no query holds.
const STATEMENT_WORDS: &[&str] = &[
    "ALTER",
    "BINLOG",
    "CALL",
    "CREATE",
    "DEALLOCATE",
    "DELETE",
    "DROP",
    "EXECUTE",
    "FLUSH",
    "GRANT",
    "HANDLER",
    "INSERT",
    "INSTALL",
    "KILL",
    "LOAD",
    "PREPARE",
    "PURGE",
    "RENAME",
    "REPLACE",
    "REVOKE",
    "SHUTDOWN",
    "TRUNCATE",
    "UNINSTALL",
    "UPDATE",
];

/// Scans `tokens` into `facts`.
pub fn scan(tokens: &[Token], text: &str, lexing: &Lexing, facts: &mut Facts) {
    let closes = closing(tokens);
    Scanner {
        tokens,
        text,
        lexing,
        ctes: cte_names(tokens, &closes),
        closes,
        arguments: argument_counts(tokens),
    }
    .run(facts);
}

/// Records the table references of a comma-separated list starting at `at` (an `UPDATE`'s
/// or `DELETE`'s targets) as reads of `facts`; returns where the list ends.
pub fn scan_table_list(tokens: &[Token], at: usize, facts: &mut Facts) -> usize {
    table_refs(tokens, &closing(tokens), at, &HashSet::new(), facts)
}

/// A possibly qualified name starting at `at`: lowercased, dot-joined, and where it ends.
pub fn qualified_name(tokens: &[Token], at: usize) -> Option<(String, usize)> {
    let first = tokens.get(at).filter(|t| t.is_name())?;
    let mut name = first.value.to_lowercase();
    let mut end = at + 1;
    while tokens.get(end).is_some_and(|t| t.is_punct("."))
        && let Some(part) = tokens
            .get(end + 1)
            .filter(|t| t.is_name() || t.is_punct("*"))
    {
        name.push('.');
        name.push_str(&part.value.to_lowercase());
        end += 2;
    }
    Some((name, end))
}

/// For each token, when it is a `(`, the index just after its matching `)` (the end when
/// there is none); computed once, so no scan walks the rest of the text per parenthesis.
fn closing(tokens: &[Token]) -> Vec<usize> {
    let mut after = vec![tokens.len(); tokens.len()];
    let mut open = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_punct("(") {
            open.push(i);
        } else if token.is_punct(")")
            && let Some(start) = open.pop()
            && let Some(slot) = after.get_mut(start)
        {
            *slot = i + 1;
        }
    }
    after
}

/// For each token, when it is a `(`, how many arguments its group holds (0 when empty,
/// otherwise its top-level commas plus one), in one pass.
fn argument_counts(tokens: &[Token]) -> Vec<usize> {
    let mut counts = vec![0; tokens.len()];
    // (where the group opens, its top-level commas, whether it holds anything)
    let mut open: Vec<(usize, usize, bool)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_punct(")") {
            if let Some((start, commas, filled)) = open.pop()
                && let Some(slot) = counts.get_mut(start)
            {
                *slot = if filled { commas + 1 } else { 0 };
            }
        } else if let Some((_, commas, filled)) = open.last_mut() {
            *filled = true;
            if token.is_punct(",") {
                *commas += 1;
            }
        }
        if token.is_punct("(") {
            open.push((i, 0, false));
        }
    }
    counts
}

/// The index just after the parenthesis group opened at `open`.
fn after_parens(closes: &[usize], open: usize) -> usize {
    closes.get(open).copied().unwrap_or(open + 1)
}

/// Names defined by `WITH [RECURSIVE] name [(columns)] AS (...)`, lowercased.
fn cte_names(tokens: &[Token], closes: &[usize]) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, token) in tokens.iter().enumerate() {
        let after_list = i
            .checked_sub(1)
            .and_then(|p| tokens.get(p))
            .is_some_and(|p| p.is_word("WITH") || p.is_word("RECURSIVE") || p.is_punct(","));
        if !token.is_name() || !after_list {
            continue;
        }
        let mut next = i + 1;
        if tokens.get(next).is_some_and(|t| t.is_punct("(")) {
            next = after_parens(closes, next);
        }
        if tokens.get(next).is_some_and(|t| t.is_word("AS"))
            && tokens.get(next + 1).is_some_and(|t| t.is_punct("("))
        {
            names.insert(token.value.to_lowercase());
        }
    }
    names
}

struct Scanner<'a> {
    tokens: &'a [Token],
    text: &'a str,
    lexing: &'a Lexing,
    ctes: HashSet<String>,
    closes: Vec<usize>,
    arguments: Vec<usize>,
}

impl Scanner<'_> {
    fn at(&self, i: usize) -> Option<&Token> {
        self.tokens.get(i)
    }

    fn before(&self, i: usize, back: usize) -> Option<&Token> {
        i.checked_sub(back).and_then(|p| self.tokens.get(p))
    }

    fn run(&self, facts: &mut Facts) {
        // For each open parenthesis: whether it holds a function's arguments.
        let mut parens: Vec<bool> = Vec::new();
        // The parenthesis depths at which a FROM clause is open (its commas list tables).
        let mut from_clauses: Vec<usize> = Vec::new();
        // Where the last table list read ends: its commas need no second reading.
        let mut listed_until = 0;
        for (i, token) in self.tokens.iter().enumerate() {
            if token.is_punct("(") {
                parens.push(self.call(i, facts));
                continue;
            }
            if token.is_punct(")") {
                parens.pop();
                while from_clauses
                    .last()
                    .is_some_and(|&depth| depth > parens.len())
                {
                    from_clauses.pop();
                }
                continue;
            }
            let in_from = from_clauses.last() == Some(&parens.len());
            if in_from && token.is_punct(",") && i >= listed_until {
                listed_until = self.table_refs(i + 1, facts);
                continue;
            }
            if in_from && FROM_ENDS.contains(&token.keyword().as_str()) {
                from_clauses.pop();
            }
            if token.kind != TokenKind::Word {
                continue;
            }
            let next = |n: usize, word: &str| self.at(i + n).is_some_and(|t| t.is_word(word));
            match token.keyword().as_str() {
                "FROM" if parens.last() != Some(&true) => {
                    from_clauses.push(parens.len());
                    listed_until = self.table_refs(i + 1, facts);
                }
                "TABLE" => {
                    if let Some((table, _)) = qualified_name(self.tokens, i + 1)
                        && !self.ctes.contains(&table)
                    {
                        facts.read(table);
                    }
                }
                "JOIN" | "STRAIGHT_JOIN" => {
                    listed_until = self.table_refs(i + 1, facts);
                }
                "FOR" if next(1, "UPDATE") => {
                    facts.raise(SqlKind::Update, "locks the rows it reads (FOR UPDATE)");
                }
                "LOCK" if next(1, "IN") && next(2, "SHARE") => {
                    facts.raise(
                        SqlKind::Update,
                        "locks the rows it reads (LOCK IN SHARE MODE)",
                    );
                }
                "INTO" if next(1, "OUTFILE") || next(1, "DUMPFILE") => {
                    facts.raise(
                        SqlKind::Admin,
                        "writes a file on the database server (SELECT ... INTO OUTFILE/DUMPFILE)",
                    );
                }
                "NEXT" | "PREVIOUS" if next(1, "VALUE") && next(2, "FOR") => {
                    let (function, what) = if token.is_word("NEXT") {
                        ("nextval", "advances a sequence")
                    } else {
                        ("lastval", "reads a sequence's session state")
                    };
                    facts.call(function.to_owned());
                    if let Some((sequence, _)) = qualified_name(self.tokens, i + 3) {
                        facts.write(sequence);
                    }
                    facts.raise(SqlKind::Update, format!("calls {function}, which {what}"));
                }
                keyword if STATEMENT_WORDS.contains(&keyword) => {
                    self.statement_word(i, keyword, facts)
                }
                _ => {}
            }
        }
        if !facts.reads.is_empty() {
            facts.raise(SqlKind::Select, "reads tables");
        }
    }

    fn statement_word(&self, i: usize, keyword: &str, facts: &mut Facts) {
        if self.at(i + 1).is_some_and(|t| t.is_punct("(")) {
            return;
        }
        let after_for_or_key = self
            .before(i, 1)
            .is_some_and(|p| p.is_word("FOR") || p.is_word("KEY"));
        if keyword == "UPDATE" && after_for_or_key {
            return;
        }
        facts.raise(
            SqlKind::Unknown,
            format!("holds {keyword} where the statement has no place for one"),
        );
    }

    fn table_refs(&self, at: usize, facts: &mut Facts) -> usize {
        table_refs(self.tokens, &self.closes, at, &self.ctes, facts)
    }

    /// Judges the `(` at `open`: whether it opens a function's arguments, recording the call.
    fn call(&self, open: usize, facts: &mut Facts) -> bool {
        let Some(name) = self.before(open, 1).filter(|t| t.is_name()) else {
            return false;
        };
        let keyword = name.keyword();
        if NOT_CALLS.contains(&keyword.as_str()) {
            return false;
        }
        let qualified = self.before(open, 2).is_some_and(|t| t.is_punct("."));
        let name_start = if qualified {
            open.saturating_sub(3)
        } else {
            open - 1
        };
        let before_name = self.before(name_start, 1);
        let after = after_parens(&self.closes, open);
        if self.at(after).is_some_and(|t| t.is_word("AS"))
            && self.at(after + 1).is_some_and(|t| t.is_punct("("))
        {
            return false;
        }
        let operator_before = before_name.is_none_or(|t| {
            t.kind == TokenKind::Punct
                || ["UNION", "EXCEPT", "INTERSECT", "SELECT"].contains(&t.keyword().as_str())
        });
        if keyword == "JSON_TABLE"
            && before_name
                .is_some_and(|t| t.is_word("FROM") || t.is_word("JOIN") || t.is_punct(","))
        {
            facts.call("json_table".to_owned());
            return true;
        }
        let not_a_call = match keyword.as_str() {
            "OVER" | "AGAINST" => before_name.is_some_and(|t| t.is_punct(")")),
            "ANY" | "SOME" | "ALL" => operator_before,
            "VALUE" => before_name.is_none_or(|t| t.is_punct(")")),
            // `JSON_TABLE(doc, '$[*]' COLUMNS (...))`
            "COLUMNS" => before_name.is_some_and(|t| t.kind == TokenKind::Str),
            _ => false,
        };
        if not_a_call {
            return false;
        }
        let full = qualified_name(self.tokens, name_start)
            .map_or_else(|| name.value.to_lowercase(), |(full, _)| full);
        facts.call(full.clone());
        if qualified {
            facts.raise(
                SqlKind::Unknown,
                format!("calls {full}, a stored function, which may write"),
            );
        } else if name.kind == TokenKind::QuotedIdent {
            facts.raise(
                SqlKind::Unknown,
                format!(
                    "calls {full} by a quoted name, which may be a stored function that writes"
                ),
            );
        } else {
            let gap = self
                .text
                .get(name.span.end..self.at(open).map_or(name.span.end, |t| t.span.start))
                .unwrap_or_default();
            let spaced =
                !(gap.is_empty() || self.lexing.mode.ignore_space && gap.bytes().all(is_space));
            let arguments = self.arguments.get(open).copied().unwrap_or_default();
            if let Some((kind, reason)) = call_effect(&full, arguments, spaced) {
                facts.raise(kind, reason);
            }
        }
        true
    }
}

/// Records the table references of a `FROM` list or a `JOIN` starting at `at`.
fn table_refs(
    tokens: &[Token],
    closes: &[usize],
    mut at: usize,
    ctes: &HashSet<String>,
    facts: &mut Facts,
) -> usize {
    loop {
        let Some(token) = tokens.get(at) else {
            return at;
        };
        if token.is_punct("(") {
            let subquery = tokens.get(at + 1).is_none_or(|t| {
                ["SELECT", "WITH", "VALUES", "TABLE"].contains(&t.keyword().as_str())
                    || t.is_punct("(")
            });
            if subquery {
                return at;
            }
            at += 1;
            continue;
        }
        if CLAUSE_WORDS.contains(&token.keyword().as_str()) {
            return at;
        }
        let Some((name, end)) = qualified_name(tokens, at) else {
            return at;
        };
        if tokens.get(end).is_some_and(|t| t.is_punct("(")) {
            return at;
        }
        if !ctes.contains(&name) {
            facts.read(name);
        }
        at = skip_alias_and_hints(tokens, closes, end);
        if !tokens.get(at).is_some_and(|t| t.is_punct(",")) {
            return at;
        }
        at += 1;
    }
}

/// Skips `PARTITION (...)`, `[AS] alias` and index hints after a table name.
fn skip_alias_and_hints(tokens: &[Token], closes: &[usize], mut at: usize) -> usize {
    let mut aliased = false;
    loop {
        let Some(token) = tokens.get(at) else {
            return at;
        };
        let keyword = token.keyword();
        if keyword == "PARTITION" && tokens.get(at + 1).is_some_and(|t| t.is_punct("(")) {
            at = after_parens(closes, at + 1);
        } else if ["USE", "IGNORE", "FORCE"].contains(&keyword.as_str()) {
            // `USE INDEX|KEY [FOR JOIN|ORDER BY|GROUP BY] (...)`
            let open = tokens.iter().skip(at).take(6).position(|t| t.is_punct("("));
            match open {
                Some(open) => at = after_parens(closes, at + open),
                None => return at,
            }
        } else if keyword == "AS" {
            at += 1;
        } else if !aliased
            && (token.kind == TokenKind::QuotedIdent
                || token.kind == TokenKind::Str
                || (token.kind == TokenKind::Word && !CLAUSE_WORDS.contains(&keyword.as_str())))
        {
            aliased = true;
            at += 1;
        } else {
            return at;
        }
    }
}
