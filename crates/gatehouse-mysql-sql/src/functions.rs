//! Function calls: which names are MariaDB built-ins without effects, which built-ins have
//! effects, and why any other call is unknown.
//!
//! An unqualified call to a built-in's name runs the built-in; any other name (and any
//! qualified `db.f(...)` or quoted `` `f`(...) `` call) may be a stored function, which can
//! write anything, so it is unknown. MariaDB reads a few built-in names (`COUNT`, `SUM`,
//! `SUBSTRING`, `NOW`, ... its "function keywords") as built-ins only when `(` follows at
//! once, or after spaces alone under `IGNORE_SPACE`; otherwise the name is an ordinary
//! identifier and `count (x)` calls a stored function `count`. Gatehouse does not keep that
//! list: any built-in name separated from its `(` by anything but spaces under
//! `IGNORE_SPACE` is unknown, except reserved words that are always keywords (`IF`, `LEFT`,
//! `CHAR`, ...).
//!
//! A few built-ins exist only with certain numbers of arguments (`point(x, y)`); called
//! otherwise, the name is a stored function's, so such calls are unknown too. `JSON_TABLE`
//! is a built-in only where a table is named (after `FROM`, `JOIN` or a comma there).
//!
//! Built-ins with effects: `LOAD_FILE` reads server files; `SLEEP`, `BENCHMARK`, the user
//! lock functions and the replication waits hold the server or other sessions → `Admin`;
//! sequence functions (`NEXTVAL`, `SETVAL`, `LASTVAL`, `NEXT VALUE FOR`, `PREVIOUS VALUE
//! FOR`) → `Update`.

use gatehouse_core::SqlKind;

/// Built-ins with an effect beyond reading, and what it is.
const EFFECTS: &[(&str, SqlKind, &str)] = &[
    (
        "load_file",
        SqlKind::Admin,
        "reads a file on the database server",
    ),
    ("sleep", SqlKind::Admin, "holds the server connection"),
    ("benchmark", SqlKind::Admin, "spends server time on purpose"),
    ("get_lock", SqlKind::Admin, "takes a server-wide user lock"),
    (
        "release_lock",
        SqlKind::Admin,
        "releases a server-wide user lock",
    ),
    (
        "release_all_locks",
        SqlKind::Admin,
        "releases server-wide user locks",
    ),
    (
        "is_free_lock",
        SqlKind::Admin,
        "inspects server-wide user locks",
    ),
    (
        "is_used_lock",
        SqlKind::Admin,
        "inspects server-wide user locks",
    ),
    ("master_pos_wait", SqlKind::Admin, "waits on replication"),
    ("master_gtid_wait", SqlKind::Admin, "waits on replication"),
    ("nextval", SqlKind::Update, "advances a sequence"),
    ("setval", SqlKind::Update, "sets a sequence"),
    (
        "lastval",
        SqlKind::Update,
        "reads a sequence's session state",
    ),
];

/// Built-ins that only compute a value, sorted for binary search.
const READ_ONLY: &[&str] = &[
    "abs",
    "acos",
    "add_months",
    "adddate",
    "addtime",
    "aes_decrypt",
    "aes_encrypt",
    "ascii",
    "asin",
    "astext",
    "atan",
    "atan2",
    "avg",
    "bin",
    "binlog_gtid_pos",
    "bit_and",
    "bit_count",
    "bit_length",
    "bit_or",
    "bit_xor",
    "cast",
    "ceil",
    "ceiling",
    "char",
    "char_length",
    "character_length",
    "charset",
    "chr",
    "coalesce",
    "coercibility",
    "collation",
    "column_add",
    "column_check",
    "column_create",
    "column_delete",
    "column_exists",
    "column_get",
    "column_json",
    "column_list",
    "compress",
    "concat",
    "concat_ws",
    "connection_id",
    "conv",
    "convert",
    "convert_tz",
    "cos",
    "cot",
    "count",
    "crc32",
    "crc32c",
    "cume_dist",
    "curdate",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "curtime",
    "database",
    "date",
    "date_add",
    "date_format",
    "date_sub",
    "datediff",
    "day",
    "dayname",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "decode",
    "default",
    "degrees",
    "dense_rank",
    "des_decrypt",
    "des_encrypt",
    "elt",
    "encode",
    "encrypt",
    "exp",
    "export_set",
    "extract",
    "extractvalue",
    "field",
    "find_in_set",
    "first_value",
    "floor",
    "format",
    "found_rows",
    "from_base64",
    "from_days",
    "from_unixtime",
    "geometrycollection",
    "geomfromtext",
    "get_format",
    "greatest",
    "group_concat",
    "hex",
    "hour",
    "if",
    "ifnull",
    "inet6_aton",
    "inet6_ntoa",
    "inet_aton",
    "inet_ntoa",
    "insert",
    "instr",
    "interval",
    "is_ipv4",
    "is_ipv4_compat",
    "is_ipv4_mapped",
    "is_ipv6",
    "isnull",
    "json_array",
    "json_array_append",
    "json_array_insert",
    "json_arrayagg",
    "json_compact",
    "json_contains",
    "json_contains_path",
    "json_depth",
    "json_detailed",
    "json_equals",
    "json_exists",
    "json_extract",
    "json_insert",
    "json_keys",
    "json_length",
    "json_loose",
    "json_merge",
    "json_merge_patch",
    "json_merge_preserve",
    "json_normalize",
    "json_object",
    "json_objectagg",
    "json_overlaps",
    "json_pretty",
    "json_query",
    "json_quote",
    "json_remove",
    "json_replace",
    "json_search",
    "json_set",
    "json_type",
    "json_unquote",
    "json_valid",
    "json_value",
    "lag",
    "last_day",
    "last_insert_id",
    "last_value",
    "lcase",
    "lead",
    "least",
    "left",
    "length",
    "lengthb",
    "linestring",
    "ln",
    "localtime",
    "localtimestamp",
    "locate",
    "log",
    "log10",
    "log2",
    "lower",
    "lpad",
    "ltrim",
    "make_set",
    "makedate",
    "maketime",
    "max",
    "md5",
    "median",
    "microsecond",
    "mid",
    "min",
    "minute",
    "mod",
    "month",
    "monthname",
    "multilinestring",
    "multipoint",
    "multipolygon",
    "natural_sort_key",
    "now",
    "nth_value",
    "ntile",
    "nullif",
    "nvl",
    "nvl2",
    "oct",
    "octet_length",
    "old_password",
    "ord",
    "password",
    "percent_rank",
    "percentile_cont",
    "percentile_disc",
    "period_add",
    "period_diff",
    "pi",
    "point",
    "polygon",
    "position",
    "pow",
    "power",
    "quarter",
    "quote",
    "radians",
    "rand",
    "random_bytes",
    "rank",
    "regexp_instr",
    "regexp_replace",
    "regexp_substr",
    "repeat",
    "replace",
    "reverse",
    "right",
    "round",
    "row_count",
    "row_number",
    "rpad",
    "rtrim",
    "schema",
    "sec_to_time",
    "second",
    "session_user",
    "sformat",
    "sha",
    "sha1",
    "sha2",
    "sign",
    "sin",
    "soundex",
    "space",
    "sqrt",
    "st_area",
    "st_astext",
    "st_aswkb",
    "st_aswkt",
    "st_buffer",
    "st_contains",
    "st_distance",
    "st_distance_sphere",
    "st_envelope",
    "st_geometrytype",
    "st_geomfromtext",
    "st_geomfromwkb",
    "st_intersects",
    "st_length",
    "st_srid",
    "st_within",
    "st_x",
    "st_y",
    "std",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "str_to_date",
    "strcmp",
    "subdate",
    "substr",
    "substring",
    "substring_index",
    "subtime",
    "sum",
    "sys_guid",
    "sysdate",
    "system_user",
    "tan",
    "time",
    "time_format",
    "time_to_sec",
    "timediff",
    "timestamp",
    "timestampadd",
    "timestampdiff",
    "to_base64",
    "to_char",
    "to_days",
    "to_seconds",
    "trim",
    "truncate",
    "ucase",
    "uncompress",
    "uncompressed_length",
    "unhex",
    "unix_timestamp",
    "updatexml",
    "upper",
    "user",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "uuid",
    "uuid_short",
    "values",
    "var_pop",
    "var_samp",
    "variance",
    "version",
    "week",
    "weekday",
    "weekofyear",
    "weight_string",
    "year",
    "yearweek",
];

/// Built-ins the grammar knows only with these numbers of arguments (inclusive): with any
/// other number, MariaDB reads the name as a stored function's (`point(1)` calls a stored
/// function `point`). Found by calling every known built-in with 0 to 5 arguments on
/// MariaDB 10.11 (`tests/server_agreement.rs` keeps checking it).
const ARITIES: &[(&str, usize, usize)] = &[
    ("geometrycollection", 1, usize::MAX),
    ("linestring", 1, usize::MAX),
    ("multilinestring", 1, usize::MAX),
    ("multipoint", 1, usize::MAX),
    ("multipolygon", 1, usize::MAX),
    ("point", 2, 2),
    ("polygon", 1, usize::MAX),
];

/// The names of the built-ins gatehouse knows, with or without effects.
pub fn known_builtins() -> impl Iterator<Item = &'static str> {
    READ_ONLY
        .iter()
        .copied()
        .chain(EFFECTS.iter().map(|(name, _, _)| *name))
}

/// Reserved words that are read as keywords whatever follows them, so a space before `(`
/// does not turn them into a stored function's name.
const ALWAYS_KEYWORDS: &[&str] = &[
    "char", "convert", "database", "default", "if", "insert", "interval", "left", "mod", "repeat",
    "replace", "right", "values",
];

/// What calling `name` (lower case, unqualified) with `arguments` arguments does: `None`
/// when it only computes a value, otherwise the kind and the reason. `spaced` says whether
/// something MariaDB does not ignore separates the name from its `(` (see the module
/// documentation).
pub fn call_effect(name: &str, arguments: usize, spaced: bool) -> Option<(SqlKind, String)> {
    if let Some((_, kind, what)) = EFFECTS.iter().find(|(known, _, _)| *known == name) {
        return Some((*kind, format!("calls {name}, which {what}")));
    }
    if READ_ONLY.binary_search(&name).is_err() {
        return Some((
            SqlKind::Unknown,
            format!("calls {name}, which is not a MariaDB built-in: a stored function may write"),
        ));
    }
    let arity = ARITIES.iter().find(|(known, _, _)| *known == name);
    if arity.is_some_and(|(_, least, most)| arguments < *least || arguments > *most) {
        return Some((
            SqlKind::Unknown,
            format!(
                "calls {name} with {arguments} arguments, which no built-in takes: MariaDB looks for a stored function"
            ),
        ));
    }
    if spaced && !ALWAYS_KEYWORDS.contains(&name) {
        return Some((
            SqlKind::Unknown,
            format!(
                "calls {name} with something other than IGNORE_SPACE spaces before '(': MariaDB may read it as a stored function"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_list_is_sorted() {
        assert!(READ_ONLY.windows(2).all(|w| w.first() < w.last()));
    }

    #[test]
    fn effects() {
        assert_eq!(call_effect("concat", 2, false), None);
        assert_eq!(call_effect("point", 2, false), None);
        assert_eq!(
            call_effect("point", 1, false).map(|e| e.0),
            Some(SqlKind::Unknown)
        );
        assert_eq!(
            call_effect("load_file", 1, false).map(|e| e.0),
            Some(SqlKind::Admin)
        );
        assert_eq!(
            call_effect("nextval", 1, false).map(|e| e.0),
            Some(SqlKind::Update)
        );
        assert_eq!(
            call_effect("evil", 1, false).map(|e| e.0),
            Some(SqlKind::Unknown)
        );
        assert_eq!(
            call_effect("count", 1, true).map(|e| e.0),
            Some(SqlKind::Unknown)
        );
        assert_eq!(call_effect("if", 3, true), None);
    }
}
