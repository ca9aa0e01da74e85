//! `CREATE`, `ALTER`, `DROP`, `RENAME`, `TRUNCATE`: schema changes (`Ddl`) of the objects
//! gatehouse knows, privilege changes (`Dcl`) for users and roles, and the forms that reach
//! outside the database (`Admin`); any other object is `Unknown`.
//!
//! - Tables, views, indexes, sequences, databases/schemas, events, triggers, procedures,
//!   functions, packages: `Ddl`. Tables, views and sequences named (and an index's table)
//!   are writes. `CREATE TABLE ... SELECT` also reads what its query reads, and its query's
//!   calls count (a stored function may write); `CREATE TABLE ... LIKE t` reads `t`.
//! - A table with an engine that reads server files or other hosts (`CONNECT`,
//!   `FEDERATED`, `FEDERATEDX`, `SPIDER`), a `CONNECTION` string, or `DATA`/`INDEX
//!   DIRECTORY` paths: `Admin`.
//! - `CREATE FUNCTION ... SONAME` loads a native library (a UDF) into the server: `Admin`.
//!   So do servers (`CREATE SERVER`, a federated connection to another host) and
//!   tablespaces/logfile groups (server files): `Admin`.
//! - Users and roles (`CREATE/ALTER/DROP/RENAME USER`, `CREATE/DROP ROLE`): `Dcl`.
//! - `DROP PREPARE name`: `DEALLOCATE PREPARE`.
//!
//! A stored program's body may hold `;`, where the lexer cuts the message as the server's
//! multi-statement handling would not: the rest of the body becomes statements of its own,
//! each classified (and `END` is unknown), which only ever over-states what runs.

use gatehouse_core::SqlKind;

use crate::facts::Facts;
use crate::scan::{qualified_name, scan};
use crate::token::{Token, TokenKind};
use crate::{Lexing, statements};

/// Words between the verb and the object's kind.
const MODIFIERS: &[&str] = &[
    "OR",
    "REPLACE",
    "TEMPORARY",
    "ONLINE",
    "OFFLINE",
    "IGNORE",
    "UNIQUE",
    "FULLTEXT",
    "SPATIAL",
    "AGGREGATE",
    "NONBLOCKING",
];

pub fn classify(tokens: &[Token], text: &str, lexing: &Lexing) -> Facts {
    let verb = tokens.first().map(Token::keyword).unwrap_or_default();
    if verb == "TRUNCATE" {
        let at = if tokens.get(1).is_some_and(|t| t.is_word("TABLE")) {
            2
        } else {
            1
        };
        return named(SqlKind::Ddl, tokens, at, false);
    }
    let at = skip_modifiers(tokens, 1);
    let object = tokens.get(at).map(Token::keyword).unwrap_or_default();
    match object.as_str() {
        "TABLE" | "TABLES" => table(&verb, tokens, at + 1, text, lexing),
        "VIEW" | "SEQUENCE" => named(
            SqlKind::Ddl,
            tokens,
            at + 1,
            verb == "DROP" || verb == "RENAME",
        ),
        "INDEX" | "KEY" => {
            let mut facts = Facts::of(SqlKind::Ddl);
            let on = tokens.iter().position(|t| t.is_word("ON"));
            if let Some((table, _)) = on.and_then(|on| qualified_name(tokens, on + 1)) {
                facts.write(table);
            }
            facts
        }
        "DATABASE" | "SCHEMA" | "EVENT" | "TRIGGER" | "PROCEDURE" | "PACKAGE" => {
            Facts::of(SqlKind::Ddl)
        }
        "FUNCTION" if tokens.iter().any(|t| t.is_word("SONAME")) => Facts::because(
            SqlKind::Admin,
            "CREATE FUNCTION ... SONAME loads a native library into the server",
        ),
        "FUNCTION" => Facts::of(SqlKind::Ddl),
        "USER" | "ROLE" => Facts::of(SqlKind::Dcl),
        "SERVER" => Facts::because(
            SqlKind::Admin,
            "a server definition connects to another host",
        ),
        "TABLESPACE" | "LOGFILE" => Facts::because(
            SqlKind::Admin,
            "tablespaces are files on the database server",
        ),
        "PREPARE" if verb == "DROP" => statements::deallocate(tokens.get(at + 1)),
        _ => Facts::unknown("not a statement form gatehouse knows"),
    }
}

/// Skips modifiers, `DEFINER = user`, `SQL SECURITY x` and `ALGORITHM = x`.
fn skip_modifiers(tokens: &[Token], mut at: usize) -> usize {
    loop {
        let Some(token) = tokens.get(at) else {
            return at;
        };
        let keyword = token.keyword();
        if MODIFIERS.contains(&keyword.as_str()) {
            at += 1;
        } else if keyword == "SQL" || keyword == "ALGORITHM" {
            at += 3;
        } else if keyword == "DEFINER" {
            at += 3;
            if tokens.get(at).is_some_and(|t| t.kind == TokenKind::UserVar) {
                at += 1;
            } else if tokens.get(at).is_some_and(|t| t.is_punct("(")) {
                at += 2;
            }
        } else {
            return at;
        }
    }
}

/// Index after `IF EXISTS` / `IF NOT EXISTS` at `at`.
fn skip_if_exists(tokens: &[Token], at: usize) -> usize {
    if !tokens.get(at).is_some_and(|t| t.is_word("IF")) {
        return at;
    }
    if tokens.get(at + 1).is_some_and(|t| t.is_word("NOT")) {
        at + 3
    } else {
        at + 2
    }
}

/// Engines whose tables are files on the server or tables on other hosts.
const OUTSIDE_ENGINES: &[&str] = &["CONNECT", "FEDERATED", "FEDERATEDX", "SPIDER"];

/// Why a table definition reaches outside the database, if it does: an engine that reads
/// server files or other hosts, a `CONNECTION` string, or `DATA`/`INDEX DIRECTORY` paths.
fn reaches_outside(tokens: &[Token]) -> Option<&'static str> {
    tokens.iter().enumerate().find_map(|(i, token)| {
        let engine = token.is_word("ENGINE")
            && tokens
                .iter()
                .skip(i + 1)
                .find(|t| !t.is_punct("="))
                .is_some_and(|t| OUTSIDE_ENGINES.contains(&t.value.to_ascii_uppercase().as_str()));
        if engine {
            Some("its engine reads files on the server or tables on other hosts")
        } else if token.is_word("CONNECTION") {
            Some("a CONNECTION reaches another host")
        } else if token.is_word("DIRECTORY") {
            Some("DATA/INDEX DIRECTORY puts files at a path on the server")
        } else {
            None
        }
    })
}

/// Whether the `WITH` at `at` is the table option `WITH SYSTEM VERSIONING`.
fn system_versioning(tokens: &[Token], at: usize) -> bool {
    tokens.get(at + 1).is_some_and(|t| t.is_word("SYSTEM"))
}

/// `kind`, writing the object named at `at` (all of a comma- or `TO`-separated list when
/// `list`).
fn named(kind: SqlKind, tokens: &[Token], at: usize, list: bool) -> Facts {
    let mut facts = Facts::of(kind);
    let mut at = skip_if_exists(tokens, at);
    while let Some((name, end)) = qualified_name(tokens, at) {
        facts.write(name);
        let separated = tokens
            .get(end)
            .is_some_and(|t| t.is_punct(",") || t.is_word("TO"));
        if !list || !separated {
            break;
        }
        at = end + 1;
    }
    facts
}

fn table(verb: &str, tokens: &[Token], at: usize, text: &str, lexing: &Lexing) -> Facts {
    let mut facts = named(SqlKind::Ddl, tokens, at, verb == "DROP" || verb == "RENAME");
    if let Some(reason) = reaches_outside(tokens) {
        facts.raise(SqlKind::Admin, reason);
    }
    if verb != "CREATE" {
        return facts;
    }
    if let Some(like) = tokens.iter().position(|t| t.is_word("LIKE"))
        && let Some((source, _)) = qualified_name(tokens, like + 1)
    {
        facts.read(source);
    }
    let query = tokens.iter().enumerate().position(|(i, t)| {
        t.is_word("SELECT") || (t.is_word("WITH") && !system_versioning(tokens, i))
    });
    if let Some(query) = query {
        let mut inner = Facts::of(SqlKind::Select);
        scan(
            tokens.get(query..).unwrap_or_default(),
            text,
            lexing,
            &mut inner,
        );
        facts.absorb(inner);
    }
    facts
}
