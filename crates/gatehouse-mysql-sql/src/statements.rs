//! The allowlist: each statement form whose effect is known, by its first words. Anything
//! else is `Unknown` with the reason "not a statement form gatehouse knows".
//!
//! - `SELECT`, `WITH`, `TABLE t`, `VALUES`, `(SELECT ...)`: `Select`, refined by the
//!   [`crate::scan`] (row locks, `INTO OUTFILE`, calls).
//! - `INSERT`: `Insert`; `ON DUPLICATE KEY UPDATE` changes existing rows: `Update`.
//!   `REPLACE` deletes the rows a new row conflicts with: `Delete`.
//! - `UPDATE` and `DELETE` (single and multi-table): `Update`/`Delete`, `all_rows` as in
//!   [`crate::where_clause`].
//! - `CREATE`/`ALTER`/`DROP`/`RENAME`/`TRUNCATE`: see [`crate::ddl`]. `GRANT`/`REVOKE`:
//!   `Dcl`. `SET`: see [`crate::set`].
//! - `USE db`, transaction control (`BEGIN [WORK]`, `START TRANSACTION ...`, `COMMIT`,
//!   `ROLLBACK [TO SAVEPOINT]`, `SAVEPOINT`, `RELEASE SAVEPOINT`), `UNLOCK TABLES`, `HELP`
//!   (it reads only the server's own help text, no data of any database): `Session`. `BEGIN` followed by anything but `WORK` is a compound statement
//!   (`BEGIN NOT ATOMIC ... END`): `Unknown`.
//! - `SHOW`: `Session` for settings, status and diagnostics (`VARIABLES`, `STATUS`,
//!   `WARNINGS`, `ERRORS`, `COLLATION`, `CHARACTER SET`, `ENGINES`, `PRIVILEGES`, ...), as a
//!   PostgreSQL `SHOW` is; `Admin` for what shows other sessions or the replication stream
//!   (`PROCESSLIST`, `BINLOG EVENTS`, `RELAYLOG EVENTS`, `MASTER`/`SLAVE`/`REPLICA`/`BINARY`
//!   logs and status, `ENGINE ... STATUS`, `EXPLAIN`/`ANALYZE FOR`) and for `SHOW CREATE
//!   USER` (a password hash); otherwise `Select`: it reads the catalogue as a query on
//!   `information_schema` does, with the table it names as read (`SHOW CREATE TABLE t`,
//!   `SHOW COLUMNS FROM t [FROM db]`).
//! - `DESCRIBE`/`DESC`/`EXPLAIN t`: `Select`, reads `t`. `EXPLAIN stmt` only plans: `Select`
//!   with the inner statement's tables as reads, but an inner `Unknown` or `Admin` (a call
//!   the optimiser may evaluate) stays. `EXPLAIN ANALYZE stmt` and `ANALYZE stmt` run it:
//!   the inner statement's classification. `EXPLAIN FOR CONNECTION`: `Admin`.
//! - `PREPARE name FROM '<literal>'`: the literal's statement (exactly one), with
//!   `SessionChange::Prepare`; a prepared text that changes session state gatehouse follows,
//!   or `FROM` anything but one string literal: `Unknown`. `EXECUTE IMMEDIATE '<literal>'`:
//!   the literal's statement. `EXECUTE name`: `Unknown` with `SessionChange::Execute` (the
//!   adapter resolves it; what follows it in the message is unknown, as a statement
//!   prepared from text gatehouse could not read may set `sql_mode`).
//!   `DEALLOCATE`/`DROP PREPARE name`: `Session`. Prepared statement
//!   names are case-insensitive in MariaDB and reported lowercased.
//! - `LOAD DATA`/`LOAD XML`: `Admin` (a server file, or with `LOCAL` a client file the
//!   server asks for). `LOCK TABLES`: `Admin`, as PostgreSQL's `LOCK TABLE` is: explicit
//!   table locks block other sessions.
//! - Server administration (`KILL`, `FLUSH`, `SHUTDOWN`, `RESET`, `PURGE`, `CHANGE MASTER`,
//!   `START`/`STOP SLAVE|REPLICA`, `INSTALL`/`UNINSTALL`, `OPTIMIZE`/`REPAIR`/`ANALYZE`/
//!   `CHECK`/`CHECKSUM TABLE`, `CACHE INDEX`, `LOAD INDEX`, `BACKUP STAGE`): `Admin`.
//! - `CALL`, `DO`, `HANDLER`, `XA`, `BINLOG`: `Unknown`.

use gatehouse_core::SqlKind;

use crate::facts::Facts;
use crate::scan::{qualified_name, scan, scan_table_list};
use crate::token::{Token, TokenKind};
use crate::where_clause::reaches_all_rows;
use crate::{Lexing, SessionChange, ddl, set};

/// How deep `PREPARE`, `EXECUTE IMMEDIATE`, `EXPLAIN` and `SET STATEMENT` may nest.
const MAX_DEPTH: u8 = 4;

/// Classifies one statement's tokens; `text` is the message the token spans point into.
pub fn classify_tokens(tokens: &[Token], text: &str, lexing: &Lexing, depth: u8) -> Facts {
    if depth > MAX_DEPTH {
        return Facts::unknown("nests statements deeper than gatehouse reads");
    }
    let Some(first) = tokens.first() else {
        return Facts::unknown("an empty statement");
    };
    let word = |n: usize| tokens.get(n).map(Token::keyword).unwrap_or_default();
    match first.keyword().as_str() {
        "SELECT" | "WITH" | "TABLE" | "VALUES" => query(tokens, text, lexing),
        "" if first.is_punct("(") => query(tokens, text, lexing),
        "INSERT" => insert(tokens, text, lexing, false),
        "REPLACE" => insert(tokens, text, lexing, true),
        "UPDATE" => update(tokens, text, lexing),
        "DELETE" => delete(tokens, text, lexing),
        "CREATE" | "ALTER" | "DROP" | "RENAME" | "TRUNCATE" => ddl::classify(tokens, text, lexing),
        "GRANT" | "REVOKE" => Facts::of(SqlKind::Dcl),
        "SET" => set::classify(tokens, text, lexing, depth),
        "USE" => use_database(tokens),
        "BEGIN" => match (word(1).as_str(), tokens.len()) {
            (_, 1) | ("WORK", 2) => Facts::of(SqlKind::Session),
            _ => Facts::unknown("BEGIN followed by more than WORK is a compound statement"),
        },
        "START" => match word(1).as_str() {
            "TRANSACTION" => transaction_control(tokens),
            "SLAVE" | "REPLICA" | "ALL" => {
                Facts::because(SqlKind::Admin, "starts replication on the server")
            }
            _ => Facts::unknown("not a statement form gatehouse knows"),
        },
        "STOP" => Facts::because(SqlKind::Admin, "stops replication on the server"),
        "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" => transaction_control(tokens),
        "UNLOCK" if word(1) == "TABLES" || word(1) == "TABLE" => Facts::of(SqlKind::Session),
        "LOCK" => Facts::because(
            SqlKind::Admin,
            "LOCK TABLES takes explicit table locks that block other sessions",
        ),
        "HELP" => Facts::of(SqlKind::Session),
        "SHOW" => show(tokens),
        "DESCRIBE" | "DESC" | "EXPLAIN" => explain(tokens, text, lexing, depth),
        "ANALYZE" => analyze(tokens, text, lexing, depth),
        "PREPARE" => prepare(tokens, lexing, depth),
        "EXECUTE" => execute(tokens, lexing, depth),
        "DEALLOCATE" if word(1) == "PREPARE" => deallocate(tokens.get(2)),
        "LOAD" => load(tokens),
        "KILL" => Facts::because(SqlKind::Admin, "KILL ends another session or query"),
        "FLUSH" | "RESET" | "PURGE" | "SHUTDOWN" | "CHANGE" | "BACKUP" => Facts::because(
            SqlKind::Admin,
            format!("{} acts on the server", first.value.to_uppercase()),
        ),
        "INSTALL" | "UNINSTALL" => Facts::because(
            SqlKind::Admin,
            "loads or unloads a plugin library in the server",
        ),
        "OPTIMIZE" | "REPAIR" | "CHECK" | "CHECKSUM" | "CACHE" => Facts::because(
            SqlKind::Admin,
            format!("{} is server maintenance", first.value.to_uppercase()),
        ),
        "CALL" => Facts::unknown("CALL runs a stored procedure, which may do anything"),
        "DO" => Facts::unknown("DO evaluates expressions gatehouse does not judge"),
        "HANDLER" => {
            Facts::unknown("HANDLER reads tables below SQL, which gatehouse does not follow")
        }
        "XA" => Facts::unknown("XA transactions outlive the session"),
        "BINLOG" => Facts::unknown("BINLOG replays encoded replication events"),
        _ => Facts::unknown("not a statement form gatehouse knows"),
    }
}

fn query(tokens: &[Token], text: &str, lexing: &Lexing) -> Facts {
    let mut facts = Facts::of(SqlKind::Select);
    scan(tokens, text, lexing, &mut facts);
    facts
}

/// Index of the first token from `at` on that is not one of `words`.
fn skip_words(tokens: &[Token], mut at: usize, words: &[&str]) -> usize {
    while tokens
        .get(at)
        .is_some_and(|t| words.contains(&t.keyword().as_str()))
    {
        at += 1;
    }
    at
}

fn insert(tokens: &[Token], text: &str, lexing: &Lexing, replace: bool) -> Facts {
    let at = skip_words(
        tokens,
        1,
        &["LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE", "INTO"],
    );
    let Some((table, end)) = qualified_name(tokens, at) else {
        return Facts::unknown("an INSERT without a table gatehouse can read");
    };
    let mut facts = Facts::of(SqlKind::Insert);
    facts.write(table);
    if replace {
        facts.raise(
            SqlKind::Delete,
            "REPLACE deletes the rows a new row conflicts with",
        );
    }
    let rest = tokens.get(end..).unwrap_or_default();
    scan(rest, text, lexing, &mut facts);
    let duplicate = rest.windows(3).any(|w| {
        matches!(w, [a, b, c] if a.is_word("DUPLICATE") && b.is_word("KEY") && c.is_word("UPDATE"))
    });
    if duplicate {
        facts.raise(
            SqlKind::Update,
            "ON DUPLICATE KEY UPDATE changes existing rows",
        );
    }
    facts
}

fn update(tokens: &[Token], text: &str, lexing: &Lexing) -> Facts {
    let at = skip_words(tokens, 1, &["LOW_PRIORITY", "IGNORE"]);
    let mut facts = Facts::of(SqlKind::Update);
    let mut targets = Facts::of(SqlKind::Update);
    scan_table_list(tokens, at, &mut targets);
    targets
        .reads
        .into_iter()
        .for_each(|table| facts.write(table));
    if facts.writes.is_empty() {
        return Facts::unknown("an UPDATE without a table gatehouse can read");
    }
    scan(
        tokens.get(at..).unwrap_or_default(),
        text,
        lexing,
        &mut facts,
    );
    facts.all_rows = reaches_all_rows(tokens);
    facts
}

fn delete(tokens: &[Token], text: &str, lexing: &Lexing) -> Facts {
    let at = skip_words(tokens, 1, &["LOW_PRIORITY", "QUICK", "IGNORE"]);
    let mut facts = Facts::of(SqlKind::Delete);
    let mut targets = Facts::of(SqlKind::Delete);
    let from_first = tokens.get(at).is_some_and(|t| t.is_word("FROM"));
    let list = if from_first { at + 1 } else { at };
    let after_targets = scan_table_list(tokens, list, &mut targets);
    targets
        .reads
        .into_iter()
        .map(|name| name.strip_suffix(".*").map(str::to_owned).unwrap_or(name))
        .for_each(|table| facts.write(table));
    if facts.writes.is_empty() {
        return Facts::unknown("a DELETE without a table gatehouse can read");
    }
    let rest = tokens.get(after_targets..).unwrap_or_default();
    if rest.first().is_some_and(|t| t.is_word("USING")) {
        scan_table_list(rest, 1, &mut facts);
    }
    scan(rest, text, lexing, &mut facts);
    facts.all_rows = reaches_all_rows(tokens);
    facts
}

fn use_database(tokens: &[Token]) -> Facts {
    match tokens {
        [_, name] if name.is_name() => {
            let mut facts = Facts::of(SqlKind::Session);
            facts.session = Some(SessionChange::UseDatabase(name.value.clone()));
            facts
        }
        _ => Facts::unknown("a USE gatehouse cannot read"),
    }
}

/// Transaction control holds only words (and `=` for `START TRANSACTION` characteristics).
fn transaction_control(tokens: &[Token]) -> Facts {
    if tokens.iter().all(|t| t.is_name() || t.is_punct(",")) {
        Facts::of(SqlKind::Session)
    } else {
        Facts::unknown("transaction control gatehouse cannot read")
    }
}

fn show(tokens: &[Token]) -> Facts {
    let words: Vec<String> = tokens.iter().skip(1).map(Token::keyword).collect();
    let word = |n: usize| words.get(n).map(String::as_str).unwrap_or_default();
    let subject = match word(0) {
        "GLOBAL" | "SESSION" | "LOCAL" | "FULL" => word(1),
        other => other,
    };
    if subject == "CREATE" && word(1) == "USER" {
        return Facts::because(SqlKind::Admin, "SHOW CREATE USER shows a password hash");
    }
    match subject {
        "VARIABLES" | "STATUS" | "WARNINGS" | "ERRORS" | "COUNT" | "COLLATION" | "CHARACTER"
        | "CHARSET" | "ENGINES" | "STORAGE" | "PRIVILEGES" | "PROFILE" | "PROFILES" | "AUTHORS"
        | "CONTRIBUTORS" | "PLUGINS" => Facts::of(SqlKind::Session),
        "PROCESSLIST" | "BINLOG" | "RELAYLOG" | "MASTER" | "SLAVE" | "REPLICA" | "BINARY"
        | "ENGINE" | "EXPLAIN" | "ANALYZE" | "ALL" => Facts::because(
            SqlKind::Admin,
            "SHOW of other sessions, the replication stream or engine internals",
        ),
        _ => {
            let mut facts = Facts::of(SqlKind::Select);
            let named = tokens.iter().enumerate().find_map(|(i, t)| {
                let creates = i == 2
                    && tokens.get(1).is_some_and(|t| t.is_word("CREATE"))
                    && (t.is_word("TABLE") || t.is_word("VIEW"));
                let of_a_table =
                    ["COLUMNS", "FIELDS", "INDEX", "INDEXES", "KEYS"].contains(&subject);
                let introduces =
                    (of_a_table && ["FROM", "IN"].contains(&t.keyword().as_str())) || creates;
                introduces.then(|| qualified_name(tokens, i + 1)).flatten()
            });
            // `SHOW COLUMNS FROM t FROM db`: the second `FROM`/`IN` names the database.
            let named = named.map(|(name, end)| {
                let database = tokens
                    .get(end)
                    .filter(|t| t.is_word("FROM") || t.is_word("IN"))
                    .and_then(|_| qualified_name(tokens, end + 1));
                match database {
                    Some((database, _)) => (format!("{database}.{name}"), end),
                    None => (name, end),
                }
            });
            if let Some((name, _)) = named {
                facts.read(name);
            }
            facts
        }
    }
}

fn explain(tokens: &[Token], text: &str, lexing: &Lexing, depth: u8) -> Facts {
    let mut at = skip_words(tokens, 1, &["EXTENDED", "PARTITIONS"]);
    if tokens.get(at).is_some_and(|t| t.is_word("FORMAT")) {
        at += 3;
    }
    let Some(next) = tokens.get(at) else {
        return Facts::unknown("an EXPLAIN gatehouse cannot read");
    };
    let inner = tokens.get(at..).unwrap_or_default();
    match next.keyword().as_str() {
        "ANALYZE" => classify_tokens(
            tokens.get(at + 1..).unwrap_or_default(),
            text,
            lexing,
            depth + 1,
        ),
        "FOR" => Facts::because(
            SqlKind::Admin,
            "EXPLAIN FOR CONNECTION shows another session's statement",
        ),
        "SELECT" | "WITH" | "TABLE" | "VALUES" | "INSERT" | "REPLACE" | "UPDATE" | "DELETE" => {
            planned(classify_tokens(inner, text, lexing, depth + 1))
        }
        "" if next.is_punct("(") => planned(classify_tokens(inner, text, lexing, depth + 1)),
        _ => match qualified_name(tokens, at) {
            Some((table, _)) => {
                let mut facts = Facts::of(SqlKind::Select);
                facts.read(table);
                facts
            }
            None => Facts::unknown("an EXPLAIN gatehouse cannot read"),
        },
    }
}

/// What planning (not running) a statement with `inner`'s facts does.
fn planned(inner: Facts) -> Facts {
    let mut facts = Facts::of(SqlKind::Select);
    if matches!(inner.kind, SqlKind::Unknown | SqlKind::Admin) {
        facts.raise(
            inner.kind,
            inner
                .reason
                .unwrap_or_else(|| "plans a statement gatehouse cannot read".to_owned()),
        );
    }
    inner
        .reads
        .into_iter()
        .chain(inner.writes)
        .for_each(|t| facts.read(t));
    inner.functions.into_iter().for_each(|f| facts.call(f));
    facts
}

fn analyze(tokens: &[Token], text: &str, lexing: &Lexing, depth: u8) -> Facts {
    let mut at = skip_words(tokens, 1, &["NO_WRITE_TO_BINLOG", "LOCAL"]);
    if tokens
        .get(at)
        .is_some_and(|t| t.is_word("TABLE") || t.is_word("TABLES"))
    {
        return Facts::because(SqlKind::Admin, "ANALYZE TABLE is server maintenance");
    }
    if tokens.get(at).is_some_and(|t| t.is_word("FORMAT")) {
        at += 3;
    }
    classify_tokens(
        tokens.get(at..).unwrap_or_default(),
        text,
        lexing,
        depth + 1,
    )
}

/// A prepared statement's name as the session knows it (case-insensitive).
fn statement_name(token: Option<&Token>) -> Option<String> {
    token
        .filter(|t| t.is_name())
        .map(|t| t.value.to_lowercase())
}

/// The one statement in a string literal's text, classified.
fn literal_statement(literal: &str, lexing: &Lexing, depth: u8) -> Facts {
    let mut facts = match crate::lexer::statements(literal, lexing) {
        Ok(statements) => match statements.as_slice() {
            [only] => classify_tokens(&only.tokens, literal, lexing, depth + 1),
            _ => Facts::unknown("its text is not exactly one statement"),
        },
        Err(error) => Facts::unknown(format!(
            "its text cannot be read as the server reads it: {error}"
        )),
    };
    facts.literals_matter = true;
    facts
}

/// The value of a statement's last part when it is exactly one string literal.
fn single_literal(rest: &[Token]) -> Option<&str> {
    match rest {
        [literal] if literal.kind == TokenKind::Str => Some(&literal.value),
        _ => None,
    }
}

fn prepare(tokens: &[Token], lexing: &Lexing, depth: u8) -> Facts {
    let Some(name) = statement_name(tokens.get(1)) else {
        return Facts::unknown("a PREPARE gatehouse cannot read");
    };
    let from = tokens.get(2).is_some_and(|t| t.is_word("FROM"));
    let literal = single_literal(tokens.get(3..).unwrap_or_default()).filter(|_| from);
    let mut facts = match literal {
        Some(literal) => literal_statement(literal, lexing, depth),
        None => Facts::unknown("prepares text gatehouse cannot read (not one string literal)"),
    };
    if facts.session.is_some() {
        facts = Facts::unknown("prepares a statement that changes session state gatehouse follows");
    }
    facts.session = Some(SessionChange::Prepare { name });
    facts
}

fn execute(tokens: &[Token], lexing: &Lexing, depth: u8) -> Facts {
    if tokens.get(1).is_some_and(|t| t.is_word("IMMEDIATE")) {
        let rest = tokens.get(2..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|t| t.is_word("USING"))
            .unwrap_or(rest.len());
        return match single_literal(rest.get(..end).unwrap_or_default()) {
            Some(literal) => literal_statement(literal, lexing, depth),
            None => {
                let mut facts = Facts::unknown(
                    "EXECUTE IMMEDIATE of text gatehouse cannot read (not one string literal)",
                );
                facts.unreadable_after = true;
                facts
            }
        };
    }
    let Some(name) = statement_name(tokens.get(1)) else {
        return Facts::unknown("an EXECUTE gatehouse cannot read");
    };
    let mut facts = Facts::unknown(format!("runs the prepared statement {name}"));
    // A statement prepared from text gatehouse could not read may set sql_mode.
    facts.unreadable_after = true;
    facts.session = Some(SessionChange::Execute { name });
    facts
}

/// `DEALLOCATE PREPARE name` / `DROP PREPARE name`, given the name's token.
pub fn deallocate(name: Option<&Token>) -> Facts {
    match statement_name(name) {
        Some(name) => {
            let mut facts = Facts::of(SqlKind::Session);
            facts.session = Some(SessionChange::Deallocate { name });
            facts
        }
        None => Facts::unknown("a DEALLOCATE gatehouse cannot read"),
    }
}

fn load(tokens: &[Token]) -> Facts {
    let second = tokens.get(1).map(Token::keyword).unwrap_or_default();
    if second == "INDEX" {
        return Facts::because(
            SqlKind::Admin,
            "LOAD INDEX INTO CACHE is server maintenance",
        );
    }
    if second != "DATA" && second != "XML" {
        return Facts::unknown("not a statement form gatehouse knows");
    }
    let local = tokens.iter().take(5).any(|t| t.is_word("LOCAL"));
    let mut facts = Facts::because(
        SqlKind::Admin,
        if local {
            crate::LOCAL_INFILE
        } else {
            "LOAD ... INFILE reads a file on the database server"
        },
    );
    let table = tokens
        .iter()
        .position(|t| t.is_word("TABLE"))
        .and_then(|at| qualified_name(tokens, at + 1));
    if let Some((table, _)) = table {
        facts.write(table);
    }
    facts
}
