//! Built-in and common extension functions whose call changes what a statement does.
//!
//! A `SELECT` that calls `pg_read_file()` reads the server's files; one that calls `nextval()`
//! changes a sequence. This table raises the statement's kind for such calls:
//!
//! - `Update`: changes sequences or large objects (`nextval`, `setval`, `lo_unlink`, ...), or
//!   assigns the transaction an ID (`txid_current`, `pg_current_xact_id`), which only writing
//!   transactions need. The `_if_assigned` variants never assign one and stay reads.
//! - `Ddl`: creates schema objects (`pg_import_system_collations` creates collations).
//! - `Admin`: reaches outside the database, changes the server or affects other sessions:
//!   server files and directories, the server's configuration files (`pg_hba_file_rules`,
//!   `pg_ident_file_mappings`, `pg_show_all_file_settings`, `pg_config`), `dblink`,
//!   signalling backends, WAL, backup and replication control (slots, origins, reading decoded
//!   changes), `set_config` which can change the role, resetting statistics, `pg_notify` like
//!   `NOTIFY`, advisory locks (taken or released: they block other sessions like `LOCK TABLE`),
//!   index and statistics maintenance (`brin_summarize_*`, `gin_clean_pending_list`,
//!   `pg_restore_*_stats`, `pg_clear_*_stats`, like `VACUUM` and `ANALYZE`), and extension
//!   functions that bypass the executor (`get_raw_page`, `heap_force_kill`, ...).
//! - `Unknown`: runs SQL given as text, or reads relations named by text, where gatehouse cannot
//!   see what is read or run (`query_to_xml`, `table_to_xml`, `ts_stat`, `crosstab`, ...).
//!
//! The built-ins listed are PostgreSQL's (15 to 18) volatile functions a reader may call whose
//! effect reaches beyond the statement's own rows; those left out have no effect beyond the
//! session (`pg_sleep`, `pg_export_snapshot`, `pg_stat_clear_snapshot`), only read
//! (`currval`, `lo_get`, `pg_stat_get_*`), or refuse to run outside their own context
//! (`binary_upgrade_*`, `pg_extension_config_dump`, event-trigger functions). Reading the
//! catalogs that hold secrets is covered by the `catalogs` module, not here.
//!
//! Matching is on the last part of the name, case-insensitively, whatever the schema: the
//! functions from extensions (`dblink`, `adminpack`, `tablefunc`) live in whatever schema the
//! extension was installed into, so `public.dblink_exec(...)` must match as much as
//! `dblink_exec(...)` and `pg_catalog.pg_read_file(...)` as much as `pg_read_file(...)`.
//! A user function that happens to share a name is treated as the built-in: too strict, never
//! too lax.
//!
//! Calls are found where they are written as calls (`f(x)`) and where they are written in
//! attribute notation (`x.f`, `(expr).f`), which PostgreSQL also reads as `f(x)`: see the
//! `walk` module for which field selections count. Functions run without being named in the
//! statement are out of sight: those behind operators, casts, column defaults, triggers,
//! rules, views and row-level security policies.

use gatehouse_core::SqlKind;

const SEQUENCE: &str = "changes a sequence";
const LARGE_OBJECT: &str = "changes large objects";
const SERVER_FILES: &str = "reads files on the database server";
const SERVER_DIRS: &str = "lists directories on the database server";
const WRITES_FILES: &str = "changes files on the database server";
const DBLINK: &str = "connects to another database server";
const SIGNALS: &str = "signals other server processes";
const WAL: &str = "controls the server's write-ahead log, backups or recovery";
const SLOTS: &str = "manages replication slots or origins";
const STATS: &str = "resets server statistics";
const XID: &str = "assigns the transaction an ID, which only a writing transaction needs";
const SERVER_CONFIG: &str = "reads the server's configuration files";
const DECODED_CHANGES: &str = "reads the row changes of every table from the write-ahead log";
const ADVISORY_LOCK: &str =
    "takes an advisory lock, which can block other sessions like LOCK TABLE";
const ADVISORY_UNLOCK: &str =
    "releases advisory locks, which sessions take to block each other like LOCK TABLE";
const PLANNER_STATS: &str = "changes the planner statistics of tables, like ANALYZE";
const INDEX_MAINTENANCE: &str = "maintains an index, like VACUUM";
const BUFFERS: &str = "evicts pages from the server's shared buffers";
const SQL_TEXT: &str = "runs SQL given as text that gatehouse cannot see";
const NAMED_RELATIONS: &str = "reads relations named in its arguments, out of gatehouse's sight";

/// `(name, kind, why)`, names lowercase.
const KNOWN: &[(&str, SqlKind, &str)] = &[
    ("nextval", SqlKind::Update, SEQUENCE),
    ("setval", SqlKind::Update, SEQUENCE),
    ("lo_create", SqlKind::Update, LARGE_OBJECT),
    ("lo_creat", SqlKind::Update, LARGE_OBJECT),
    ("lo_unlink", SqlKind::Update, LARGE_OBJECT),
    ("lo_put", SqlKind::Update, LARGE_OBJECT),
    ("lo_from_bytea", SqlKind::Update, LARGE_OBJECT),
    ("lo_truncate", SqlKind::Update, LARGE_OBJECT),
    ("lo_truncate64", SqlKind::Update, LARGE_OBJECT),
    ("lowrite", SqlKind::Update, LARGE_OBJECT),
    ("pg_read_file", SqlKind::Admin, SERVER_FILES),
    ("pg_read_binary_file", SqlKind::Admin, SERVER_FILES),
    ("pg_stat_file", SqlKind::Admin, SERVER_FILES),
    ("lo_import", SqlKind::Admin, SERVER_FILES),
    ("pg_ls_dir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_logdir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_waldir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_tmpdir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_archive_statusdir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_logicalmapdir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_logicalsnapdir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_replslotdir", SqlKind::Admin, SERVER_DIRS),
    ("pg_ls_summariesdir", SqlKind::Admin, SERVER_DIRS),
    ("lo_export", SqlKind::Admin, WRITES_FILES),
    ("pg_file_write", SqlKind::Admin, WRITES_FILES),
    ("pg_file_rename", SqlKind::Admin, WRITES_FILES),
    ("pg_file_unlink", SqlKind::Admin, WRITES_FILES),
    ("pg_file_sync", SqlKind::Admin, WRITES_FILES),
    ("dblink", SqlKind::Admin, DBLINK),
    ("dblink_exec", SqlKind::Admin, DBLINK),
    ("dblink_connect", SqlKind::Admin, DBLINK),
    ("dblink_connect_u", SqlKind::Admin, DBLINK),
    ("dblink_send_query", SqlKind::Admin, DBLINK),
    ("dblink_open", SqlKind::Admin, DBLINK),
    ("dblink_fetch", SqlKind::Admin, DBLINK),
    ("dblink_get_result", SqlKind::Admin, DBLINK),
    ("pg_terminate_backend", SqlKind::Admin, SIGNALS),
    ("pg_cancel_backend", SqlKind::Admin, SIGNALS),
    ("pg_log_backend_memory_contexts", SqlKind::Admin, SIGNALS),
    (
        "pg_reload_conf",
        SqlKind::Admin,
        "reloads the server configuration",
    ),
    (
        "pg_rotate_logfile",
        SqlKind::Admin,
        "rotates the server log",
    ),
    ("pg_switch_wal", SqlKind::Admin, WAL),
    ("pg_create_restore_point", SqlKind::Admin, WAL),
    ("pg_promote", SqlKind::Admin, WAL),
    ("pg_backup_start", SqlKind::Admin, WAL),
    ("pg_backup_stop", SqlKind::Admin, WAL),
    ("pg_wal_replay_pause", SqlKind::Admin, WAL),
    ("pg_wal_replay_resume", SqlKind::Admin, WAL),
    (
        "pg_logical_emit_message",
        SqlKind::Admin,
        "writes messages into the write-ahead log",
    ),
    ("pg_create_logical_replication_slot", SqlKind::Admin, SLOTS),
    ("pg_create_physical_replication_slot", SqlKind::Admin, SLOTS),
    ("pg_drop_replication_slot", SqlKind::Admin, SLOTS),
    ("pg_copy_logical_replication_slot", SqlKind::Admin, SLOTS),
    ("pg_copy_physical_replication_slot", SqlKind::Admin, SLOTS),
    ("pg_replication_slot_advance", SqlKind::Admin, SLOTS),
    ("pg_logical_slot_get_changes", SqlKind::Admin, SLOTS),
    ("pg_logical_slot_get_binary_changes", SqlKind::Admin, SLOTS),
    ("pg_replication_origin_create", SqlKind::Admin, SLOTS),
    ("pg_replication_origin_drop", SqlKind::Admin, SLOTS),
    (
        "set_config",
        SqlKind::Admin,
        "changes server settings, the session's role among them",
    ),
    (
        "pg_notify",
        SqlKind::Admin,
        "signals other sessions, like NOTIFY",
    ),
    ("pg_stat_reset", SqlKind::Admin, STATS),
    ("pg_stat_reset_shared", SqlKind::Admin, STATS),
    ("pg_stat_reset_single_table_counters", SqlKind::Admin, STATS),
    (
        "pg_stat_reset_single_function_counters",
        SqlKind::Admin,
        STATS,
    ),
    ("pg_stat_reset_slru", SqlKind::Admin, STATS),
    ("pg_stat_reset_replication_slot", SqlKind::Admin, STATS),
    ("pg_stat_reset_subscription_stats", SqlKind::Admin, STATS),
    ("pg_stat_statements_reset", SqlKind::Admin, STATS),
    ("pg_stat_reset_backend_stats", SqlKind::Admin, STATS),
    ("txid_current", SqlKind::Update, XID),
    ("pg_current_xact_id", SqlKind::Update, XID),
    (
        "pg_import_system_collations",
        SqlKind::Ddl,
        "creates collations for the operating system's locales",
    ),
    ("pg_hba_file_rules", SqlKind::Admin, SERVER_CONFIG),
    ("pg_ident_file_mappings", SqlKind::Admin, SERVER_CONFIG),
    ("pg_show_all_file_settings", SqlKind::Admin, SERVER_CONFIG),
    (
        "pg_config",
        SqlKind::Admin,
        "reports how the server was built and where its files are",
    ),
    (
        "pg_current_logfile",
        SqlKind::Admin,
        "reads which files the server is logging to",
    ),
    ("pg_logdir_ls", SqlKind::Admin, SERVER_DIRS),
    ("pg_advisory_lock", SqlKind::Admin, ADVISORY_LOCK),
    ("pg_advisory_lock_shared", SqlKind::Admin, ADVISORY_LOCK),
    ("pg_advisory_xact_lock", SqlKind::Admin, ADVISORY_LOCK),
    (
        "pg_advisory_xact_lock_shared",
        SqlKind::Admin,
        ADVISORY_LOCK,
    ),
    ("pg_try_advisory_lock", SqlKind::Admin, ADVISORY_LOCK),
    ("pg_try_advisory_lock_shared", SqlKind::Admin, ADVISORY_LOCK),
    ("pg_try_advisory_xact_lock", SqlKind::Admin, ADVISORY_LOCK),
    (
        "pg_try_advisory_xact_lock_shared",
        SqlKind::Admin,
        ADVISORY_LOCK,
    ),
    ("pg_advisory_unlock", SqlKind::Admin, ADVISORY_UNLOCK),
    ("pg_advisory_unlock_shared", SqlKind::Admin, ADVISORY_UNLOCK),
    ("pg_advisory_unlock_all", SqlKind::Admin, ADVISORY_UNLOCK),
    ("pg_start_backup", SqlKind::Admin, WAL),
    ("pg_stop_backup", SqlKind::Admin, WAL),
    ("pg_log_standby_snapshot", SqlKind::Admin, WAL),
    (
        "pg_logical_slot_peek_changes",
        SqlKind::Admin,
        DECODED_CHANGES,
    ),
    (
        "pg_logical_slot_peek_binary_changes",
        SqlKind::Admin,
        DECODED_CHANGES,
    ),
    ("pg_get_wal_record_info", SqlKind::Admin, DECODED_CHANGES),
    ("pg_get_wal_records_info", SqlKind::Admin, DECODED_CHANGES),
    ("pg_get_wal_block_info", SqlKind::Admin, DECODED_CHANGES),
    ("pg_sync_replication_slots", SqlKind::Admin, SLOTS),
    ("pg_replication_origin_advance", SqlKind::Admin, SLOTS),
    ("pg_replication_origin_session_setup", SqlKind::Admin, SLOTS),
    ("pg_replication_origin_session_reset", SqlKind::Admin, SLOTS),
    ("pg_replication_origin_xact_setup", SqlKind::Admin, SLOTS),
    ("pg_replication_origin_xact_reset", SqlKind::Admin, SLOTS),
    ("pg_restore_relation_stats", SqlKind::Admin, PLANNER_STATS),
    ("pg_restore_attribute_stats", SqlKind::Admin, PLANNER_STATS),
    ("pg_clear_relation_stats", SqlKind::Admin, PLANNER_STATS),
    ("pg_clear_attribute_stats", SqlKind::Admin, PLANNER_STATS),
    (
        "brin_summarize_new_values",
        SqlKind::Admin,
        INDEX_MAINTENANCE,
    ),
    ("brin_summarize_range", SqlKind::Admin, INDEX_MAINTENANCE),
    ("brin_desummarize_range", SqlKind::Admin, INDEX_MAINTENANCE),
    ("gin_clean_pending_list", SqlKind::Admin, INDEX_MAINTENANCE),
    (
        "get_raw_page",
        SqlKind::Admin,
        "reads raw table pages, past row-level security and column privileges",
    ),
    (
        "heap_force_kill",
        SqlKind::Admin,
        "changes table rows directly, past every check and trigger",
    ),
    (
        "heap_force_freeze",
        SqlKind::Admin,
        "changes table rows directly, past every check and trigger",
    ),
    (
        "pg_truncate_visibility_map",
        SqlKind::Admin,
        "rewrites a table's visibility map",
    ),
    ("pg_buffercache_evict", SqlKind::Admin, BUFFERS),
    ("pg_buffercache_evict_relation", SqlKind::Admin, BUFFERS),
    ("pg_buffercache_evict_all", SqlKind::Admin, BUFFERS),
    ("query_to_xml", SqlKind::Unknown, SQL_TEXT),
    ("query_to_xmlschema", SqlKind::Unknown, SQL_TEXT),
    ("query_to_xml_and_xmlschema", SqlKind::Unknown, SQL_TEXT),
    (
        "cursor_to_xml",
        SqlKind::Unknown,
        "fetches from a cursor gatehouse cannot see",
    ),
    (
        "cursor_to_xmlschema",
        SqlKind::Unknown,
        "fetches from a cursor gatehouse cannot see",
    ),
    ("ts_stat", SqlKind::Unknown, SQL_TEXT),
    ("crosstab", SqlKind::Unknown, SQL_TEXT),
    ("crosstab2", SqlKind::Unknown, SQL_TEXT),
    ("crosstab3", SqlKind::Unknown, SQL_TEXT),
    ("crosstab4", SqlKind::Unknown, SQL_TEXT),
    ("connectby", SqlKind::Unknown, NAMED_RELATIONS),
    ("table_to_xml", SqlKind::Unknown, NAMED_RELATIONS),
    ("table_to_xmlschema", SqlKind::Unknown, NAMED_RELATIONS),
    (
        "table_to_xml_and_xmlschema",
        SqlKind::Unknown,
        NAMED_RELATIONS,
    ),
    ("schema_to_xml", SqlKind::Unknown, NAMED_RELATIONS),
    ("schema_to_xmlschema", SqlKind::Unknown, NAMED_RELATIONS),
    (
        "schema_to_xml_and_xmlschema",
        SqlKind::Unknown,
        NAMED_RELATIONS,
    ),
    ("database_to_xml", SqlKind::Unknown, NAMED_RELATIONS),
    ("database_to_xmlschema", SqlKind::Unknown, NAMED_RELATIONS),
    (
        "database_to_xml_and_xmlschema",
        SqlKind::Unknown,
        NAMED_RELATIONS,
    ),
];

/// The kind a call raises its statement to, and why, for a function named by `parts` (as the
/// parser produced them) called with `nargs` arguments. `None` for ordinary functions.
pub(crate) fn lookup(parts: &[&str], nargs: usize) -> Option<(SqlKind, &'static str)> {
    let name = parts.last()?;
    // ts_rewrite(query, 'SELECT ...') runs its second argument; the three-argument form is
    // plain text search.
    if name.eq_ignore_ascii_case("ts_rewrite") && nargs == 2 {
        return Some((SqlKind::Unknown, SQL_TEXT));
    }
    KNOWN
        .iter()
        .find(|(known, _, _)| known.eq_ignore_ascii_case(name))
        .map(|(_, kind, why)| (*kind, *why))
}

/// The kind a call of the function named `name` (as listed in a statement's `functions`,
/// possibly qualified) raises its statement to, and why.
pub(crate) fn lookup_listed(name: &str) -> Option<(SqlKind, &'static str)> {
    // Names are rendered by `facts::render_name`; a quoted last part containing a dot cannot
    // be a known function, so splitting on the last dot is enough.
    let last = name.rsplit('.').next().unwrap_or(name);
    // Argument counts are not listed: assume the dangerous form.
    let nargs = if last.eq_ignore_ascii_case("ts_rewrite") {
        2
    } else {
        0
    };
    lookup(&[last], nargs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn matches_any_qualification_and_case() {
        assert_eq!(lookup(&["pg_read_file"], 1).unwrap().0, SqlKind::Admin);
        assert_eq!(
            lookup(&["pg_catalog", "pg_read_file"], 1).unwrap().0,
            SqlKind::Admin
        );
        assert_eq!(
            lookup(&["public", "dblink_exec"], 1).unwrap().0,
            SqlKind::Admin
        );
        assert_eq!(lookup(&["NEXTVAL"], 1).unwrap().0, SqlKind::Update);
        assert!(lookup(&["lower"], 1).is_none());
        assert_eq!(lookup(&["pg_advisory_lock"], 1).unwrap().0, SqlKind::Admin);
        assert!(lookup(&["pg_current_xact_id_if_assigned"], 0).is_none());
    }

    #[test]
    fn ts_rewrite_depends_on_arity() {
        assert_eq!(lookup(&["ts_rewrite"], 2).unwrap().0, SqlKind::Unknown);
        assert!(lookup(&["ts_rewrite"], 3).is_none());
    }

    #[test]
    fn listed_names_resolve() {
        assert_eq!(
            lookup_listed("pg_catalog.set_config").unwrap().0,
            SqlKind::Admin
        );
        assert!(lookup_listed("public.f").is_none());
    }
}
