//! The classification rules, checked against a wide corpus of real SQL.
//!
//! Each row is one single-statement message with the kind it must get and, where meaningful,
//! the relations it reads and writes, the functions it calls, and a fragment of the reason.
//! Multi-statement messages, unparsable text, conditions that touch all rows, MERGE actions,
//! prepared statements and cursors, and large inputs have their own tests below the table.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_core::SqlKind::{self, *};
use gatehouse_sql::{Classifier, PreparedOp, PreparedStatements, classify};

/// Marks a list the row does not check.
const ANY: &[&str] = &["<any>"];
const NONE: &[&str] = &[];

/// `(sql, kind, reads, writes, functions, reason fragment ("" = not checked))`
type Case = (
    &'static str,
    SqlKind,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    &'static str,
);

const CORPUS: &[Case] = &[
    // --- reads
    ("SELECT 1", Select, NONE, NONE, NONE, ""),
    ("select * from t", Select, &["t"], NONE, NONE, ""),
    (
        "SELECT * FROM public.t",
        Select,
        &["public.t"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM Public.T",
        Select,
        &["public.t"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM \"Weird Table\"",
        Select,
        &["Weird Table"],
        NONE,
        NONE,
        "",
    ),
    ("SELECT * FROM \"T\"", Select, &["T"], NONE, NONE, ""),
    (
        "SELECT * FROM U&\"d\\0061t\"",
        Select,
        &["dat"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM \"a.b\"",
        Select,
        &["\"a.b\""],
        NONE,
        NONE,
        "",
    ),
    ("SELECT * FROM db.s.t", Select, &["db.s.t"], NONE, NONE, ""),
    (
        "SELECT t.a, u.b FROM t JOIN u ON t.id = u.t_id LEFT JOIN s.v ON v.id = u.v_id",
        Select,
        &["s.v", "t", "u"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM t, t AS again",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM t WHERE id IN (SELECT t_id FROM u WHERE EXISTS (SELECT 1 FROM w))",
        Select,
        &["t", "u", "w"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT (SELECT max(x) FROM u) FROM t",
        Select,
        &["t", "u"],
        NONE,
        &["max"],
        "",
    ),
    (
        "SELECT * FROM (SELECT * FROM t) AS sub",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM t UNION ALL SELECT * FROM u",
        Select,
        &["t", "u"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM t INTERSECT SELECT * FROM u EXCEPT SELECT * FROM w",
        Select,
        &["t", "u", "w"],
        NONE,
        NONE,
        "",
    ),
    ("VALUES (1, 'a'), (2, 'b')", Select, NONE, NONE, NONE, ""),
    ("TABLE t", Select, &["t"], NONE, NONE, ""),
    (
        "SELECT lower(name), count(*) FROM t GROUP BY 1",
        Select,
        &["t"],
        NONE,
        &["count", "lower"],
        "",
    ),
    (
        "SELECT pg_catalog.now()",
        Select,
        NONE,
        NONE,
        &["pg_catalog.now"],
        "",
    ),
    (
        "SELECT * FROM generate_series(1, 10)",
        Select,
        NONE,
        NONE,
        &["generate_series"],
        "",
    ),
    (
        "SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.id = t.id) l",
        Select,
        &["t", "u"],
        NONE,
        NONE,
        "",
    ),
    ("SELECT currval('s')", Select, NONE, NONE, &["currval"], ""),
    // --- CTEs: names in scope are not relations; names out of scope are
    (
        "WITH x AS (SELECT * FROM t) SELECT * FROM x",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "WITH t AS (SELECT * FROM t) SELECT * FROM t",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a, b",
        Select,
        &["b"],
        NONE,
        NONE,
        "",
    ),
    (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
        Select,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM secrets, (WITH secrets AS (SELECT 1) SELECT * FROM secrets) hidden",
        Select,
        &["secrets"],
        NONE,
        NONE,
        "",
    ),
    (
        "WITH x AS (SELECT 1) SELECT * FROM public.x",
        Select,
        &["public.x"],
        NONE,
        NONE,
        "",
    ),
    // --- data-modifying CTEs and nested writes
    (
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        Delete,
        NONE,
        &["t"],
        NONE,
        "DELETE",
    ),
    (
        "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u",
        Update,
        NONE,
        &["t"],
        NONE,
        "UPDATE",
    ),
    (
        "WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i",
        Insert,
        NONE,
        &["t"],
        NONE,
        "INSERT",
    ),
    (
        "WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM deep RETURNING *) SELECT * FROM c) SELECT * FROM a, b",
        Delete,
        NONE,
        &["deep"],
        NONE,
        "",
    ),
    (
        "WITH d AS (DELETE FROM t RETURNING id) INSERT INTO log SELECT id FROM d",
        Delete,
        NONE,
        &["log", "t"],
        NONE,
        "",
    ),
    // --- row locks
    (
        "SELECT * FROM t FOR UPDATE",
        Update,
        &["t"],
        NONE,
        NONE,
        "locks rows",
    ),
    (
        "SELECT * FROM t FOR NO KEY UPDATE",
        Update,
        &["t"],
        NONE,
        NONE,
        "locks rows",
    ),
    (
        "SELECT * FROM t FOR SHARE",
        Update,
        &["t"],
        NONE,
        NONE,
        "locks rows",
    ),
    (
        "SELECT * FROM t FOR KEY SHARE SKIP LOCKED",
        Update,
        &["t"],
        NONE,
        NONE,
        "locks rows",
    ),
    (
        "SELECT * FROM (SELECT * FROM t FOR UPDATE) s",
        Update,
        &["t"],
        NONE,
        NONE,
        "locks rows",
    ),
    // --- DML
    (
        "INSERT INTO t (a) VALUES (1)",
        Insert,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "INSERT INTO t SELECT * FROM u",
        Insert,
        &["u"],
        &["t"],
        NONE,
        "",
    ),
    (
        "INSERT INTO s.t VALUES (1) RETURNING id",
        Insert,
        NONE,
        &["s.t"],
        NONE,
        "",
    ),
    (
        "INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING",
        Insert,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = excluded.a",
        Update,
        NONE,
        &["t"],
        NONE,
        "ON CONFLICT",
    ),
    (
        "UPDATE t SET a = 1 WHERE id = 2",
        Update,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "UPDATE t SET a = u.a FROM u WHERE t.id = u.id",
        Update,
        &["u"],
        &["t"],
        NONE,
        "",
    ),
    ("DELETE FROM t WHERE id = 1", Delete, NONE, &["t"], NONE, ""),
    (
        "DELETE FROM t USING u WHERE t.id = u.id RETURNING t.*",
        Delete,
        &["u"],
        &["t"],
        NONE,
        "",
    ),
    (
        "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
        Insert,
        &["s"],
        &["t"],
        NONE,
        "",
    ),
    (
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
        Update,
        &["s"],
        &["t"],
        NONE,
        "THEN UPDATE",
    ),
    (
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
        Delete,
        &["s"],
        &["t"],
        NONE,
        "THEN DELETE",
    ),
    // --- functions that raise the kind
    (
        "SELECT pg_read_file('/etc/passwd')",
        Admin,
        NONE,
        NONE,
        &["pg_read_file"],
        "calls pg_read_file, which reads files on the database server",
    ),
    (
        "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')",
        Admin,
        NONE,
        NONE,
        &["pg_catalog.pg_read_binary_file"],
        "reads files",
    ),
    (
        "SELECT * FROM pg_ls_dir('.')",
        Admin,
        NONE,
        NONE,
        &["pg_ls_dir"],
        "directories",
    ),
    (
        "SELECT set_config('role', 'postgres', false)",
        Admin,
        NONE,
        NONE,
        &["set_config"],
        "set_config",
    ),
    (
        "SELECT lo_unlink(1)",
        Update,
        NONE,
        NONE,
        &["lo_unlink"],
        "large objects",
    ),
    (
        "SELECT lo_import('/etc/passwd')",
        Admin,
        NONE,
        NONE,
        &["lo_import"],
        "",
    ),
    (
        "SELECT nextval('s')",
        Update,
        NONE,
        NONE,
        &["nextval"],
        "sequence",
    ),
    (
        "SELECT setval('s', 1)",
        Update,
        NONE,
        NONE,
        &["setval"],
        "sequence",
    ),
    (
        "SELECT dblink_exec('dbname=x', 'DROP TABLE t')",
        Admin,
        NONE,
        NONE,
        &["dblink_exec"],
        "another database server",
    ),
    (
        "SELECT * FROM public.dblink('dbname=x', 'SELECT 1') AS r(a int)",
        Admin,
        NONE,
        NONE,
        &["public.dblink"],
        "",
    ),
    (
        "SELECT pg_terminate_backend(42)",
        Admin,
        NONE,
        NONE,
        &["pg_terminate_backend"],
        "",
    ),
    (
        "SELECT pg_reload_conf()",
        Admin,
        NONE,
        NONE,
        &["pg_reload_conf"],
        "",
    ),
    (
        "SELECT query_to_xml('delete from t', true, true, '')",
        Unknown,
        NONE,
        NONE,
        &["query_to_xml"],
        "SQL given as text",
    ),
    (
        "SELECT table_to_xml('secrets', true, false, '')",
        Unknown,
        NONE,
        NONE,
        &["table_to_xml"],
        "",
    ),
    (
        "SELECT * FROM t WHERE id = (SELECT nextval('s'))",
        Update,
        &["t"],
        NONE,
        &["nextval"],
        "",
    ),
    (
        "SELECT pg_read_file(f) FROM (SELECT 'x' AS f) q WHERE nextval('s') > 0",
        Admin,
        NONE,
        NONE,
        &["nextval", "pg_read_file"],
        "pg_read_file",
    ),
    // --- built-ins with effects beyond a read
    (
        "SELECT pg_advisory_lock(1)",
        Admin,
        NONE,
        NONE,
        &["pg_advisory_lock"],
        "advisory lock",
    ),
    (
        "SELECT pg_try_advisory_xact_lock_shared(1, 2)",
        Admin,
        NONE,
        NONE,
        &["pg_try_advisory_xact_lock_shared"],
        "advisory lock",
    ),
    (
        "SELECT pg_advisory_unlock_all()",
        Admin,
        NONE,
        NONE,
        &["pg_advisory_unlock_all"],
        "advisory locks",
    ),
    (
        "SELECT txid_current()",
        Update,
        NONE,
        NONE,
        &["txid_current"],
        "transaction an ID",
    ),
    (
        "SELECT pg_catalog.pg_current_xact_id()",
        Update,
        NONE,
        NONE,
        &["pg_catalog.pg_current_xact_id"],
        "",
    ),
    (
        "SELECT pg_current_xact_id_if_assigned(), txid_current_if_assigned()",
        Select,
        NONE,
        NONE,
        &["pg_current_xact_id_if_assigned", "txid_current_if_assigned"],
        "",
    ),
    (
        "SELECT pg_import_system_collations('pg_catalog')",
        Ddl,
        NONE,
        NONE,
        &["pg_import_system_collations"],
        "collations",
    ),
    (
        "SELECT * FROM pg_hba_file_rules()",
        Admin,
        NONE,
        NONE,
        &["pg_hba_file_rules"],
        "configuration files",
    ),
    (
        "SELECT * FROM pg_show_all_file_settings()",
        Admin,
        NONE,
        NONE,
        &["pg_show_all_file_settings"],
        "",
    ),
    (
        "SELECT * FROM pg_config()",
        Admin,
        NONE,
        NONE,
        &["pg_config"],
        "how the server was built",
    ),
    (
        "SELECT pg_logical_slot_peek_changes('slot', NULL, NULL)",
        Admin,
        NONE,
        NONE,
        &["pg_logical_slot_peek_changes"],
        "write-ahead log",
    ),
    (
        "SELECT pg_replication_origin_session_setup('origin')",
        Admin,
        NONE,
        NONE,
        &["pg_replication_origin_session_setup"],
        "",
    ),
    (
        "SELECT brin_summarize_new_values('i'::regclass)",
        Admin,
        NONE,
        NONE,
        &["brin_summarize_new_values"],
        "like VACUUM",
    ),
    (
        "SELECT pg_stat_reset_backend_stats(pg_backend_pid())",
        Admin,
        NONE,
        NONE,
        &["pg_backend_pid", "pg_stat_reset_backend_stats"],
        "statistics",
    ),
    ("SELECT pg_sleep(1)", Select, NONE, NONE, &["pg_sleep"], ""),
    // --- catalogs holding secrets or the server's files
    (
        "SELECT rolname, rolpassword FROM pg_authid",
        Admin,
        &["pg_authid"],
        NONE,
        NONE,
        "reads pg_authid, which holds every role's password hash",
    ),
    (
        "SELECT * FROM pg_catalog.pg_shadow",
        Admin,
        &["pg_catalog.pg_shadow"],
        NONE,
        NONE,
        "password hash",
    ),
    (
        "SELECT umoptions FROM pg_user_mappings",
        Admin,
        &["pg_user_mappings"],
        NONE,
        NONE,
        "passwords",
    ),
    (
        "SELECT * FROM pg_user_mapping",
        Admin,
        &["pg_user_mapping"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT stavalues1 FROM pg_statistic",
        Admin,
        &["pg_statistic"],
        NONE,
        NONE,
        "sampled",
    ),
    (
        "SELECT data FROM pg_largeobject",
        Admin,
        &["pg_largeobject"],
        NONE,
        NONE,
        "large object",
    ),
    (
        "SELECT * FROM pg_hba_file_rules",
        Admin,
        &["pg_hba_file_rules"],
        NONE,
        NONE,
        "pg_hba.conf",
    ),
    (
        "SELECT * FROM pg_ident_file_mappings",
        Admin,
        &["pg_ident_file_mappings"],
        NONE,
        NONE,
        "pg_ident.conf",
    ),
    (
        "TABLE pg_file_settings",
        Admin,
        &["pg_file_settings"],
        NONE,
        NONE,
        "configuration files",
    ),
    (
        "SELECT * FROM pg_config",
        Admin,
        &["pg_config"],
        NONE,
        NONE,
        "",
    ),
    (
        "WITH x AS (SELECT * FROM pg_shadow) SELECT * FROM x",
        Admin,
        &["pg_shadow"],
        NONE,
        NONE,
        "",
    ),
    (
        "COPY pg_authid TO STDOUT",
        Admin,
        &["pg_authid"],
        NONE,
        NONE,
        "",
    ),
    (
        "PREPARE p AS SELECT * FROM pg_authid",
        Admin,
        &["pg_authid"],
        NONE,
        NONE,
        "",
    ),
    (
        "EXPLAIN ANALYZE SELECT * FROM pg_authid",
        Admin,
        &["pg_authid"],
        NONE,
        NONE,
        "",
    ),
    (
        "EXPLAIN SELECT * FROM pg_authid",
        Select,
        &["pg_authid"],
        NONE,
        NONE,
        "",
    ),
    (
        "WITH pg_authid AS (SELECT 1) SELECT * FROM pg_authid",
        Select,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT * FROM pg_roles",
        Select,
        &["pg_roles"],
        NONE,
        NONE,
        "",
    ),
    // --- functions called in attribute notation: `x.f` and `(expr).f` are `f(x)`
    (
        "SELECT ('seq1'::regclass).nextval",
        Update,
        NONE,
        NONE,
        &["nextval"],
        "calls nextval in attribute notation",
    ),
    (
        "SELECT ('/etc/hostname'::text).pg_read_file",
        Admin,
        NONE,
        NONE,
        &["pg_read_file"],
        "reads files on the database server",
    ),
    (
        "SELECT ('.'::text).pg_ls_dir",
        Admin,
        NONE,
        NONE,
        &["pg_ls_dir"],
        "directories",
    ),
    (
        "SELECT (0::oid).lo_create",
        Update,
        NONE,
        NONE,
        &["lo_create"],
        "large objects",
    ),
    (
        "SELECT (pid).pg_terminate_backend FROM pg_stat_activity",
        Admin,
        &["pg_stat_activity"],
        NONE,
        &["pg_terminate_backend"],
        "signals other server processes",
    ),
    (
        "SELECT ('x'::text).pg_create_restore_point",
        Admin,
        NONE,
        NONE,
        &["pg_create_restore_point"],
        "write-ahead log",
    ),
    (
        "SELECT ((('/etc/passwd'::text))).pg_read_file",
        Admin,
        NONE,
        NONE,
        &["pg_read_file"],
        "",
    ),
    (
        "SELECT t.nextval FROM t",
        Update,
        &["t"],
        NONE,
        &["nextval"],
        "attribute notation",
    ),
    (
        "SELECT public.t.setval FROM public.t",
        Update,
        &["public.t"],
        NONE,
        &["setval"],
        "",
    ),
    (
        "SELECT (c).a.NEXTVAL FROM t",
        Update,
        &["t"],
        NONE,
        &["nextval"],
        "",
    ),
    (
        "SELECT (t.*).pg_read_file FROM t",
        Admin,
        &["t"],
        NONE,
        &["pg_read_file"],
        "",
    ),
    (
        "SELECT x FROM t WHERE (t.a).dblink_exec IS NOT NULL",
        Admin,
        &["t"],
        NONE,
        &["dblink_exec"],
        "",
    ),
    // ... while ordinary field selections are columns, not listed as functions
    (
        "SELECT t.name, (c).field, (c).*, t.*, nextval, a.upper FROM t, u AS a",
        Select,
        &["t", "u"],
        NONE,
        NONE,
        "",
    ),
    (
        "UPDATE t SET c.nextval = 1 WHERE id = 2",
        Update,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "INSERT INTO t (c.setval) VALUES (1)",
        Insert,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    // --- DDL
    (
        "SELECT * INTO newt FROM t",
        Ddl,
        &["t"],
        &["newt"],
        NONE,
        "INTO",
    ),
    (
        "CREATE TABLE n AS SELECT * FROM t",
        Ddl,
        &["t"],
        &["n"],
        NONE,
        "",
    ),
    (
        "CREATE TABLE t (id int PRIMARY KEY, u_id int REFERENCES u (id))",
        Ddl,
        &["u"],
        &["t"],
        NONE,
        "",
    ),
    (
        "CREATE TEMP TABLE tmp (a int)",
        Ddl,
        NONE,
        &["tmp"],
        NONE,
        "",
    ),
    (
        "ALTER TABLE t ADD COLUMN c int",
        Ddl,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    ("ALTER TABLE t RENAME TO t2", Ddl, NONE, &["t"], NONE, ""),
    ("DROP TABLE a, s.b", Ddl, NONE, &["a", "s.b"], NONE, ""),
    ("DROP VIEW IF EXISTS v", Ddl, NONE, &["v"], NONE, ""),
    ("DROP FUNCTION f(int)", Ddl, NONE, NONE, NONE, ""),
    ("TRUNCATE a, s.b", Ddl, NONE, &["a", "s.b"], NONE, ""),
    (
        "TRUNCATE TABLE t RESTART IDENTITY CASCADE",
        Ddl,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    ("COMMENT ON TABLE t IS 'hello'", Ddl, NONE, &["t"], NONE, ""),
    (
        "CREATE INDEX CONCURRENTLY i ON t (a)",
        Ddl,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    ("REFRESH MATERIALIZED VIEW mv", Ddl, NONE, &["mv"], NONE, ""),
    (
        "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t",
        Ddl,
        &["t"],
        &["mv"],
        NONE,
        "",
    ),
    (
        "CREATE VIEW v AS SELECT * FROM t",
        Ddl,
        &["t"],
        &["v"],
        NONE,
        "",
    ),
    (
        "SECURITY LABEL ON TABLE t IS 'secret'",
        Ddl,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    ("CREATE SCHEMA s", Ddl, NONE, NONE, NONE, ""),
    ("CREATE SEQUENCE s", Ddl, NONE, &["s"], NONE, ""),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        Ddl,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'lib', 'sym'",
        Admin,
        NONE,
        NONE,
        NONE,
        "native code",
    ),
    (
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpython3u AS 'return 1'",
        Admin,
        NONE,
        NONE,
        NONE,
        "untrusted",
    ),
    (
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
        Ddl,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    ("CREATE DATABASE x", Ddl, NONE, NONE, NONE, ""),
    ("DROP DATABASE x", Ddl, NONE, NONE, NONE, ""),
    (
        "CREATE TYPE mood AS ENUM ('sad', 'ok')",
        Ddl,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "CREATE POLICY p ON t USING (true)",
        Ddl,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    // --- DCL
    ("GRANT SELECT ON t TO bob", Dcl, NONE, &["t"], NONE, ""),
    ("REVOKE ALL ON t FROM bob", Dcl, NONE, &["t"], NONE, ""),
    ("GRANT admin TO bob", Dcl, NONE, NONE, NONE, ""),
    (
        "CREATE ROLE x LOGIN PASSWORD 'p'",
        Dcl,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("CREATE USER x", Dcl, NONE, NONE, NONE, ""),
    ("CREATE GROUP g", Dcl, NONE, NONE, NONE, ""),
    ("ALTER ROLE x SUPERUSER", Dcl, NONE, NONE, NONE, ""),
    (
        "ALTER USER x SET search_path = s",
        Dcl,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("DROP ROLE x", Dcl, NONE, NONE, NONE, ""),
    (
        "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO bob",
        Dcl,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("REASSIGN OWNED BY a TO b", Dcl, NONE, NONE, NONE, ""),
    ("DROP OWNED BY a", Dcl, NONE, NONE, NONE, ""),
    (
        "CREATE SCHEMA s CREATE TABLE t (a int) GRANT SELECT ON t TO bob",
        Dcl,
        NONE,
        ANY,
        NONE,
        "",
    ),
    // --- Admin
    (
        "ALTER SYSTEM SET work_mem = '1GB'",
        Admin,
        NONE,
        NONE,
        NONE,
        "ALTER SYSTEM",
    ),
    ("SET ROLE postgres", Admin, NONE, NONE, NONE, "role"),
    ("SET LOCAL ROLE postgres", Admin, NONE, NONE, NONE, "role"),
    ("SET role = 'postgres'", Admin, NONE, NONE, NONE, "role"),
    ("SET \"ROLE\" TO postgres", Admin, NONE, NONE, NONE, "role"),
    ("RESET ROLE", Admin, NONE, NONE, NONE, "role"),
    (
        "SET SESSION AUTHORIZATION postgres",
        Admin,
        NONE,
        NONE,
        NONE,
        "SESSION AUTHORIZATION",
    ),
    ("RESET SESSION AUTHORIZATION", Admin, NONE, NONE, NONE, ""),
    (
        "SET session_replication_role = replica",
        Admin,
        NONE,
        NONE,
        NONE,
        "triggers",
    ),
    // --- settings (see the settings module)
    (
        "SET standard_conforming_strings = off",
        Unknown,
        NONE,
        NONE,
        NONE,
        "pinned on",
    ),
    (
        "SET standard_conforming_strings TO false",
        Unknown,
        NONE,
        NONE,
        NONE,
        "backslashes in string literals",
    ),
    (
        "SET LOCAL standard_conforming_strings = 0",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET SESSION standard_conforming_strings = 'no'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET standard_conforming_strings = 't'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "RESET standard_conforming_strings",
        Unknown,
        NONE,
        NONE,
        NONE,
        "default gatehouse cannot see",
    ),
    (
        "SET standard_conforming_strings TO DEFAULT",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET standard_conforming_strings FROM CURRENT",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET standard_conforming_strings = on",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET standard_conforming_strings = 'ON'",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET standard_conforming_strings TO true",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET standard_conforming_strings = 1",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET \"Standard_Conforming_Strings\" = YES",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET backslash_quote = on",
        Unknown,
        NONE,
        NONE,
        NONE,
        "backslash_quote",
    ),
    (
        "SET backslash_quote = safe_encoding",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("RESET backslash_quote", Unknown, NONE, NONE, NONE, ""),
    (
        "SET NAMES 'SJIS'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "(SJIS), whose multi-byte characters",
    ),
    (
        "SET client_encoding = 'Shift_JIS'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "SJIS",
    ),
    (
        "SET client_encoding TO 'mskanji'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "SJIS",
    ),
    (
        "SET client_encoding = 'Windows-936'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "GBK",
    ),
    (
        "SET client_encoding = 'cp949'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "UHC",
    ),
    (
        "SET LOCAL client_encoding = 'win950'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "BIG5",
    ),
    (
        "SET client_encoding = uhc",
        Unknown,
        NONE,
        NONE,
        NONE,
        "UHC",
    ),
    (
        "SET client_encoding = 'GB18030'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "GB18030",
    ),
    (
        "SET client_encoding = 'johab'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "JOHAB",
    ),
    (
        "SET client_encoding = 'SHIFT_JIS_2004'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "SHIFT_JIS_2004",
    ),
    (
        "SET client_encoding = 'big5'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "BIG5",
    ),
    (
        "RESET client_encoding",
        Unknown,
        NONE,
        NONE,
        NONE,
        "default gatehouse cannot see",
    ),
    ("SET NAMES DEFAULT", Unknown, NONE, NONE, NONE, ""),
    (
        "SET client_encoding = 'UTF8'",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("SET NAMES 'LATIN1'", Session, NONE, NONE, NONE, ""),
    (
        "SET client_encoding = 'EUC_JP'",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET log_statement = 'none'",
        Admin,
        NONE,
        NONE,
        NONE,
        "changes log_statement, a superuser setting that changes what the server logs",
    ),
    (
        "SET log_min_duration_statement = -1",
        Admin,
        NONE,
        NONE,
        NONE,
        "logs",
    ),
    ("SET LOCAL log_duration = off", Admin, NONE, NONE, NONE, ""),
    ("RESET log_min_messages", Admin, NONE, NONE, NONE, ""),
    (
        "SET log_parameter_max_length_on_error = 0",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET \"LOG_STATEMENT\" = 'none'",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET track_activities = off",
        Admin,
        NONE,
        NONE,
        NONE,
        "tracks",
    ),
    ("SET track_counts TO off", Admin, NONE, NONE, NONE, ""),
    ("SET track_functions = 'none'", Admin, NONE, NONE, NONE, ""),
    ("SET track_io_timing = on", Admin, NONE, NONE, NONE, ""),
    ("SET compute_query_id = off", Admin, NONE, NONE, NONE, ""),
    ("SET lc_messages = 'C'", Admin, NONE, NONE, NONE, "language"),
    (
        "SET session_preload_libraries = 'auto_explain'",
        Admin,
        NONE,
        NONE,
        NONE,
        "libraries",
    ),
    (
        "SET local_preload_libraries = 'plugin'",
        Admin,
        NONE,
        NONE,
        NONE,
        "libraries",
    ),
    (
        "SET zero_damaged_pages = on",
        Admin,
        NONE,
        NONE,
        NONE,
        "damaged pages",
    ),
    (
        "SET ignore_checksum_failure = on",
        Admin,
        NONE,
        NONE,
        NONE,
        "checksum",
    ),
    (
        "SET allow_system_table_mods = on",
        Admin,
        NONE,
        NONE,
        NONE,
        "system catalogs",
    ),
    ("SET debug_discard_caches = 1", Admin, NONE, NONE, NONE, ""),
    ("SET trace_locks = on", Admin, NONE, NONE, NONE, ""),
    ("SET jit_dump_bitcode = on", Admin, NONE, NONE, NONE, ""),
    ("SET wal_compression = on", Admin, NONE, NONE, NONE, ""),
    (
        "SET pgaudit.log = 'none'",
        Admin,
        NONE,
        NONE,
        NONE,
        "pgaudit",
    ),
    (
        "SET application_name = 'report'",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("SET jit = off", Session, NONE, NONE, NONE, ""),
    (
        "SET client_min_messages = warning",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET search_path = trap, pg_catalog, public",
        Admin,
        NONE,
        NONE,
        NONE,
        "puts schema trap ahead of pg_catalog",
    ),
    (
        "SET search_path TO \"$user\", pg_catalog",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET LOCAL search_path = 'trap', 'pg_catalog'",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET search_path = 'trap, pg_catalog'",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET search_path = pg_temp, public",
        Admin,
        NONE,
        NONE,
        NONE,
        "pg_temp ahead of other schemas",
    ),
    (
        "SET search_path = pg_catalog, trap",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET search_path = public, pg_temp",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SET search_path = admin, pg_temp",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("SET search_path TO DEFAULT", Session, NONE, NONE, NONE, ""),
    (
        "SET search_path FROM CURRENT",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("SET SCHEMA 'trap'", Session, NONE, NONE, NONE, ""),
    (
        "ALTER ROLE bob SET standard_conforming_strings = off",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "ALTER DATABASE d SET client_encoding = 'sjis'",
        Unknown,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "ALTER ROLE bob SET log_statement = 'none'",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "ALTER DATABASE d SET search_path = trap, pg_catalog",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "ALTER ROLE bob IN DATABASE d SET search_path = s",
        Dcl,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "ALTER DATABASE d SET work_mem = '1GB'",
        Ddl,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("LOAD 'plugin'", Admin, NONE, NONE, NONE, "LOAD"),
    ("VACUUM", Admin, NONE, NONE, NONE, ""),
    ("VACUUM FULL t", Admin, NONE, &["t"], NONE, ""),
    ("ANALYZE t", Admin, NONE, &["t"], NONE, ""),
    ("CLUSTER t USING i", Admin, NONE, &["t"], NONE, ""),
    ("REINDEX TABLE t", Admin, NONE, &["t"], NONE, ""),
    ("CHECKPOINT", Admin, NONE, NONE, NONE, ""),
    (
        "LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
        Admin,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "CREATE EXTENSION dblink",
        Admin,
        NONE,
        NONE,
        NONE,
        "install script",
    ),
    (
        "CREATE TABLESPACE ts LOCATION '/tmp/ts'",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("DROP TABLESPACE ts", Admin, NONE, NONE, NONE, ""),
    (
        "NOTIFY channel, 'payload'",
        Admin,
        NONE,
        NONE,
        NONE,
        "NOTIFY",
    ),
    (
        "PREPARE TRANSACTION 'tx1'",
        Admin,
        NONE,
        NONE,
        NONE,
        "two-phase",
    ),
    (
        "COMMIT PREPARED 'tx1'",
        Admin,
        NONE,
        NONE,
        NONE,
        "two-phase",
    ),
    (
        "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p",
        Admin,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "CREATE RULE r AS ON INSERT TO t DO ALSO NOTIFY t_changed",
        Admin,
        NONE,
        &["t"],
        NONE,
        "NOTIFY",
    ),
    // --- COPY
    ("COPY t TO STDOUT", Select, &["t"], NONE, NONE, ""),
    (
        "COPY s.t (a, b) TO STDOUT WITH (FORMAT csv)",
        Select,
        &["s.t"],
        NONE,
        NONE,
        "",
    ),
    ("COPY t FROM STDIN", Insert, NONE, &["t"], NONE, ""),
    (
        "COPY (SELECT * FROM u) TO STDOUT",
        Select,
        &["u"],
        NONE,
        NONE,
        "",
    ),
    (
        "COPY (DELETE FROM t RETURNING *) TO STDOUT",
        Delete,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "COPY t FROM '/etc/passwd'",
        Admin,
        NONE,
        &["t"],
        NONE,
        "reads files on the database server",
    ),
    (
        "COPY t TO '/tmp/out'",
        Admin,
        &["t"],
        NONE,
        NONE,
        "writes files on the database server",
    ),
    (
        "COPY t TO PROGRAM 'sh'",
        Admin,
        &["t"],
        NONE,
        NONE,
        "PROGRAM",
    ),
    (
        "COPY t FROM PROGRAM 'curl x'",
        Admin,
        NONE,
        &["t"],
        NONE,
        "PROGRAM",
    ),
    (
        "COPY t FROM STDIN WHERE nextval('s') > 0",
        Update,
        NONE,
        &["t"],
        &["nextval"],
        "",
    ),
    // --- EXPLAIN
    ("EXPLAIN SELECT * FROM t", Select, &["t"], NONE, NONE, ""),
    ("EXPLAIN DELETE FROM t", Select, &["t"], NONE, NONE, ""),
    (
        "EXPLAIN (FORMAT json) UPDATE t SET a = 1",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "EXPLAIN ANALYZE DELETE FROM t",
        Delete,
        NONE,
        &["t"],
        NONE,
        "EXPLAIN ANALYZE",
    ),
    (
        "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1",
        Update,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "EXPLAIN (ANALYZE true) DELETE FROM t",
        Delete,
        NONE,
        &["t"],
        NONE,
        "",
    ),
    (
        "EXPLAIN (ANALYZE off) DELETE FROM t",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "EXPLAIN ANALYZE SELECT pg_read_file('x')",
        Admin,
        NONE,
        NONE,
        &["pg_read_file"],
        "pg_read_file",
    ),
    (
        "EXPLAIN SELECT pg_read_file('x')",
        Select,
        NONE,
        NONE,
        &["pg_read_file"],
        "",
    ),
    // --- session housekeeping
    ("SET search_path = x", Session, NONE, NONE, NONE, ""),
    ("SET statement_timeout = 0", Session, NONE, NONE, NONE, ""),
    ("SET LOCAL work_mem = '64MB'", Session, NONE, NONE, NONE, ""),
    (
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("RESET search_path", Session, NONE, NONE, NONE, ""),
    ("RESET ALL", Session, NONE, NONE, NONE, ""),
    ("SHOW ALL", Session, NONE, NONE, NONE, ""),
    ("SHOW search_path", Session, NONE, NONE, NONE, ""),
    ("BEGIN", Session, NONE, NONE, NONE, ""),
    ("START TRANSACTION READ ONLY", Session, NONE, NONE, NONE, ""),
    ("COMMIT", Session, NONE, NONE, NONE, ""),
    ("ROLLBACK", Session, NONE, NONE, NONE, ""),
    ("SAVEPOINT s1", Session, NONE, NONE, NONE, ""),
    ("RELEASE SAVEPOINT s1", Session, NONE, NONE, NONE, ""),
    ("ROLLBACK TO SAVEPOINT s1", Session, NONE, NONE, NONE, ""),
    ("DISCARD ALL", Session, NONE, NONE, NONE, ""),
    ("LISTEN channel", Session, NONE, NONE, NONE, ""),
    ("UNLISTEN *", Session, NONE, NONE, NONE, ""),
    (
        "DECLARE c CURSOR FOR SELECT * FROM t",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE",
        Update,
        &["t"],
        NONE,
        NONE,
        "locks rows",
    ),
    ("FETCH 10 FROM c", Session, NONE, NONE, NONE, ""),
    ("MOVE NEXT IN c", Session, NONE, NONE, NONE, ""),
    ("CLOSE c", Session, NONE, NONE, NONE, ""),
    (
        "SET CONSTRAINTS ALL DEFERRED",
        Session,
        NONE,
        NONE,
        NONE,
        "",
    ),
    // --- prepared statements by themselves
    ("PREPARE p AS DELETE FROM t", Delete, NONE, &["t"], NONE, ""),
    (
        "PREPARE q (int) AS SELECT * FROM t WHERE id = $1",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "EXECUTE p",
        Unknown,
        NONE,
        NONE,
        NONE,
        "prepared statement `p`",
    ),
    ("DEALLOCATE p", Session, NONE, NONE, NONE, ""),
    ("DEALLOCATE ALL", Session, NONE, NONE, NONE, ""),
    // --- unknowable
    (
        "DO $$ BEGIN DELETE FROM t; END $$",
        Unknown,
        NONE,
        NONE,
        NONE,
        "DO",
    ),
    ("CALL proc()", Unknown, NONE, NONE, &["proc"], "CALL"),
    (
        "CREATE TABLE x AS EXECUTE p",
        Unknown,
        NONE,
        &["x"],
        NONE,
        "EXECUTE",
    ),
    // --- lexical traps: comments, quoting, dollar quoting
    ("/* DELETE */ SELECT 1", Select, NONE, NONE, NONE, ""),
    ("-- x\nSELECT 1", Select, NONE, NONE, NONE, ""),
    ("SELECT 1 -- ; DELETE FROM t", Select, NONE, NONE, NONE, ""),
    (
        "SELECT 1 /* ; DELETE FROM t; */",
        Select,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT $tag$ DELETE FROM t; $tag$",
        Select,
        NONE,
        NONE,
        NONE,
        "",
    ),
    ("SELECT $$;DROP TABLE t;$$", Select, NONE, NONE, NONE, ""),
    ("SELECT 'a; DELETE FROM t'", Select, NONE, NONE, NONE, ""),
    (
        "SELECT E'\\'; DELETE FROM t; --'",
        Select,
        NONE,
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT \"; DELETE FROM t\" FROM t",
        Select,
        &["t"],
        NONE,
        NONE,
        "",
    ),
    (
        "SELECT /* nested /* comment */ still ; DELETE */ 1",
        Select,
        NONE,
        NONE,
        NONE,
        "",
    ),
];

fn check(case: &Case) {
    let (sql, kind, reads, writes, functions, reason) = *case;
    let classified = classify(sql);
    assert_eq!(classified.len(), 1, "{sql:?}: {classified:#?}");
    let statement = &classified[0].statement;
    assert_eq!(statement.kind, kind, "{sql:?}: {statement:#?}");
    for (what, expected, actual) in [
        ("reads", reads, &statement.reads),
        ("writes", writes, &statement.writes),
        ("functions", functions, &statement.functions),
    ] {
        if expected != ANY {
            assert_eq!(actual, expected, "{what} of {sql:?}: {statement:#?}");
        }
    }
    if !reason.is_empty() {
        let actual = statement.reason.as_deref().unwrap_or("");
        assert!(
            actual.contains(reason),
            "reason of {sql:?} is {actual:?}, expected it to contain {reason:?}"
        );
    }
    assert!(
        !statement.fingerprint.is_empty(),
        "{sql:?} has no fingerprint"
    );
}

#[test]
fn corpus() {
    assert!(CORPUS.len() >= 80, "only {} cases", CORPUS.len());
    for case in CORPUS {
        check(case);
    }
}

/// The corpus row with its digits rotated by `by`, or each `'...'` literal's inside (read
/// naively) replaced by `inside`: the same statement with other literal values, most of the
/// time, for the template cache.
fn altered(sql: &str, by: u8, inside: Option<&str>) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in sql.chars() {
        match (c, inside) {
            ('\'', Some(inside)) => {
                if quoted {
                    out.push_str(inside);
                }
                quoted = !quoted;
                out.push(c);
            }
            (_, Some(_)) if quoted => {}
            ('0'..='9', None) => out.push(char::from(b'0' + (c as u8 - b'0' + by) % 10)),
            _ => out.push(c),
        }
    }
    out
}

/// Every corpus row and its altered versions, through one cache in turn: each result is what
/// `classify` gives that text, whether it came from the full-text cache, a template or a
/// parse.
#[test]
fn a_classifier_gives_what_classify_gives() {
    let cache = Classifier::new(256);
    for (sql, ..) in CORPUS {
        let mut texts = vec![sql.to_string()];
        texts.extend((1..=3).map(|by| altered(sql, by, None)));
        texts.extend(["t", "f", "", "x"].map(|inside| altered(sql, 0, Some(inside))));
        texts.push(sql.to_string());
        for text in &texts {
            assert_eq!(&cache.classify(text)[..], &classify(text)[..], "{text:?}");
        }
    }
}

#[test]
fn plain_statements_have_no_reason() {
    for sql in [
        "SELECT * FROM t",
        "INSERT INTO t VALUES (1)",
        "DELETE FROM t",
        "BEGIN",
    ] {
        assert_eq!(classify(sql)[0].statement.reason, None, "{sql}");
    }
}

#[test]
fn updates_and_deletes_without_where_touch_all_rows() {
    for (sql, all_rows) in [
        ("DELETE FROM t", true),
        ("DELETE FROM t WHERE id = 1", false),
        ("UPDATE t SET a = 1", true),
        ("UPDATE t SET a = 1 WHERE a IS NULL", false),
        ("UPDATE t SET a = 1 FROM u WHERE u.id = t.id", false),
        ("UPDATE t SET a = (SELECT b FROM u WHERE u.id = 1)", true),
        (
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            true,
        ),
        (
            "WITH d AS (DELETE FROM t WHERE id = 2 RETURNING *) SELECT * FROM d",
            false,
        ),
        ("DELETE FROM t WHERE id IN (SELECT id FROM u)", false),
        ("SELECT * FROM t", false),
        ("INSERT INTO t SELECT * FROM u", false),
        ("EXPLAIN DELETE FROM t", false),
        ("TRUNCATE t", false),
    ] {
        assert_eq!(classify(sql)[0].statement.all_rows, all_rows, "{sql}");
    }
}

#[test]
fn conditions_that_hold_for_every_row_touch_all_rows() {
    for sql in [
        "DELETE FROM t WHERE true",
        "DELETE FROM t WHERE TRUE",
        "UPDATE t SET a = 1 WHERE 1 = 1",
        "UPDATE t SET a = 1 WHERE 1=1",
        "DELETE FROM t WHERE 'a' = 'a'",
        "DELETE FROM t WHERE NOT false",
        "DELETE FROM t WHERE true OR x",
        "DELETE FROM t WHERE x OR true",
        "DELETE FROM t WHERE x IS NOT NULL OR true",
        "DELETE FROM t WHERE id = id",
        "DELETE FROM t WHERE t.id >= t.id",
        "DELETE FROM t WHERE id IS NOT DISTINCT FROM id",
        "DELETE FROM t WHERE 't'",
        "DELETE FROM t WHERE ' yes '",
        "DELETE FROM t WHERE 2 > 1",
        "DELETE FROM t WHERE 1 <> 2",
        "DELETE FROM t WHERE 1 != 2",
        "DELETE FROM t WHERE 1 OPERATOR(pg_catalog.=) 1",
        "DELETE FROM t WHERE NULL IS NULL",
        "DELETE FROM t WHERE 1 IS NOT NULL",
        "DELETE FROM t WHERE (1 = 1) IS TRUE",
        "DELETE FROM t WHERE NULL IS UNKNOWN",
        "DELETE FROM t WHERE false IS NOT TRUE",
        "DELETE FROM t WHERE NULL IS DISTINCT FROM 1",
        "DELETE FROM t WHERE true AND (1 = 1 OR x = 2) AND NOT (1 = 2)",
        "DELETE FROM t WHERE ((true))",
        "WITH d AS (DELETE FROM t WHERE 1 = 1 RETURNING *) SELECT * FROM d",
        "UPDATE t SET a = 1 FROM u WHERE true",
    ] {
        assert!(classify(sql)[0].statement.all_rows, "{sql}");
    }
    for sql in [
        "DELETE FROM t WHERE false",
        "DELETE FROM t WHERE 1 = 2",
        "DELETE FROM t WHERE 'a' = 'b'",
        "DELETE FROM t WHERE NULL",
        "DELETE FROM t WHERE NULL = NULL",
        "DELETE FROM t WHERE true AND x",
        "DELETE FROM t WHERE x",
        "DELETE FROM t WHERE id = 1",
        "DELETE FROM t WHERE id = other",
        "DELETE FROM t WHERE id <> id",
        "DELETE FROM t WHERE 'a' < 'b'",
        "DELETE FROM t WHERE 'maybe'",
        "DELETE FROM t WHERE 1 OPERATOR(trap.=) 1",
        "DELETE FROM t WHERE x IS NOT NULL",
        "DELETE FROM t WHERE 'a' = 'a' AND id = 3",
        "DELETE FROM t WHERE CURRENT OF c",
        "DELETE FROM t WHERE EXISTS (SELECT 1)",
        "UPDATE t SET a = 1 WHERE id IN (1, 2)",
        "SELECT * FROM t WHERE true",
    ] {
        assert!(!classify(sql)[0].statement.all_rows, "{sql}");
    }
}

#[test]
fn merge_actions_set_the_kind_and_may_touch_all_rows() {
    for (sql, kind, all_rows) in [
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            Delete,
            false,
        ),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a",
            Update,
            false,
        ),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id)",
            Insert,
            false,
        ),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DO NOTHING",
            Select,
            false,
        ),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DO NOTHING WHEN NOT MATCHED THEN DO NOTHING",
            Select,
            false,
        ),
        (
            "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
            Delete,
            true,
        ),
        (
            "MERGE INTO t USING s ON 1 = 1 WHEN MATCHED THEN UPDATE SET a = 1",
            Update,
            true,
        ),
        (
            "MERGE INTO t USING s ON true WHEN MATCHED AND t.a = 1 THEN DELETE",
            Delete,
            false,
        ),
        (
            "MERGE INTO t USING s ON true WHEN MATCHED AND true THEN DELETE",
            Delete,
            true,
        ),
        (
            "MERGE INTO t USING s ON true WHEN NOT MATCHED THEN INSERT VALUES (1)",
            Insert,
            false,
        ),
        (
            "MERGE INTO t USING s ON false WHEN NOT MATCHED BY SOURCE THEN DELETE",
            Delete,
            true,
        ),
        (
            "MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
            Delete,
            false,
        ),
        (
            "MERGE INTO t USING s ON true WHEN MATCHED THEN DO NOTHING",
            Select,
            false,
        ),
        (
            "WITH m AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING t.*) SELECT * FROM m",
            Delete,
            true,
        ),
    ] {
        let statement = &classify(sql)[0].statement;
        assert_eq!(statement.kind, kind, "{sql}");
        assert_eq!(statement.all_rows, all_rows, "{sql}");
        assert_eq!(statement.writes, ["t"], "{sql}");
    }
}

#[test]
fn multi_statement_message_is_split_with_texts() {
    let classified = classify("SELECT 1; DELETE FROM t; SELECT 2");
    let kinds: Vec<SqlKind> = classified.iter().map(|c| c.statement.kind).collect();
    assert_eq!(kinds, [Select, Delete, Select]);
    let texts: Vec<&str> = classified
        .iter()
        .map(|c| c.statement.text.as_str())
        .collect();
    assert_eq!(texts, ["SELECT 1", "DELETE FROM t", "SELECT 2"]);
    assert_eq!(classified[1].statement.writes, ["t"]);
}

#[test]
fn statement_texts_survive_semicolons_in_literals_and_non_ascii() {
    let sql = "SELECT 'a;b' AS \"é;\" ; UPDATE \"tâble\" SET x = '€;' ;\n  SELECT $q$;$q$;";
    let classified = classify(sql);
    let texts: Vec<&str> = classified
        .iter()
        .map(|c| c.statement.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "SELECT 'a;b' AS \"é;\"",
            "UPDATE \"tâble\" SET x = '€;'",
            "SELECT $q$;$q$"
        ]
    );
    assert_eq!(classified[1].statement.kind, Update);
    assert_eq!(classified[1].statement.writes, ["tâble"]);
}

#[test]
fn fingerprints_ignore_constants_but_not_relations() {
    let a = classify("SELECT * FROM t WHERE id = 1");
    let b = classify("select *  from t where id = 42");
    let c = classify("SELECT * FROM u WHERE id = 1");
    let d = classify("SELECT * FROM secret.t WHERE id = 1");
    assert_eq!(a[0].statement.fingerprint, b[0].statement.fingerprint);
    assert_ne!(a[0].statement.fingerprint, c[0].statement.fingerprint);
    assert_ne!(a[0].statement.fingerprint, d[0].statement.fingerprint);
    assert_eq!(a[0].statement.fingerprint.len(), 16);
}

#[test]
fn empty_and_comment_only_messages_have_no_statements() {
    for sql in [
        "",
        "   \n\t",
        ";",
        ";;",
        " ; ; ",
        "-- only a comment",
        "/* only */",
        "-- a\n/* b */;",
    ] {
        assert!(classify(sql).is_empty(), "{sql:?}");
    }
}

#[test]
fn text_that_does_not_parse_is_one_unknown_statement() {
    for sql in [
        "SELEC 1",
        "\u{0}\u{1}",
        "SELECT 'abc",
        "SELECT \"abc",
        "SELECT $$abc",
        "/* unterminated",
        "SELECT 1; SELEC 2",
        "DELETE FROM",
        "💥",
    ] {
        let classified = classify(sql);
        assert_eq!(classified.len(), 1, "{sql:?}");
        let statement = &classified[0].statement;
        assert_eq!(statement.kind, Unknown, "{sql:?}");
        assert_eq!(statement.text, sql);
        assert!(statement.fingerprint.is_empty());
        let reason = statement.reason.as_deref().unwrap();
        assert!(reason.starts_with("does not parse: "), "{sql:?}: {reason}");
        assert!(reason.len() > "does not parse: ".len(), "{sql:?}: {reason}");
        assert_eq!(classified[0].prepared, None);
    }
    let syntax = classify("SELEC 1");
    assert_eq!(
        syntax[0].statement.reason.as_deref(),
        Some("does not parse: syntax error at or near \"SELEC\"")
    );
}

#[test]
fn too_deeply_nested_statements_are_unknown_not_a_crash() {
    let deep = format!("SELECT 1{}", " + 1".repeat(5_000));
    let classified = classify(&deep);
    assert_eq!(classified.len(), 1);
    assert_eq!(classified[0].statement.kind, Unknown);
    assert!(
        classified[0]
            .statement
            .reason
            .as_deref()
            .unwrap()
            .starts_with("does not parse: ")
    );
    // ... while ordinary nesting is analysed
    let moderate = format!("SELECT 1{} FROM t", " + 1".repeat(30));
    assert_eq!(classify(&moderate)[0].statement.kind, Select);
    let parens = format!("SELECT {}1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(classify(&parens).len(), 1);
}

#[test]
fn very_long_input_does_not_panic() {
    let sql = "SELECT 1;".repeat(1024 * 1024 / 9);
    let classified = classify(&sql);
    assert_eq!(classified.len(), 1024 * 1024 / 9);
    assert!(classified.iter().all(|c| c.statement.kind == Select));
    assert_eq!(classified[0].statement.text, "SELECT 1");

    let wide = format!("SELECT {} FROM t", vec!["1"; 100_000].join(", "));
    assert_eq!(classify(&wide)[0].statement.kind, Select);
}

#[test]
fn prepared_ops_are_reported() {
    let classified = classify(
        "PREPARE p AS DELETE FROM t; EXECUTE p; DEALLOCATE p; DEALLOCATE ALL; \
         DECLARE c CURSOR FOR SELECT 1; FETCH c; MOVE c; CLOSE c; CLOSE ALL; DISCARD ALL",
    );
    let ops: Vec<Option<PreparedOp>> = classified.iter().map(|c| c.prepared.clone()).collect();
    assert_eq!(
        ops,
        [
            Some(PreparedOp::Prepare { name: "p".into() }),
            Some(PreparedOp::Execute { name: "p".into() }),
            Some(PreparedOp::Deallocate {
                name: Some("p".into())
            }),
            Some(PreparedOp::Deallocate { name: None }),
            Some(PreparedOp::DeclareCursor { name: "c".into() }),
            Some(PreparedOp::UsesCursor { name: "c".into() }),
            Some(PreparedOp::UsesCursor { name: "c".into() }),
            Some(PreparedOp::CloseCursor {
                name: Some("c".into())
            }),
            Some(PreparedOp::CloseCursor { name: None }),
            Some(PreparedOp::DiscardAll),
        ]
    );
    assert_eq!(classify("SELECT 1")[0].prepared, None);
}

#[test]
fn fetch_resolves_to_the_declared_query() {
    let mut session = PreparedStatements::default();
    let resolved = session.resolve(&classify(
        "DECLARE c CURSOR FOR SELECT name FROM secrets; FETCH 10 FROM c; MOVE NEXT IN c",
    ));
    assert_eq!(resolved[0].kind, Select);
    for fetch in &resolved[1..] {
        assert_eq!(fetch.kind, Select);
        assert_eq!(fetch.reads, ["secrets"]);
        assert_eq!(fetch.reason.as_deref(), Some("fetches from cursor `c`"));
    }
    assert_eq!(resolved[1].text, "FETCH 10 FROM c");
    assert_eq!(
        resolved[1].fingerprint,
        classify("FETCH 10 FROM c")[0].statement.fingerprint
    );
    assert_eq!(session.cursor("c").unwrap().reads, ["secrets"]);
    assert!(session.cursor("d").is_none());
    assert!(session.is_empty(), "cursors are not prepared statements");
}

#[test]
fn fetch_takes_the_strength_of_the_declared_query() {
    let mut session = PreparedStatements::default();
    let resolved = session.resolve(&classify(
        "DECLARE f CURSOR FOR SELECT pg_read_file('/etc/passwd'); \
         DECLARE l CURSOR WITH HOLD FOR SELECT * FROM t FOR UPDATE; \
         FETCH ALL f; FETCH FORWARD 5 FROM l",
    ));
    assert_eq!(resolved[2].kind, Admin);
    assert_eq!(resolved[2].functions, ["pg_read_file"]);
    assert_eq!(resolved[3].kind, Update);
    assert_eq!(resolved[3].reads, ["t"]);
}

#[test]
fn fetch_of_a_cursor_not_declared_through_gatehouse() {
    let mut session = PreparedStatements::default();
    let resolved = session.resolve(&classify("FETCH ALL FROM \"<unnamed portal 1>\"; MOVE c"));
    for fetch in &resolved {
        assert_eq!(fetch.kind, Select, "{fetch:?}");
        assert!(fetch.reads.is_empty());
        assert!(
            fetch
                .reason
                .as_deref()
                .unwrap()
                .contains("not declared through gatehouse"),
            "{fetch:?}"
        );
    }
    // the protocol adapter's own portals stay out of reach
    let resolved = session.resolve(&classify("FETCH gh_abc_p1; MOVE gh_abc_p1"));
    assert!(resolved.iter().all(|s| s.kind == Unknown), "{resolved:?}");
}

#[test]
fn close_and_discard_forget_cursors_but_deallocate_does_not() {
    let mut session = PreparedStatements::default();
    let declare = "DECLARE a CURSOR FOR SELECT * FROM t; DECLARE b CURSOR FOR SELECT * FROM u";
    let reads_of = |session: &mut PreparedStatements, name: &str| {
        session.resolve(&classify(&format!("FETCH {name}")))[0]
            .reads
            .clone()
    };
    session.resolve(&classify(declare));
    session.resolve(&classify("CLOSE a"));
    assert!(reads_of(&mut session, "a").is_empty());
    assert_eq!(reads_of(&mut session, "b"), ["u"]);

    session.resolve(&classify("DEALLOCATE ALL"));
    assert_eq!(reads_of(&mut session, "b"), ["u"]);

    session.resolve(&classify("CLOSE ALL"));
    assert!(session.cursor("b").is_none());

    session.resolve(&classify(declare));
    session.resolve(&classify("PREPARE p AS SELECT 1"));
    session.resolve(&classify("DISCARD ALL"));
    assert!(session.cursor("a").is_none() && session.cursor("b").is_none());
    assert!(session.prepared("p").is_none());
}

#[test]
fn a_second_declare_cannot_downgrade_a_cursor() {
    let mut session = PreparedStatements::default();
    session.resolve(&classify("DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE"));
    session.resolve(&classify("DECLARE c CURSOR FOR SELECT 1"));
    let resolved = session.resolve(&classify("FETCH c"));
    assert_eq!(resolved[0].kind, Update);
    assert_eq!(resolved[0].reads, ["t"]);
}

#[test]
fn cursor_names_are_case_folded_like_the_server() {
    let mut session = PreparedStatements::default();
    session.resolve(&classify("DECLARE MyCursor CURSOR FOR SELECT * FROM t"));
    assert_eq!(session.resolve(&classify("FETCH mycursor"))[0].reads, ["t"]);
    assert!(
        session.resolve(&classify("FETCH \"MyCursor\""))[0]
            .reads
            .is_empty()
    );
}

#[test]
fn prepared_statements_can_be_looked_up() {
    let mut session = PreparedStatements::default();
    session.resolve(&classify("PREPARE p AS DELETE FROM t"));
    assert_eq!(session.prepared("p").unwrap().kind, Delete);
    assert!(session.prepared("q").is_none());
}

#[test]
fn execute_resolves_to_what_was_prepared() {
    let mut session = PreparedStatements::default();
    let resolved = session.resolve(&classify("PREPARE p AS DELETE FROM t"));
    assert_eq!(resolved[0].kind, Delete);

    let resolved = session.resolve(&classify("EXECUTE p"));
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].kind, Delete);
    assert_eq!(resolved[0].writes, ["t"]);
    assert_eq!(resolved[0].text, "EXECUTE p");
    assert_eq!(
        resolved[0].reason.as_deref(),
        Some("executes prepared statement `p`")
    );
    assert_eq!(
        resolved[0].fingerprint,
        classify("EXECUTE p")[0].statement.fingerprint
    );
}

#[test]
fn execute_of_an_unseen_name_is_unknown() {
    let mut session = PreparedStatements::default();
    let resolved = session.resolve(&classify("EXECUTE nope(1)"));
    assert_eq!(resolved[0].kind, Unknown);
    assert_eq!(
        resolved[0].reason.as_deref(),
        Some("executes prepared statement `nope`, which gatehouse has not seen prepared")
    );
}

#[test]
fn deallocate_then_execute_is_unknown() {
    let mut session = PreparedStatements::default();
    let resolved = session.resolve(&classify(
        "PREPARE p AS SELECT * FROM t; EXECUTE p; DEALLOCATE p; EXECUTE p",
    ));
    let kinds: Vec<SqlKind> = resolved.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [Select, Select, Session, Unknown]);

    session.resolve(&classify(
        "PREPARE a AS DELETE FROM t; PREPARE b AS UPDATE t SET x = 1",
    ));
    session.resolve(&classify("DEALLOCATE ALL"));
    let resolved = session.resolve(&classify("EXECUTE a; EXECUTE b"));
    assert!(resolved.iter().all(|s| s.kind == Unknown));
}

#[test]
fn prepared_names_are_case_folded_like_the_server() {
    let mut session = PreparedStatements::default();
    session.resolve(&classify("PREPARE MyStmt AS DELETE FROM t"));
    assert_eq!(session.resolve(&classify("EXECUTE mystmt"))[0].kind, Delete);
    assert_eq!(
        session.resolve(&classify("EXECUTE \"MyStmt\""))[0].kind,
        Unknown
    );
}

#[test]
fn resolve_passes_other_statements_through() {
    let mut session = PreparedStatements::default();
    let classified = classify("SELECT 1; DELETE FROM t");
    let resolved = session.resolve(&classified);
    assert_eq!(resolved[0], classified[0].statement);
    assert_eq!(resolved[1], classified[1].statement);
}
