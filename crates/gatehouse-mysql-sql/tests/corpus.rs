//! The classification corpus: every rule of the allowlist and the lexer, and the bypass
//! attempts that motivate them, as a table of texts and what gatehouse must read in them.

#![allow(clippy::expect_used)]

use gatehouse_core::SqlKind::{self, *};
use gatehouse_mysql_sql::{Classified, Lexing, SessionChange, SqlMode, classify};

fn run(text: &str, mode: &str) -> Vec<Classified> {
    let lexing = Lexing {
        mode: SqlMode::from_server_value(mode),
        server_version: 101119,
    };
    classify(text, &lexing)
}

fn kinds(text: &str, mode: &str) -> Vec<SqlKind> {
    run(text, mode).iter().map(|c| c.statement.kind).collect()
}

/// (text, sql_mode, the kind of each statement)
const KINDS: &[(&str, &str, &[SqlKind])] = &[
    // Queries.
    ("SELECT 1", "", &[Select]),
    ("select a from t where b = 'x'", "", &[Select]),
    ("WITH c AS (SELECT 1) SELECT * FROM c", "", &[Select]),
    ("(SELECT 1) UNION (SELECT 2)", "", &[Select]),
    ("TABLE t", "", &[Select]),
    ("VALUES (1, 2), (3, 4)", "", &[Select]),
    ("SELECT * FROM t FOR UPDATE", "", &[Update]),
    ("SELECT * FROM t LOCK IN SHARE MODE", "", &[Update]),
    ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "", &[Admin]),
    ("SELECT a FROM t INTO DUMPFILE '/tmp/x'", "", &[Admin]),
    ("SELECT a FROM t INTO @v", "", &[Select]),
    (
        "SELECT EXTRACT(YEAR FROM d), TRIM(' ' FROM x) FROM t",
        "",
        &[Select],
    ),
    // Functions.
    (
        "SELECT CONCAT(a, 'x'), COUNT(*), JSON_EXTRACT(j, '$.a'), NOW() FROM t",
        "",
        &[Select],
    ),
    ("SELECT DATABASE(), USER(), VERSION()", "", &[Select]),
    ("SELECT evil(1)", "", &[Unknown]),
    ("SELECT db.f(1)", "", &[Unknown]),
    ("SELECT `concat`(1)", "", &[Unknown]),
    ("SELECT LOAD_FILE('/etc/passwd')", "", &[Admin]),
    ("SELECT SLEEP(10)", "", &[Admin]),
    ("SELECT BENCHMARK(1000000, MD5('a'))", "", &[Admin]),
    ("SELECT GET_LOCK('a', 1)", "", &[Admin]),
    ("SELECT RELEASE_ALL_LOCKS()", "", &[Admin]),
    ("SELECT MASTER_GTID_WAIT('0-1-1')", "", &[Admin]),
    ("SELECT NEXTVAL(s)", "", &[Update]),
    ("SELECT NEXT VALUE FOR s", "", &[Update]),
    ("SELECT PREVIOUS VALUE FOR s", "", &[Update]),
    ("SELECT SETVAL(s, 10)", "", &[Update]),
    ("SELECT count (*) FROM t", "", &[Unknown]),
    ("SELECT count (*) FROM t", "IGNORE_SPACE", &[Select]),
    ("SELECT count/**/(*) FROM t", "IGNORE_SPACE", &[Unknown]),
    ("SELECT IF (a, 1, 2) FROM t", "", &[Select]),
    (
        "SELECT * FROM t WHERE a IN (1, 2) AND EXISTS (SELECT 1 FROM u)",
        "",
        &[Select],
    ),
    ("SELECT CAST(a AS DECIMAL(10, 2)) FROM t", "", &[Select]),
    (
        "SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) FROM t",
        "",
        &[Select],
    ),
    ("SELECT POINT(1, 2)", "", &[Select]),
    ("SELECT POINT(1)", "", &[Unknown]),
    ("SELECT LINESTRING()", "", &[Unknown]),
    (
        "SELECT * FROM JSON_TABLE('[1]', '$[*]' COLUMNS (a INT PATH '$')) AS j",
        "",
        &[Select],
    ),
    ("SELECT JSON_TABLE('[1]')", "", &[Unknown]),
    ("SELECT columns(1)", "", &[Unknown]),
    ("SELECT HIGH_PRIORITY evil(1)", "", &[Unknown]),
    ("SELECT against(1)", "", &[Unknown]),
    (
        "SELECT * FROM t WHERE MATCH (a) AGAINST ('x')",
        "",
        &[Select],
    ),
    // Inserts.
    ("INSERT INTO t (a, b) VALUES (1, 2)", "", &[Insert]),
    ("INSERT t(a) VALUE (1)", "", &[Insert]),
    ("INSERT INTO t VALUE (1)", "", &[Insert]),
    ("SELECT value(1)", "", &[Unknown]),
    ("INSERT INTO t SELECT * FROM u", "", &[Insert]),
    ("INSERT INTO t SET a = 1", "", &[Insert]),
    (
        "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)",
        "",
        &[Update],
    ),
    ("INSERT INTO t VALUES (1) RETURNING id", "", &[Insert]),
    ("INSERT INTO t VALUES (evil())", "", &[Unknown]),
    ("REPLACE INTO t VALUES (1)", "", &[Delete]),
    // Updates and deletes.
    ("UPDATE t SET a = 1 WHERE id = 2", "", &[Update]),
    (
        "UPDATE t1, t2 SET t1.a = t2.b WHERE t1.id = t2.id",
        "",
        &[Update],
    ),
    ("DELETE FROM t WHERE id = 1", "", &[Delete]),
    ("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", "", &[Delete]),
    (
        "DELETE FROM t1 USING t1 JOIN t2 ON t1.id = t2.id",
        "",
        &[Delete],
    ),
    ("DELETE FROM t WHERE id = 1 RETURNING id", "", &[Delete]),
    // Schema.
    ("CREATE TABLE t (a INT, b VARCHAR(10))", "", &[Ddl]),
    ("CREATE OR REPLACE TABLE t AS SELECT * FROM u", "", &[Ddl]),
    ("CREATE TABLE t SELECT evil()", "", &[Unknown]),
    ("ALTER TABLE t ADD COLUMN c INT", "", &[Ddl]),
    (
        "CREATE TABLE t (a INT) ENGINE = CONNECT TABLE_TYPE = CSV FILE_NAME = '/etc/passwd'",
        "",
        &[Admin],
    ),
    (
        "CREATE TABLE t (a INT) ENGINE=FEDERATED CONNECTION='mysql://u@h/d/t'",
        "",
        &[Admin],
    ),
    (
        "CREATE TABLE t (a INT) DATA DIRECTORY = '/tmp'",
        "",
        &[Admin],
    ),
    ("ALTER TABLE t ENGINE = InnoDB", "", &[Ddl]),
    ("SELECT ST_ASTEXT(POINT(1, 2))", "", &[Select]),
    ("DROP TABLE IF EXISTS t, u", "", &[Ddl]),
    ("TRUNCATE TABLE t", "", &[Ddl]),
    ("RENAME TABLE a TO b", "", &[Ddl]),
    ("CREATE VIEW v AS SELECT 1", "", &[Ddl]),
    (
        "CREATE DEFINER = 'a'@'%' SQL SECURITY INVOKER VIEW v AS SELECT 1",
        "",
        &[Ddl],
    ),
    ("CREATE UNIQUE INDEX i ON t (a)", "", &[Ddl]),
    ("CREATE DATABASE d", "", &[Ddl]),
    (
        "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DELETE FROM t",
        "",
        &[Ddl],
    ),
    ("CREATE SEQUENCE s", "", &[Ddl]),
    ("CREATE FUNCTION f() RETURNS INT RETURN 1", "", &[Ddl]),
    (
        "CREATE FUNCTION udf RETURNS STRING SONAME 'udf.so'",
        "",
        &[Admin],
    ),
    (
        "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (HOST 'h')",
        "",
        &[Admin],
    ),
    ("CREATE SYNONYM s FOR t", "", &[Unknown]),
    ("SELECT user, password FROM mysql.user", "", &[Admin]),
    ("SELECT * FROM `mysql`.`global_priv`", "", &[Admin]),
    (
        "SELECT info FROM information_schema.PROCESSLIST",
        "",
        &[Admin],
    ),
    ("SELECT * FROM information_schema.tables", "", &[Select]),
    ("INSERT INTO mysql.db VALUES (1)", "", &[Admin]),
    ("UPDATE mysql.global_priv SET priv = '{}'", "", &[Admin]),
    // Privileges.
    ("GRANT SELECT ON d.* TO 'u'@'%'", "", &[Dcl]),
    ("REVOKE ALL ON *.* FROM u", "", &[Dcl]),
    ("CREATE USER u IDENTIFIED BY 'p'", "", &[Dcl]),
    ("ALTER USER u IDENTIFIED BY 'p'", "", &[Dcl]),
    ("DROP USER u", "", &[Dcl]),
    ("RENAME USER a TO b", "", &[Dcl]),
    ("CREATE ROLE r", "", &[Dcl]),
    ("DROP ROLE r", "", &[Dcl]),
    ("SET PASSWORD FOR u = PASSWORD('x')", "", &[Dcl]),
    ("SET DEFAULT ROLE r FOR u", "", &[Dcl]),
    ("SET ROLE r", "", &[Admin]),
    // SET.
    ("SET GLOBAL max_connections = 10", "", &[Admin]),
    ("SET @@global.max_connections = 10", "", &[Admin]),
    ("SET PERSIST max_connections = 10", "", &[Admin]),
    (
        "SET GLOBAL max_connections = 10, sql_mode = 'ANSI'",
        "",
        &[Unknown],
    ),
    ("SET SESSION wait_timeout = 10", "", &[Session]),
    ("SET LOCAL wait_timeout = 10", "", &[Session]),
    ("SET @@session.wait_timeout = 10", "", &[Session]),
    ("SET @a = 1, @b := 'x'", "", &[Session]),
    ("SET @a = (SELECT secret FROM t)", "", &[Select]),
    ("SET @a = evil()", "", &[Unknown]),
    ("SET @a = LOAD_FILE('/etc/passwd')", "", &[Admin]),
    ("SET sql_log_bin = 0", "", &[Admin]),
    // Only the server knows these modes: session housekeeping, the rest of the message unknown
    // (an adapter allows them only where the server reports the mode it sets).
    (
        "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
        "",
        &[Session],
    ),
    (
        "SET sql_mode=(SELECT CONCAT(@@sql_mode, ',PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION')),time_zone='+00:00',NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
        "",
        &[Session],
    ),
    (
        "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES'); SELECT 1",
        "",
        &[Session, Unknown],
    ),
    ("SET sql_mode = DEFAULT", "", &[Session]),
    ("SET sql_mode = @m", "", &[Session]),
    ("SET sql_mode = evil()", "", &[Unknown]),
    ("SET sql_mode = 'ANSI' 'QUOTES'", "", &[Session]),
    ("SET sql_mode = 'ANSI', NAMES utf8mb4", "", &[Unknown]),
    ("SET NAMES gbk", "", &[Unknown]),
    ("SET CHARACTER SET sjis", "", &[Unknown]),
    ("SET character_set_client = big5", "", &[Unknown]),
    ("SET character_set_results = utf8mb4", "", &[Unknown]),
    ("SET character_set_connection = utf8mb4", "", &[Unknown]),
    ("SET session_track_schema = OFF", "", &[Unknown]),
    ("SET NAMES DEFAULT", "", &[Unknown]),
    (
        "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
        "",
        &[Session],
    ),
    ("SET SESSION TRANSACTION READ ONLY", "", &[Session]),
    ("SET GLOBAL TRANSACTION READ ONLY", "", &[Admin]),
    (
        "SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t",
        "",
        &[Select],
    ),
    (
        "SET STATEMENT max_statement_time = 1 FOR DELETE FROM t",
        "",
        &[Delete],
    ),
    (
        "SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 1",
        "",
        &[Select],
    ),
    (
        "SET STATEMENT sql_mode = 'NO_BACKSLASH_ESCAPES' FOR SELECT 'a\\'; DROP TABLE t; -- '",
        "",
        &[Select],
    ),
    (
        "SET STATEMENT sql_mode = DEFAULT FOR SELECT 1",
        "",
        &[Select],
    ),
    ("SET STATEMENT sql_log_bin = 0 FOR SELECT 1", "", &[Admin]),
    (
        "SET STATEMENT character_set_client = gbk FOR SELECT 1",
        "",
        &[Unknown],
    ),
    (
        "SET sql_mode = @m; SELECT 'a\\'; DROP TABLE t; -- '",
        "",
        &[Session, Unknown],
    ),
    ("SET NAMES gbk; SELECT 1", "", &[Unknown, Unknown]),
    (
        "SET @@sql_mode = 'ANSI', @@sql_mode = ''; SELECT 1",
        "",
        &[Unknown, Unknown],
    ),
    ("EXECUTE s; SELECT 1", "", &[Unknown, Unknown]),
    ("EXECUTE IMMEDIATE @sql; SELECT 1", "", &[Unknown, Unknown]),
    (
        "SET character_set_results = utf8mb4; SELECT 1",
        "",
        &[Unknown, Select],
    ),
    ("SET @a = evil(); SELECT 1", "", &[Unknown, Select]),
    // Session and transactions.
    ("USE d", "", &[Session]),
    ("BEGIN", "", &[Session]),
    ("BEGIN WORK", "", &[Session]),
    (
        "BEGIN NOT ATOMIC DELETE FROM t; END",
        "",
        &[Unknown, Unknown],
    ),
    ("START TRANSACTION READ ONLY", "", &[Session]),
    (
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE",
        "",
        &[Session],
    ),
    ("COMMIT", "", &[Session]),
    ("COMMIT WORK AND NO CHAIN", "", &[Session]),
    ("ROLLBACK TO SAVEPOINT s", "", &[Session]),
    ("SAVEPOINT s", "", &[Session]),
    ("RELEASE SAVEPOINT s", "", &[Session]),
    ("SHOW VARIABLES LIKE 'sql_mode'", "", &[Session]),
    ("SHOW WARNINGS", "", &[Session]),
    ("SHOW TABLES", "", &[Select]),
    ("SHOW CREATE TABLE t", "", &[Select]),
    ("SHOW FULL PROCESSLIST", "", &[Admin]),
    ("SHOW BINLOG EVENTS", "", &[Admin]),
    ("DESCRIBE t", "", &[Select]),
    ("DESC t", "", &[Select]),
    ("EXPLAIN SELECT * FROM t", "", &[Select]),
    ("EXPLAIN DELETE FROM t", "", &[Select]),
    ("EXPLAIN FORMAT=JSON UPDATE t SET a = 1", "", &[Select]),
    ("EXPLAIN SELECT evil()", "", &[Unknown]),
    ("EXPLAIN ANALYZE DELETE FROM t", "", &[Delete]),
    ("ANALYZE DELETE FROM t", "", &[Delete]),
    ("ANALYZE FORMAT=JSON SELECT 1", "", &[Select]),
    ("ANALYZE TABLE t", "", &[Admin]),
    ("HELP 'select'", "", &[Session]),
    // Prepared statements.
    (
        "PREPARE s FROM 'SELECT * FROM t WHERE a = ?'",
        "",
        &[Select],
    ),
    ("PREPARE s FROM 'DELETE FROM t'", "", &[Delete]),
    ("PREPARE s FROM @sql", "", &[Unknown]),
    ("PREPARE s FROM CONCAT('DELETE', ' FROM t')", "", &[Unknown]),
    ("PREPARE s FROM 'SELECT 1; DELETE FROM t'", "", &[Unknown]),
    ("PREPARE s FROM 'USE d'", "", &[Unknown]),
    ("EXECUTE s USING @a", "", &[Unknown]),
    ("EXECUTE IMMEDIATE 'DELETE FROM t'", "", &[Delete]),
    ("EXECUTE IMMEDIATE CONCAT('SELECT', ' 1')", "", &[Unknown]),
    ("DEALLOCATE PREPARE s", "", &[Session]),
    ("DROP PREPARE s", "", &[Session]),
    // Outside the database, and unknown forms.
    ("LOAD DATA INFILE '/tmp/x' INTO TABLE t", "", &[Admin]),
    ("LOAD DATA LOCAL INFILE 'x' INTO TABLE t", "", &[Admin]),
    ("LOAD XML INFILE '/tmp/x' INTO TABLE t", "", &[Admin]),
    ("LOCK TABLES t WRITE", "", &[Admin]),
    ("UNLOCK TABLES", "", &[Session]),
    ("KILL 5", "", &[Admin]),
    ("FLUSH PRIVILEGES", "", &[Admin]),
    ("SHUTDOWN", "", &[Admin]),
    ("RESET MASTER", "", &[Admin]),
    ("PURGE BINARY LOGS TO 'x'", "", &[Admin]),
    ("CHANGE MASTER TO MASTER_HOST = 'h'", "", &[Admin]),
    ("START SLAVE", "", &[Admin]),
    ("STOP REPLICA", "", &[Admin]),
    ("INSTALL SONAME 'ha_x'", "", &[Admin]),
    ("UNINSTALL PLUGIN x", "", &[Admin]),
    ("OPTIMIZE TABLE t", "", &[Admin]),
    ("REPAIR TABLE t", "", &[Admin]),
    ("CHECK TABLE t", "", &[Admin]),
    ("CACHE INDEX t IN c", "", &[Admin]),
    ("LOAD INDEX INTO CACHE t", "", &[Admin]),
    ("CALL p()", "", &[Unknown]),
    ("DO 1", "", &[Unknown]),
    ("HANDLER t OPEN", "", &[Unknown]),
    ("XA START 'x'", "", &[Unknown]),
    ("BINLOG 'abc'", "", &[Unknown]),
    ("FROBNICATE", "", &[Unknown]),
    // Everything under ORACLE.
    ("SELECT 1", "ORACLE", &[Unknown]),
    // Lexing: multi-statements and comments.
    ("SELECT 1; DELETE FROM t", "", &[Select, Delete]),
    ("SELECT 1;", "", &[Select]),
    ("SELECT 1; -- trailing", "", &[Select]),
    ("SELECT ';' ; SELECT 2", "", &[Select, Select]),
    ("SELECT 1 # ; DELETE FROM t", "", &[Select]),
    ("SELECT 1 #\n; DELETE FROM t", "", &[Select, Delete]),
    ("SELECT 1 -- ; DELETE FROM t", "", &[Select]),
    ("SELECT 1 --; DELETE FROM t", "", &[Select, Delete]),
    ("SELECT 1--1; DELETE FROM t", "", &[Select, Delete]),
    ("SELECT 1 --\t; DELETE FROM t", "", &[Select]),
    ("SELECT 1 /* ; DELETE FROM t */", "", &[Select]),
    (
        "SELECT 1 /* /* */ ; DELETE FROM t /* */",
        "",
        &[Select, Delete],
    ),
    ("SELECT 1 /*+ ; DELETE FROM t */", "", &[Select]),
    // Executable comments.
    ("SELECT 1 /*!, (DELETE FROM t) */", "", &[Unknown]),
    (
        "SELECT 1 /*! FROM t WHERE 1 */ ; /*!50000 DROP TABLE t*/",
        "",
        &[Select, Ddl],
    ),
    ("/*!50000 DROP TABLE t*/", "", &[Ddl]),
    ("/*!50700 DROP TABLE t*/ SELECT 1", "", &[Select]),
    ("/*M!50700 DROP TABLE t*/", "", &[Ddl]),
    ("/*M!100000 DROP TABLE t*/", "", &[Ddl]),
    ("/*!100000 DROP TABLE t*/", "", &[Ddl]),
    ("/*!999999 DROP TABLE t*/ SELECT 1", "", &[Select]),
    ("/*!99999 /* x */ DROP TABLE t */ SELECT 1", "", &[Select]),
    (
        "/*!999999 /* x */ ; DROP TABLE t */ SELECT 1",
        "",
        &[Select],
    ),
    ("SELECT 1 /*! ; DROP TABLE t */", "", &[Unknown]),
    ("SELECT 1 /*! , 2", "", &[Unknown]),
    ("SELECT 1 /*! # */\n, (DELETE FROM t) */", "", &[Unknown]),
    ("SELECT 1 /*! , '*/' */", "", &[Select]),
    ("SELECT evil/*!*/(1)", "", &[Unknown]),
    // Quotes and modes.
    ("SELECT 'a\\'; DROP TABLE t; -- '", "", &[Select]),
    (
        "SELECT 'a\\'; DROP TABLE t; -- '",
        "NO_BACKSLASH_ESCAPES",
        &[Select, Ddl],
    ),
    ("SELECT \"a\\\"; DROP TABLE t; -- \"", "", &[Select]),
    (
        "SELECT \"a\\\"; DROP TABLE t; -- \"",
        "ANSI_QUOTES",
        &[Select, Ddl],
    ),
    ("SELECT \"a'\"; DELETE FROM t; -- '", "", &[Select, Delete]),
    (
        "SELECT \"a'\"; DELETE FROM t; -- '",
        "ANSI_QUOTES",
        &[Select, Delete],
    ),
    (
        "SELECT 'a\"'; DELETE FROM t; -- \"",
        "ANSI",
        &[Select, Delete],
    ),
    ("SELECT `a;b` FROM t", "", &[Select]),
    ("SELECT `a``; DROP TABLE t; --` FROM t", "", &[Select]),
    ("SELECT 'unterminated", "", &[Unknown]),
    ("SELECT 1\0, 2", "", &[Unknown]),
    (
        "SELECT @\"a\\\"; DROP TABLE t; -- \"",
        "ANSI_QUOTES",
        &[Select, Ddl],
    ),
    ("SELECT @\"a\\\"; DROP TABLE t; -- \"", "", &[Select]),
    // A mode set midway changes how the rest of the message is read.
    (
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP TABLE t; -- '",
        "",
        &[Session, Select, Ddl],
    ),
    (
        "SET sql_mode = ''; SELECT 'a\\'; DROP TABLE t; -- '",
        "NO_BACKSLASH_ESCAPES",
        &[Session, Select],
    ),
    (
        "SET sql_mode = ANSI_QUOTES; SELECT \"a\\\"; DROP TABLE t; -- \"",
        "",
        &[Session, Select, Ddl],
    ),
    (
        "EXECUTE IMMEDIATE 'SET sql_mode = ''NO_BACKSLASH_ESCAPES'''; SELECT 'a\\'; DROP TABLE t; -- '",
        "",
        &[Session, Select, Ddl],
    ),
    ("SET sql_mode = 'ORACLE'; SELECT 1", "", &[Session, Unknown]),
    ("SHOW CREATE USER u", "", &[Admin]),
    ("SELECT X'4g'; DROP TABLE t", "", &[Unknown]),
    (
        "SELECT _utf8mb4'a;b', N'c;d', X'41', B'1', 0x41, 0b1, ?, @a, @@session.x",
        "",
        &[Select],
    ),
];

#[test]
fn kinds_of_the_corpus() {
    let mut failures = Vec::new();
    for (text, mode, expected) in KINDS {
        let got = kinds(text, mode);
        if got != *expected {
            let reasons: Vec<_> = run(text, mode)
                .into_iter()
                .map(|c| c.statement.reason)
                .collect();
            failures.push(format!(
                "{text:?} [{mode}]: expected {expected:?}, got {got:?} {reasons:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn empty_and_comment_only_text_is_nothing() {
    assert!(run("", "").is_empty());
    assert!(run("  ; ; ", "").is_empty());
    assert!(run("/* c */ -- x\n# y", "").is_empty());
    assert!(run("/*!50700 DROP TABLE t */", "").is_empty());
}

#[test]
fn unreadable_text_is_one_unknown_holding_it_all() {
    let got = run("SELECT 1; SELECT 'x", "");
    assert_eq!(got.len(), 1);
    let only = &got.first().expect("one statement").statement;
    assert_eq!(only.text, "SELECT 1; SELECT 'x");
    assert_eq!(only.kind, Unknown);
    assert!(
        only.reason
            .as_deref()
            .is_some_and(|r| r.contains("unterminated"))
    );
}

fn one(text: &str, mode: &str) -> Classified {
    let mut all = run(text, mode);
    assert_eq!(all.len(), 1, "{text}");
    all.remove(0)
}

#[test]
fn tables_read_and_written() {
    let select = one(
        "SELECT * FROM `Db`.`T1` a JOIN t2 ON a.x = t2.x, t3 AS c LEFT JOIN (SELECT 1 FROM t4) d ON 1 WHERE EXISTS (SELECT 1 FROM t5)",
        "",
    );
    assert_eq!(select.statement.reads, ["db.t1", "t2", "t3", "t4", "t5"]);
    let cte = one("WITH c AS (SELECT * FROM t) SELECT * FROM c", "");
    assert_eq!(cte.statement.reads, ["t"]);
    let ansi = one("SELECT * FROM \"T\"", "ANSI_QUOTES");
    assert_eq!(ansi.statement.reads, ["t"]);
    let insert = one("INSERT INTO d.t (a) SELECT a FROM u", "");
    assert_eq!(
        (
            insert.statement.writes.as_slice(),
            insert.statement.reads.as_slice()
        ),
        (&["d.t".to_owned()][..], &["u".to_owned()][..])
    );
    let update = one("UPDATE t1, t2 SET t1.a = t2.b", "");
    assert_eq!(update.statement.writes, ["t1", "t2"]);
    let delete = one("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", "");
    assert_eq!(delete.statement.writes, ["t1"]);
    assert_eq!(delete.statement.reads, ["t1", "t2"]);
    let using = one("DELETE FROM t1 USING t1, t2 WHERE t1.id = t2.id", "");
    assert_eq!(using.statement.writes, ["t1"]);
    assert_eq!(using.statement.reads, ["t1", "t2"]);
    let drop = one("DROP TABLE IF EXISTS a, b.c", "");
    assert_eq!(drop.statement.writes, ["a", "b.c"]);
    let ctas = one("CREATE TABLE t AS SELECT * FROM u", "");
    assert_eq!(
        (
            ctas.statement.writes.as_slice(),
            ctas.statement.reads.as_slice()
        ),
        (&["t".to_owned()][..], &["u".to_owned()][..])
    );
    let explain = one("EXPLAIN DELETE FROM t WHERE a IN (SELECT a FROM u)", "");
    assert_eq!(explain.statement.reads, ["u", "t"]);
    let table = one("TABLE d.t", "");
    assert_eq!(table.statement.reads, ["d.t"]);
    let show = one("SHOW COLUMNS FROM t IN d", "");
    assert_eq!(show.statement.reads, ["d.t"]);
    let tables = one("SHOW FULL TABLES FROM d", "");
    assert!(tables.statement.reads.is_empty());
    let index = one("SHOW INDEX FROM d.t", "");
    assert_eq!(index.statement.reads, ["d.t"]);
    let describe = one("DESCRIBE d.t", "");
    assert_eq!(describe.statement.reads, ["d.t"]);
}

#[test]
fn functions_called() {
    let c = one(
        "SELECT CONCAT(a, 'x'), NEXT VALUE FOR s, evil(1) FROM t",
        "",
    );
    assert_eq!(c.statement.functions, ["concat", "nextval", "evil"]);
    assert_eq!(c.statement.kind, Unknown);
    assert!(
        c.statement
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("evil"))
    );
    let load = one("SELECT LOAD_FILE('/etc/passwd')", "");
    assert!(
        load.statement
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("load_file"))
    );
}

#[test]
fn all_rows() {
    for (text, expected) in [
        ("UPDATE t SET a = 1", true),
        ("UPDATE t SET a = 1 WHERE 1", true),
        ("UPDATE t SET a = 1 WHERE TRUE", true),
        ("DELETE FROM t WHERE 1=1", true),
        ("DELETE FROM t WHERE 1 = 1 LIMIT 10", true),
        ("DELETE FROM t", true),
        ("DELETE FROM t WHERE id = 1", false),
        (
            "UPDATE t SET a = (SELECT 1 FROM u WHERE x) WHERE id = 2",
            false,
        ),
        ("UPDATE t SET a = (SELECT 1 FROM u WHERE x)", true),
        ("SELECT * FROM t", false),
    ] {
        assert_eq!(one(text, "").statement.all_rows, expected, "{text}");
    }
}

#[test]
fn session_changes() {
    let cases: &[(&str, &str, Option<SessionChange>)] = &[
        (
            "USE `My db`",
            "",
            Some(SessionChange::UseDatabase("My db".to_owned())),
        ),
        (
            "SET NAMES utf8mb4",
            "",
            Some(SessionChange::ClientCharset("utf8mb4".to_owned())),
        ),
        (
            "SET NAMES 'UTF8' COLLATE 'utf8_bin'",
            "",
            Some(SessionChange::ClientCharset("utf8".to_owned())),
        ),
        (
            "SET CHARACTER SET latin1",
            "",
            Some(SessionChange::ClientCharset("latin1".to_owned())),
        ),
        (
            "SET character_set_client = utf8mb4",
            "",
            Some(SessionChange::ClientCharset("utf8mb4".to_owned())),
        ),
        (
            "SET sql_mode = 'ANSI_QUOTES'",
            "",
            Some(SessionChange::SqlMode("ANSI_QUOTES".to_owned())),
        ),
        (
            "SET @@sql_mode := ''",
            "",
            Some(SessionChange::SqlMode(String::new())),
        ),
        (
            "SET @@session.sql_mode = 'ANSI'",
            "",
            Some(SessionChange::SqlMode("ANSI".to_owned())),
        ),
        (
            "SET SESSION sql_mode = \"ANSI\"",
            "",
            Some(SessionChange::SqlMode("ANSI".to_owned())),
        ),
        (
            "SET a = 1, sql_mode = 'NO_BACKSLASH_ESCAPES'",
            "",
            Some(SessionChange::SqlMode("NO_BACKSLASH_ESCAPES".to_owned())),
        ),
        ("SET @@global.sql_mode = 'ANSI'", "", None),
        (
            "PREPARE Stmt FROM 'SELECT 1'",
            "",
            Some(SessionChange::Prepare {
                name: "stmt".to_owned(),
            }),
        ),
        (
            "PREPARE s FROM @x",
            "",
            Some(SessionChange::Prepare {
                name: "s".to_owned(),
            }),
        ),
        (
            "EXECUTE s USING @a, @b",
            "",
            Some(SessionChange::Execute {
                name: "s".to_owned(),
            }),
        ),
        (
            "DEALLOCATE PREPARE s",
            "",
            Some(SessionChange::Deallocate {
                name: "s".to_owned(),
            }),
        ),
        (
            "DROP PREPARE s",
            "",
            Some(SessionChange::Deallocate {
                name: "s".to_owned(),
            }),
        ),
        (
            "EXECUTE IMMEDIATE 'USE d'",
            "",
            Some(SessionChange::UseDatabase("d".to_owned())),
        ),
        ("SET wait_timeout = 5", "", None),
        (
            "SET sql_mode = ANSI_QUOTES",
            "",
            Some(SessionChange::SqlMode("ANSI_QUOTES".to_owned())),
        ),
    ];
    for (text, mode, expected) in cases {
        let got = one(text, mode);
        assert_eq!(&got.session, expected, "{text}: {:?}", got.statement.reason);
    }
    let global = one("SET @@global.sql_mode = 'ANSI'", "");
    assert_eq!(global.statement.kind, Admin);
    let from_server = one("SET sql_mode = CONCAT(@@sql_mode, ',ANSI')", "");
    assert_eq!(
        from_server.session,
        Some(gatehouse_mysql_sql::SessionChange::SqlModeFromServer)
    );
}

#[test]
fn prepared_text_is_read_unescaped() {
    let p = one(r"PREPARE s FROM 'SELECT \'x\' FROM t; DELETE FROM u'", "");
    assert_eq!(
        p.statement.kind, Unknown,
        "two statements cannot be prepared"
    );
    let q = one(r"PREPARE s FROM 'SELECT \'a;b\' FROM t'", "");
    assert_eq!(
        (q.statement.kind, q.statement.reads.as_slice()),
        (Select, &["t".to_owned()][..])
    );
    let r = one("PREPARE s FROM 'SELECT ''a'' FROM t FOR UPDATE'", "");
    assert_eq!(r.statement.kind, Update);
}

#[test]
fn texts_and_fingerprints() {
    let two = run("  SELECT 1 ;\n DELETE FROM t WHERE a = 'x' -- c\n", "");
    let texts: Vec<&str> = two.iter().map(|c| c.statement.text.as_str()).collect();
    assert_eq!(texts, ["SELECT 1", "DELETE FROM t WHERE a = 'x' -- c"]);
    let a = one("SELECT a FROM t WHERE b = 1 AND c = 'x' /* note */", "");
    let b = one("select  a from t where b = 42 and c = \"yy\"", "");
    assert_eq!(a.statement.fingerprint, b.statement.fingerprint);
    assert_eq!(
        a.statement.fingerprint,
        "select a from t where b = ? and c = ?"
    );
    let executable = one("SELECT 1 /*!, 2 */", "");
    assert_eq!(executable.statement.fingerprint, "select ? , ?");
    let other = one("SELECT a FROM u WHERE b = 1 AND c = 'x'", "");
    assert_ne!(a.statement.fingerprint, other.statement.fingerprint);
    for (one_text, other_text) in [
        (
            "PREPARE s FROM 'SELECT 1'",
            "PREPARE s FROM 'DELETE FROM t'",
        ),
        (
            "EXECUTE IMMEDIATE 'SELECT 1'",
            "EXECUTE IMMEDIATE 'DELETE FROM t'",
        ),
        ("SET sql_mode = 'ANSI'", "SET sql_mode = ''"),
        ("SET NAMES 'latin1'", "SET NAMES 'utf8mb4'"),
    ] {
        assert_ne!(
            one(one_text, "").statement.fingerprint,
            one(other_text, "").statement.fingerprint,
            "{one_text} / {other_text}"
        );
    }
}

#[test]
fn reasons_explain_the_stronger_kind() {
    let replace = one("REPLACE INTO t VALUES (1)", "");
    assert!(
        replace
            .statement
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("REPLACE"))
    );
    let local = one("LOAD DATA LOCAL INFILE 'x' INTO TABLE t", "");
    assert!(
        local
            .statement
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("client"))
    );
    let server = one("LOAD DATA INFILE 'x' INTO TABLE t", "");
    assert!(
        server
            .statement
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("database server"))
    );
    let select = one("SELECT 1", "");
    assert_eq!(select.statement.reason, None);
    let unknown = one("FROBNICATE", "");
    assert!(unknown.statement.reason.is_some());
}
