//! What changing a run-time setting does, for `SET`, `SET LOCAL`, `RESET`, `SET ... TO DEFAULT`
//! and `SET ... FROM CURRENT`, and for the defaults `ALTER ROLE ... SET` and `ALTER DATABASE
//! ... SET` give later sessions (those statements are `Dcl`/`Ddl` already; a setting below
//! raises them further).
//!
//! Most settings only tune the session, and their change is `Session`. These are not:
//!
//! - `role`, `session_authorization`: `Admin`, they change who the session is;
//!   `session_replication_role`: `Admin`, it disables triggers and foreign-key checks.
//! - Settings that decide how the server reads SQL text: `Unknown`. Gatehouse reads every
//!   statement with them pinned (`standard_conforming_strings` on, `backslash_quote` and
//!   `client_encoding` at what the session started with), so after a change the server would
//!   read a string literal differently from gatehouse, and a statement gatehouse judged a
//!   harmless `SELECT` could be something else to the server. That is any change of
//!   `backslash_quote`; `standard_conforming_strings` set to anything but on (`on`, `true`,
//!   `yes`, `1`, in any case); and `client_encoding` (also `SET NAMES`) set to an encoding
//!   whose multi-byte characters can contain the bytes of ASCII characters such as `'` and `\`
//!   (SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC, GB18030, JOHAB, under any spelling PostgreSQL
//!   accepts: it drops every character but letters and digits and ignores case, so
//!   `Shift_JIS`, `ms-kanji` and `Windows-936` are these). Setting any of the three back to a
//!   value gatehouse cannot see (`RESET`, `TO DEFAULT`, `FROM CURRENT`) counts as a change: the
//!   server's default may not be what gatehouse pinned.
//! - Superuser-only settings (`PGC_SUSET` and `PGC_SU_BACKEND` in PostgreSQL's GUC tables,
//!   15 to 18): `Admin`, whatever the value. The gateway may log in as a superuser, and these
//!   turn off what the server logs and tracks (every `log_*`, `track_*`, `debug_*` and
//!   `trace_*` setting, `compute_query_id`, `lc_messages`, ...), load libraries
//!   (`session_preload_libraries`, and `local_preload_libraries` although any user may set
//!   it), or weaken the server's own checks (`zero_damaged_pages`, `ignore_checksum_failure`,
//!   `allow_system_table_mods`, `lo_compat_privileges`, ...). The table below keeps each with
//!   its reason; settings of the `pgaudit`, `auto_explain` and `pg_stat_statements`
//!   extensions are included by prefix.
//! - `search_path` listing `pg_catalog` anywhere but first: `Admin`. A schema ahead of
//!   `pg_catalog` can shadow built-in functions and operators (`SET search_path = trap,
//!   pg_catalog, public` makes `upper('x')` call `trap.upper`), and the function names
//!   gatehouse judges would no longer be the functions that run. Listing `pg_temp` ahead of
//!   another schema is `Admin` too, as a deliberate request that the session's temporary
//!   relations and types shadow permanent ones (PostgreSQL already searches `pg_temp` first
//!   for those when it is not listed, and never for functions or operators, so this is about
//!   intent more than reach). PostgreSQL takes each value of `SET search_path` as one schema
//!   name, a quoted one included; a value holding a comma or a double quote is read here as
//!   the list it looks like as well, which is stricter.
//!
//! `RESET ALL` (and `DISCARD ALL`, which includes it) stays `Session`: connection poolers send
//! it between clients, and it returns every setting to the session's own default rather than
//! to a value a client chose.

use gatehouse_core::SqlKind;
use pg_query::NodeEnum;
use pg_query::protobuf::{VariableSetKind, VariableSetStmt, a_const};

/// Settings that change who the session is or what it enforces, and why.
const IDENTITY_SETTINGS: &[(&str, &str)] = &[
    ("role", "changes the session's role (SET ROLE / RESET ROLE)"),
    (
        "session_authorization",
        "changes the session's user (SET SESSION AUTHORIZATION)",
    ),
    (
        "session_replication_role",
        "changes session_replication_role, which disables triggers and foreign-key checks",
    ),
];

const LOGGING: &str = "changes what the server logs";
const TRACKING: &str = "changes what the server tracks in its statistics and activity views";
const DEVELOPER: &str = "is a developer setting that changes how the server runs or what it logs";
const LIBRARIES: &str = "loads shared libraries into the server";
const WAL: &str = "changes how the server writes its write-ahead log";
const JIT: &str = "changes how the server emits JIT-compiled code";

/// Superuser-only settings (and `local_preload_libraries`), and why changing them is
/// administrative. Names lowercase.
const SUPERUSER_SETTINGS: &[(&str, &str)] = &[
    ("backtrace_functions", LOGGING),
    ("compute_query_id", TRACKING),
    ("update_process_title", TRACKING),
    (
        "lc_messages",
        "changes the language of the server's log messages",
    ),
    ("session_preload_libraries", LIBRARIES),
    ("local_preload_libraries", LIBRARIES),
    (
        "dynamic_library_path",
        "changes where the server loads shared libraries from",
    ),
    (
        "extension_control_path",
        "changes where the server finds extensions",
    ),
    (
        "zero_damaged_pages",
        "makes the server zero out damaged pages, destroying their rows, instead of failing",
    ),
    (
        "ignore_checksum_failure",
        "makes the server carry on past data checksum failures",
    ),
    (
        "allow_system_table_mods",
        "allows changing the structure of the system catalogs",
    ),
    (
        "allow_in_place_tablespaces",
        "allows tablespaces inside the data directory",
    ),
    (
        "lo_compat_privileges",
        "turns off privilege checks on large objects",
    ),
    ("event_triggers", "can turn event triggers off"),
    (
        "deadlock_timeout",
        "changes how long lock waits last before they are checked and logged",
    ),
    (
        "max_stack_depth",
        "lets statements recurse deeper than the server's stack is known to allow",
    ),
    (
        "temp_file_limit",
        "changes the limit on the temporary file space a session may use",
    ),
    ("commit_delay", "delays the flush of every commit"),
    ("wal_compression", WAL),
    ("wal_init_zero", WAL),
    ("wal_recycle", WAL),
    ("wal_consistency_checking", WAL),
    ("wal_debug", DEVELOPER),
    ("jit_dump_bitcode", JIT),
    ("jit_debugging_support", JIT),
    ("jit_profiling_support", JIT),
];

/// Prefixes of setting names that are superuser-only (or only matter to what the server
/// records), and why.
const SUPERUSER_PREFIXES: &[(&str, &str)] = &[
    ("log_", LOGGING),
    ("trace_", LOGGING),
    ("debug_", DEVELOPER),
    ("track_", TRACKING),
    ("pgaudit.", "changes what pgaudit writes to the audit log"),
    (
        "auto_explain.",
        "changes which plans auto_explain writes to the server log",
    ),
    (
        "pg_stat_statements.",
        "changes what pg_stat_statements tracks",
    ),
];

/// Client encodings whose multi-byte characters can contain bytes of ASCII characters, by
/// every name PostgreSQL accepts for them, cleaned as PostgreSQL cleans encoding names
/// (letters and digits only, lowercase), with the encoding's own name. The `cp` names are
/// not PostgreSQL's (it refuses them) and are listed all the same.
const ASCII_UNSAFE_ENCODINGS: &[(&str, &str)] = &[
    ("sjis", "SJIS"),
    ("shiftjis", "SJIS"),
    ("mskanji", "SJIS"),
    ("win932", "SJIS"),
    ("windows932", "SJIS"),
    ("cp932", "SJIS"),
    ("shiftjis2004", "SHIFT_JIS_2004"),
    ("big5", "BIG5"),
    ("win950", "BIG5"),
    ("windows950", "BIG5"),
    ("cp950", "BIG5"),
    ("gbk", "GBK"),
    ("win936", "GBK"),
    ("windows936", "GBK"),
    ("cp936", "GBK"),
    ("uhc", "UHC"),
    ("win949", "UHC"),
    ("windows949", "UHC"),
    ("cp949", "UHC"),
    ("gb18030", "GB18030"),
    ("johab", "JOHAB"),
];

/// What a setting is being changed to.
enum NewValue {
    /// `SET name = a, b, ...`: each value's text, `None` where it is not a plain constant.
    Given(Vec<Option<String>>),
    /// `RESET name`, `SET name TO DEFAULT`, `SET name FROM CURRENT`: a value gatehouse cannot
    /// see.
    Unseen,
}

/// The kind a change of setting raises its statement to, and why; `None` for a setting whose
/// change is ordinary session housekeeping.
pub(crate) fn effect(set: &VariableSetStmt) -> Option<(SqlKind, String)> {
    let value = match VariableSetKind::try_from(set.kind) {
        // SET TRANSACTION ..., SET SESSION CHARACTERISTICS ...; RESET ALL (see the module
        // documentation)
        Ok(VariableSetKind::VarSetMulti | VariableSetKind::VarResetAll) => return None,
        Ok(VariableSetKind::VarSetValue) => NewValue::Given(set.args.iter().map(text).collect()),
        _ => NewValue::Unseen,
    };
    // setting names are case-insensitive: SET "ROLE" = x is SET ROLE x
    let name = set.name.to_ascii_lowercase();
    if let Some((_, why)) = IDENTITY_SETTINGS.iter().find(|(known, _)| *known == name) {
        return Some((SqlKind::Admin, (*why).to_owned()));
    }
    match name.as_str() {
        "standard_conforming_strings" => return standard_conforming_strings(&value),
        "backslash_quote" => {
            return Some((
                SqlKind::Unknown,
                "changes backslash_quote; gatehouse reads SQL with it pinned, so the server \
                 could read quotes in string literals differently from gatehouse"
                    .to_owned(),
            ));
        }
        "client_encoding" => return client_encoding(&value),
        "search_path" => return search_path(&value).map(|why| (SqlKind::Admin, why)),
        _ => {}
    }
    let why = SUPERUSER_SETTINGS
        .iter()
        .find(|(known, _)| *known == name)
        .or_else(|| {
            SUPERUSER_PREFIXES
                .iter()
                .find(|(prefix, _)| name.starts_with(prefix))
        })
        .map(|(_, why)| *why)?;
    Some((
        SqlKind::Admin,
        format!("changes {name}, a superuser setting that {why}"),
    ))
}

/// The text of one value of `SET`, as PostgreSQL would take it: identifiers and strings as
/// they are, numbers as written.
fn text(value: &pg_query::protobuf::Node) -> Option<String> {
    let Some(NodeEnum::AConst(constant)) = &value.node else {
        return None;
    };
    match &constant.val {
        Some(a_const::Val::Sval(string)) => Some(string.sval.clone()),
        Some(a_const::Val::Ival(integer)) => Some(integer.ival.to_string()),
        Some(a_const::Val::Fval(float)) => Some(float.fval.clone()),
        _ => None,
    }
}

/// A single value given as text, or `None` for anything else (no value, several, or one that
/// is not a constant).
fn single(value: &NewValue) -> Option<&str> {
    match value {
        NewValue::Given(values) => match values.as_slice() {
            [Some(only)] => Some(only.as_str()),
            _ => None,
        },
        NewValue::Unseen => None,
    }
}

fn standard_conforming_strings(value: &NewValue) -> Option<(SqlKind, String)> {
    let on = single(value).is_some_and(|value| {
        ["on", "true", "yes", "1"]
            .iter()
            .any(|on| value.eq_ignore_ascii_case(on))
    });
    if on {
        return None;
    }
    let change = match value {
        NewValue::Given(_) => "sets standard_conforming_strings to something other than on",
        NewValue::Unseen => "resets standard_conforming_strings to a default gatehouse cannot see",
    };
    Some((
        SqlKind::Unknown,
        format!(
            "{change}; gatehouse reads SQL with it pinned on, so the server could read \
             backslashes in string literals differently from gatehouse"
        ),
    ))
}

fn client_encoding(value: &NewValue) -> Option<(SqlKind, String)> {
    const PINNED: &str = "gatehouse reads SQL with the client encoding pinned, so the server \
                          could read the text differently from gatehouse";
    let change = match single(value) {
        Some(name) => {
            let encoding = ascii_unsafe_encoding(name)?;
            format!(
                "switches client_encoding to {name} ({encoding}), whose multi-byte characters \
                 can contain the bytes of ' and \\"
            )
        }
        None => match value {
            NewValue::Unseen => {
                "resets client_encoding to a default gatehouse cannot see".to_owned()
            }
            NewValue::Given(_) => {
                "sets client_encoding to a value gatehouse cannot read".to_owned()
            }
        },
    };
    Some((SqlKind::Unknown, format!("{change}; {PINNED}")))
}

/// The encoding an encoding name denotes, if it is one whose multi-byte characters can contain
/// ASCII bytes. Names are cleaned as PostgreSQL cleans them; characters beyond ASCII are
/// dropped too (a server in a single-byte locale would keep some, which can only make a name
/// match less), so that no spelling slips through.
fn ascii_unsafe_encoding(name: &str) -> Option<&'static str> {
    let cleaned: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    ASCII_UNSAFE_ENCODINGS
        .iter()
        .find(|(alias, _)| *alias == cleaned)
        .map(|(_, encoding)| *encoding)
}

/// Why a new `search_path` is administrative, if it is.
fn search_path(value: &NewValue) -> Option<String> {
    let NewValue::Given(values) = value else {
        return None;
    };
    let schemas: Vec<String> = values.iter().flatten().flat_map(|v| schemas(v)).collect();
    if let Some(first) = schemas
        .iter()
        .position(|schema| schema == "pg_catalog")
        .filter(|&position| position > 0)
        .and_then(|_| schemas.first())
    {
        return Some(format!(
            "puts schema {first} ahead of pg_catalog in search_path, so its functions and \
             operators can shadow the built-in ones (upper('x') would call {first}.upper)"
        ));
    }
    let last = schemas.len().saturating_sub(1);
    let temp_early = schemas
        .iter()
        .take(last)
        .any(|schema| schema == "pg_temp" || schema.starts_with("pg_temp_"));
    temp_early.then(|| {
        "puts pg_temp ahead of other schemas in search_path, asking for the session's \
         temporary relations and types to shadow permanent ones"
            .to_owned()
    })
}

/// The schemas one `search_path` value names: the value itself, or where it holds a comma or
/// a double quote, the list it spells (quoted names kept, unquoted ones lowercased). A value
/// with either character can never be `pg_catalog` or `pg_temp` itself.
fn schemas(value: &str) -> Vec<String> {
    if !value.contains([',', '"']) {
        return vec![value.to_owned()];
    }
    let mut names = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                current.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => names.push(std::mem::take(&mut current)),
            c if quoted => current.push(c),
            c if c.is_whitespace() => {}
            c => current.push(c.to_ascii_lowercase()),
        }
    }
    names.push(current);
    names
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn encoding_names_are_cleaned_like_postgresql() {
        assert_eq!(ascii_unsafe_encoding("Shift_JIS"), Some("SJIS"));
        assert_eq!(ascii_unsafe_encoding("MS-Kanji"), Some("SJIS"));
        assert_eq!(ascii_unsafe_encoding("Windows-936"), Some("GBK"));
        assert_eq!(
            ascii_unsafe_encoding("SHIFT_JIS_2004"),
            Some("SHIFT_JIS_2004")
        );
        assert_eq!(ascii_unsafe_encoding("sjis\u{e9}"), Some("SJIS"));
        assert_eq!(ascii_unsafe_encoding("UTF8"), None);
        assert_eq!(ascii_unsafe_encoding("LATIN1"), None);
        assert_eq!(ascii_unsafe_encoding("EUC_JP"), None);
    }

    #[test]
    fn search_path_values_that_look_like_lists_are_read_as_lists() {
        assert_eq!(schemas("trap"), ["trap"]);
        assert_eq!(schemas("Trap"), ["Trap"]);
        assert_eq!(schemas("trap, pg_catalog"), ["trap", "pg_catalog"]);
        assert_eq!(schemas("\"A\"\"b\", Pg_Catalog"), ["A\"b", "pg_catalog"]);
        assert_eq!(schemas("\"x,y\""), ["x,y"]);
    }
}
