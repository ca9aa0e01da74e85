//! `SET` in all its forms.
//!
//! - `SET PASSWORD`, `SET DEFAULT ROLE`: `Dcl`. `SET ROLE`: `Admin` (the session's
//!   privileges change). `SET [GLOBAL|SESSION] TRANSACTION ...`: `Session` (`Admin` when
//!   global).
//! - Assignments, comma-separated: a scope word (`GLOBAL`, `SESSION`, `LOCAL`, `PERSIST`,
//!   `PERSIST_ONLY`) applies to its assignment and the ones after it; `@@global.x`,
//!   `@@session.x`, `@@local.x`, `@@x` to its own. Global (or persisted, or structured
//!   `cache.x`) variables: `Admin`. User variables `@v` and ordinary session variables:
//!   `Session`, with the value's expression scanned ([`crate::scan`]: a subquery reads, a
//!   call may write). A few session variables only privileged accounts may set, which
//!   change replication and logging (`sql_log_bin`, `gtid_seq_no`, `pseudo_thread_id`,
//!   ...): `Admin`.
//! - What gatehouse follows, because it changes how later text is read: `sql_mode =
//!   '<literal>'` (or a name: `SET sql_mode = ANSI_QUOTES`) → `SessionChange::SqlMode`;
//!   `SET NAMES x`, `SET CHARACTER SET x`, `character_set_client = x` →
//!   `SessionChange::ClientCharset` (refused character sets are `Unknown`). Any other value
//!   (`DEFAULT`, a variable, an expression), another `character_set_*` or a
//!   `session_track_*` variable, more than one followed change in one statement, or one
//!   whose scope comes from an earlier `GLOBAL`: `Unknown`; and when it is `sql_mode` or the
//!   client character set gatehouse cannot follow, the rest of the message is unknown too
//!   (see `message`).
//! - `SET STATEMENT var = value [, ...] FOR stmt`: `stmt`'s classification, raised by what
//!   the assignments are (`Admin`, or `Unknown` for what gatehouse cannot read). The server
//!   reads the whole statement before it sets the variables, so `stmt` is read under the
//!   session's mode, not the stated `sql_mode` (`SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR
//!   SELECT "a"` returns the string `a`; see `tests/server_agreement.rs`). A character set
//!   stated there is `Unknown`.

use gatehouse_core::SqlKind;

use crate::facts::Facts;
use crate::scan::scan;
use crate::statements::classify_tokens;
use crate::token::{Token, TokenKind};
use crate::{Lexing, SessionChange, charset_is_refused};

/// Session variables whose setting changes replication or logging (privileged).
const ADMIN_VARIABLES: &[&str] = &[
    "binlog_annotate_row_events",
    "binlog_format",
    "debug",
    "debug_dbug",
    "gtid_domain_id",
    "gtid_seq_no",
    "pseudo_slave_mode",
    "pseudo_thread_id",
    "server_id",
    "skip_replication",
    "sql_log_bin",
    "sql_log_off",
    "wsrep_on",
    "wsrep_osu_method",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Session,
    Global,
}

pub fn classify(tokens: &[Token], text: &str, lexing: &Lexing, depth: u8) -> Facts {
    let word = |n: usize| tokens.get(n).map(Token::keyword).unwrap_or_default();
    match (word(1).as_str(), word(2).as_str()) {
        ("STATEMENT", _) => return statement(tokens, text, lexing, depth),
        ("PASSWORD", _) | ("DEFAULT", "ROLE") => return Facts::of(SqlKind::Dcl),
        ("ROLE", _) => {
            return Facts::because(
                SqlKind::Admin,
                "SET ROLE changes the privileges the session runs with",
            );
        }
        ("TRANSACTION", _) | ("SESSION" | "LOCAL", "TRANSACTION") => {
            return Facts::of(SqlKind::Session);
        }
        ("GLOBAL", "TRANSACTION") => {
            return Facts::because(
                SqlKind::Admin,
                "sets the server's default transaction characteristics",
            );
        }
        _ => {}
    }
    let mut facts = Facts::of(SqlKind::Session);
    let mut changes = Vec::new();
    let mut scope = Scope::Session;
    for item in split_items(tokens.get(1..).unwrap_or_default()) {
        let (mut item_facts, change) = assignment(item, &mut scope, text, lexing);
        item_facts.unreadable_after |= item_facts.kind == SqlKind::Unknown && changes_reading(item);
        facts.absorb(item_facts);
        changes.extend(change);
    }
    if changes.len() > 1 && changes.contains(&SessionChange::SqlModeFromServer) {
        // Only the server knows the mode; it reports the character set with it.
        facts.unreadable_after = true;
        facts.session = Some(SessionChange::SqlModeFromServer);
        return facts;
    }
    if changes.len() > 1 {
        let mut facts = Facts::unknown("changes more than one thing gatehouse follows in one SET");
        facts.unreadable_after = true;
        return facts;
    }
    facts.session = changes.pop();
    facts
}

/// Whether an assignment names what changes how text is read: `sql_mode` or the client's
/// character set.
fn changes_reading(item: &[Token]) -> bool {
    item.iter().any(|t| {
        [
            "SQL_MODE",
            "CHARACTER_SET_CLIENT",
            "NAMES",
            "CHARSET",
            "CHARACTER",
        ]
        .contains(&t.keyword().as_str())
    })
}

/// Splits at commas outside parentheses.
fn split_items(tokens: &[Token]) -> Vec<&[Token]> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        if token.is_punct("(") {
            depth += 1;
        } else if token.is_punct(")") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && token.is_punct(",") {
            items.push(tokens.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    items.push(tokens.get(start..).unwrap_or_default());
    items
}

/// One assignment: its facts, and what it changes that gatehouse follows.
fn assignment(
    item: &[Token],
    scope: &mut Scope,
    text: &str,
    lexing: &Lexing,
) -> (Facts, Option<SessionChange>) {
    let mut at = 0;
    let mut inherited = true;
    match item
        .first()
        .map(Token::keyword)
        .unwrap_or_default()
        .as_str()
    {
        "GLOBAL" | "PERSIST" | "PERSIST_ONLY" => {
            *scope = Scope::Global;
            inherited = false;
            at = 1;
        }
        "SESSION" | "LOCAL" => {
            *scope = Scope::Session;
            inherited = false;
            at = 1;
        }
        _ => {}
    }
    let mut item_scope = *scope;
    let rest = item.get(at..).unwrap_or_default();
    let word = |n: usize| rest.get(n).map(Token::keyword).unwrap_or_default();
    let charset_value = match (word(0).as_str(), word(1).as_str()) {
        ("NAMES", _) | ("CHARSET", _) => Some(rest.get(1..).unwrap_or_default()),
        ("CHARACTER", "SET") => Some(rest.get(2..).unwrap_or_default()),
        _ => None,
    };
    if let Some(value) = charset_value {
        let value = match value {
            [name, collate, _] if collate.is_word("COLLATE") => std::slice::from_ref(name),
            other => other,
        };
        return client_charset(
            value,
            item_scope == Scope::Global || inherited && *scope == Scope::Global,
        );
    }
    if let Some(first) = rest.first()
        && first.kind == TokenKind::UserVar
    {
        return value_facts(SqlKind::Session, rest.get(2..), rest.get(1), text, lexing);
    }
    let mut name_at = 0;
    if rest.first().is_some_and(|t| t.is_punct("@@")) {
        inherited = false;
        name_at = 1;
        item_scope = Scope::Session;
        let scoped = rest.get(2).is_some_and(|t| t.is_punct("."));
        if scoped {
            let qualifier = word(1);
            item_scope = if qualifier == "GLOBAL" {
                Scope::Global
            } else {
                Scope::Session
            };
            if !["GLOBAL", "SESSION", "LOCAL"].contains(&qualifier.as_str()) {
                return (
                    Facts::because(
                        SqlKind::Admin,
                        "sets a structured (key cache) variable, which is global",
                    ),
                    None,
                );
            }
            name_at = 3;
        }
    }
    let Some(name) = rest.get(name_at).filter(|t| t.is_name()) else {
        return (Facts::unknown("a SET gatehouse cannot read"), None);
    };
    let name = name.value.to_lowercase();
    if rest.get(name_at + 1).is_some_and(|t| t.is_punct(".")) {
        return (
            Facts::because(
                SqlKind::Admin,
                "sets a structured (key cache) variable, which is global",
            ),
            None,
        );
    }
    let operator = rest.get(name_at + 1);
    let value = rest.get(name_at + 2..);
    let followed = name == "sql_mode"
        || name.starts_with("character_set_")
        || name.starts_with("session_track_");
    if followed && inherited && *scope == Scope::Global {
        return (
            Facts::unknown(format!("sets {name} in a scope gatehouse cannot tell")),
            None,
        );
    }
    if item_scope == Scope::Global {
        return (
            Facts::because(SqlKind::Admin, format!("sets the global variable {name}")),
            None,
        );
    }
    let assigns = operator.is_some_and(|t| t.is_punct("=") || t.is_punct(":="));
    if !assigns {
        return (Facts::unknown("a SET gatehouse cannot read"), None);
    }
    match name.as_str() {
        "sql_mode" => match value {
            Some([literal])
                if (literal.kind == TokenKind::Str || literal.is_name())
                    && !literal.is_word("DEFAULT") =>
            {
                (
                    literal_facts(),
                    Some(SessionChange::SqlMode(literal.value.clone())),
                )
            }
            _ => {
                let (mut facts, _) = match value {
                    Some([word]) if word.is_word("DEFAULT") => (Facts::of(SqlKind::Session), None),
                    _ => value_facts(SqlKind::Session, value, operator, text, lexing),
                };
                facts.unreadable_after = true;
                (facts, Some(SessionChange::SqlModeFromServer))
            }
        },
        "character_set_client" => client_charset(value.unwrap_or_default(), false),
        _ if followed => (
            Facts::unknown(format!(
                "sets {name}, which gatehouse reads the session with pinned"
            )),
            None,
        ),
        _ if ADMIN_VARIABLES.contains(&name.as_str()) => (
            Facts::because(
                SqlKind::Admin,
                format!("sets {name}, which changes replication or logging"),
            ),
            None,
        ),
        _ => value_facts(SqlKind::Session, value, operator, text, lexing),
    }
}

/// A session assignment whose literal value is what it does.
fn literal_facts() -> Facts {
    let mut facts = Facts::of(SqlKind::Session);
    facts.literals_matter = true;
    facts
}

/// An assignment of kind `kind` whose value expression is `value`.
fn value_facts(
    kind: SqlKind,
    value: Option<&[Token]>,
    operator: Option<&Token>,
    text: &str,
    lexing: &Lexing,
) -> (Facts, Option<SessionChange>) {
    let assigns = operator.is_some_and(|t| t.is_punct("=") || t.is_punct(":="));
    match value {
        Some(value) if assigns && !value.is_empty() => {
            let mut facts = Facts::of(kind);
            scan(value, text, lexing, &mut facts);
            (facts, None)
        }
        _ => (Facts::unknown("a SET gatehouse cannot read"), None),
    }
}

/// A client character set change to the one named by `value`.
fn client_charset(value: &[Token], global: bool) -> (Facts, Option<SessionChange>) {
    if global {
        return (
            Facts::unknown("sets a character set in a scope gatehouse cannot tell"),
            None,
        );
    }
    match value {
        [name] if (name.kind == TokenKind::Str || name.is_name()) && !name.is_word("DEFAULT") => {
            let charset = name.value.to_lowercase();
            if charset_is_refused(&charset) {
                (
                    Facts::unknown(format!(
                        "sets the client character set to {charset}, whose characters can hide quotes and backslashes"
                    )),
                    None,
                )
            } else {
                (literal_facts(), Some(SessionChange::ClientCharset(charset)))
            }
        }
        _ => (
            Facts::unknown("sets the client character set to a value gatehouse cannot read"),
            None,
        ),
    }
}

/// `SET STATEMENT var = value [, ...] FOR stmt`.
fn statement(tokens: &[Token], text: &str, lexing: &Lexing, depth: u8) -> Facts {
    let mut paren_depth = 0usize;
    let for_at = tokens.iter().position(|t| {
        if t.is_punct("(") {
            paren_depth += 1;
        } else if t.is_punct(")") {
            paren_depth = paren_depth.saturating_sub(1);
        }
        paren_depth == 0 && t.is_word("FOR")
    });
    let Some(for_at) = for_at else {
        return Facts::unknown("a SET STATEMENT gatehouse cannot read");
    };
    let mut facts = classify_tokens(
        tokens.get(for_at + 1..).unwrap_or_default(),
        text,
        lexing,
        depth + 1,
    );
    let mut scope = Scope::Session;
    for item in split_items(tokens.get(2..for_at).unwrap_or_default()) {
        let (item_facts, change) = assignment(item, &mut scope, text, lexing);
        match change {
            // The statement was read under the session's mode; the stated one only applies
            // while it runs.
            None | Some(SessionChange::SqlMode(_) | SessionChange::SqlModeFromServer) => {
                facts.absorb(item_facts)
            }
            Some(_) => {
                return Facts::unknown(
                    "SET STATEMENT changes the character set its statement runs with",
                );
            }
        }
    }
    facts
}
