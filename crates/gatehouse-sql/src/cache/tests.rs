#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
use super::*;
use crate::classify::PARSED;
use gatehouse_core::SqlKind;
use proptest::prelude::*;

/// Messages this thread has parsed so far.
fn parsed() -> usize {
    PARSED.with(std::cell::Cell::get)
}

#[test]
fn repeated_text_returns_the_same_arc() {
    let cache = Classifier::new(16);
    let first = cache.classify("SELECT * FROM t WHERE id = 1");
    let second = cache.classify("SELECT * FROM t WHERE id = 1");
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(first[0].statement.kind, SqlKind::Select);
    let other = cache.classify("DELETE FROM t");
    assert!(!Arc::ptr_eq(&first, &other));
    assert_eq!(other[0].statement.kind, SqlKind::Delete);
}

#[test]
fn stays_bounded_and_keeps_recent_entries() {
    let cache = Classifier::new(8);
    for i in 0..100 {
        // texts without literals: full-text entries only
        cache.classify(&format!("SELECT * FROM t{i}"));
        assert!(cache.len() <= 8, "len {} after {i}", cache.len());
    }
    let recent = cache.classify("SELECT * FROM t99");
    assert!(Arc::ptr_eq(&recent, &cache.classify("SELECT * FROM t99")));
    for i in 0..100 {
        // a new template each time, and each first text by its text
        cache.classify(&format!("SELECT * FROM t{i} WHERE id = 1"));
        assert!(cache.len() <= 16, "len {} after {i}", cache.len());
    }
}

#[test]
fn previous_generation_hits_are_promoted() {
    let cache = Classifier::new(4);
    let a = cache.classify("SELECT a");
    cache.classify("SELECT b");
    cache.classify("SELECT c"); // rotates: a, b now previous
    let again = cache.classify("SELECT a");
    assert!(Arc::ptr_eq(&a, &again));
}

#[test]
fn zero_capacity_and_huge_messages_are_not_cached() {
    let cache = Classifier::new(0);
    let first = cache.classify("SELECT 1");
    assert!(!Arc::ptr_eq(&first, &cache.classify("SELECT 1")));
    assert!(cache.is_empty());

    let cache = Classifier::new(8);
    let huge = format!("SELECT '{}'", "x".repeat(MAX_CACHED_LEN));
    assert_eq!(cache.classify(&huge).len(), 1);
    assert!(cache.is_empty());
}

#[test]
fn shared_across_threads() {
    let cache = Arc::new(Classifier::new(64));
    let handles: Vec<_> = (0..4)
        .map(|n| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let sql = format!("SELECT {}", i % 10 + n);
                    let result = cache.classify(&sql);
                    assert_eq!(&result[..], &classify(&sql)[..]);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert!(cache.len() <= 128);
}

#[test]
fn a_template_hit_parses_nothing() {
    let cache = Classifier::new(64);
    let first = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;";
    cache.classify(first);
    for aid in [1, 7, 99_999, 2_147_483_647] {
        let sql = format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};");
        let before = parsed();
        let hit = cache.classify(&sql);
        assert_eq!(parsed(), before, "{sql}");
        assert_eq!(&hit[..], &classify(&sql)[..]);
        assert_eq!(
            hit[0].statement.text,
            format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid}")
        );
    }
}

/// The family is templated: no text after the first is parsed.
const TEMPLATED: Option<bool> = Some(true);
/// The family is not (the classification depends on a value, a literal is not an expression
/// constant, or the message gets no key): every text is parsed.
const PARSED_EACH: Option<bool> = Some(false);
/// Some texts of the family are templated and some are not.
const MIXED: Option<bool> = None;

/// Families of texts that share a key, or look as if they might: each is run in order, and
/// in reverse order, through a fresh cache, and every result must be exactly what `classify`
/// gives that text.
const FAMILIES: &[(Option<bool>, &[&str])] = &[
    // pgbench's simple protocol, tpcb-like
    (
        TEMPLATED,
        &[
            "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
            "SELECT abalance FROM pgbench_accounts WHERE aid = 2147483647;",
        ],
    ),
    (
        TEMPLATED,
        &[
            "UPDATE pgbench_accounts SET abalance = abalance + -4171 WHERE aid = 5;",
            "UPDATE pgbench_accounts SET abalance = abalance + -1 WHERE aid = 99;",
            "UPDATE pgbench_accounts SET abalance = abalance + -2147483647 WHERE aid = 0;",
        ],
    ),
    (
        TEMPLATED,
        &[
            "UPDATE pgbench_tellers SET tbalance = tbalance + 4171 WHERE tid = 5;",
            "UPDATE pgbench_tellers SET tbalance = tbalance + 0 WHERE tid = 10;",
        ],
    ),
    (
        TEMPLATED,
        &[
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (3, 1, 4124, -3455, CURRENT_TIMESTAMP);",
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (9, 1, 77, -1, CURRENT_TIMESTAMP);",
        ],
    ),
    // constant folding decides all_rows
    (
        PARSED_EACH,
        &[
            "DELETE FROM t WHERE 1 = 2",
            "DELETE FROM t WHERE 1 = 1",
            "DELETE FROM t WHERE 2 = 1",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "UPDATE t SET a = 1 WHERE 2 > 1",
            "UPDATE t SET a = 1 WHERE 1 > 2",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "DELETE FROM t WHERE x OR 1 = 1",
            "DELETE FROM t WHERE x OR 1 = 2",
        ],
    ),
    // unknown with 'n', every row with 'y': the folded value is unknown for the first
    (
        PARSED_EACH,
        &[
            "DELETE FROM t WHERE x = 1 OR 'n'",
            "DELETE FROM t WHERE x = 1 OR 'y'",
            "DELETE FROM t WHERE x = 1 OR 'maybe'",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "UPDATE t SET a = 1 WHERE 'a' = 'b'",
            "UPDATE t SET a = 1 WHERE 'a' = 'a'",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "DELETE FROM t WHERE id = id AND 1 = 1",
            "DELETE FROM t WHERE id = id AND 1 = 0",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "MERGE INTO t USING s ON 1 = 2 WHEN MATCHED THEN DELETE",
            "MERGE INTO t USING s ON 1 = 1 WHEN MATCHED THEN DELETE",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "MERGE INTO t USING s ON 1 = 1 WHEN NOT MATCHED BY SOURCE THEN DELETE",
            "MERGE INTO t USING s ON 1 = 2 WHEN NOT MATCHED BY SOURCE THEN DELETE",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "WITH d AS (DELETE FROM t WHERE 1 = 2 RETURNING *) SELECT * FROM d",
            "WITH d AS (DELETE FROM t WHERE 1 = 1 RETURNING *) SELECT * FROM d",
        ],
    ),
    // no condition at all: every row whatever the values elsewhere
    (
        TEMPLATED,
        &["DELETE FROM t RETURNING 1", "DELETE FROM t RETURNING 2"],
    ),
    (
        TEMPLATED,
        &[
            "UPDATE t SET a = 'x' WHERE id = 5",
            "UPDATE t SET a = 'it''s' WHERE id = 6",
        ],
    ),
    // a SELECT's condition decides nothing
    (
        TEMPLATED,
        &["SELECT 1 FROM t WHERE 'y'", "SELECT 1 FROM t WHERE 'n'"],
    ),
    // positional references in the lineage
    (
        PARSED_EACH,
        &[
            "SELECT a, b FROM t ORDER BY 1",
            "SELECT a, b FROM t ORDER BY 2",
            "SELECT a, b FROM t ORDER BY 3",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "SELECT a, count(*) FROM t GROUP BY 1",
            "SELECT a, count(*) FROM t GROUP BY 2",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "SELECT DISTINCT ON (1) a, b FROM t",
            "SELECT DISTINCT ON (2) a, b FROM t",
        ],
    ),
    // literals that are not expression constants, and statements that are not plain DML
    (
        PARSED_EACH,
        &[
            "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE 'sql'",
            "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE 'c'",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "SET search_path = 'a'",
            "SET search_path = 'pg_catalog'",
            "SET search_path = 'pg_temp'",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "SET work_mem = '64MB'",
            "SET standard_conforming_strings = 'off'",
        ],
    ),
    (
        PARSED_EACH,
        &["COPY t FROM '/x'", "COPY t FROM '/etc/passwd'"],
    ),
    (
        PARSED_EACH,
        &[
            "EXPLAIN (ANALYZE 0) DELETE FROM t WHERE id = 1",
            "EXPLAIN (ANALYZE 1) DELETE FROM t WHERE id = 1",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "PREPARE p AS DELETE FROM t WHERE 1 = 2",
            "PREPARE p AS DELETE FROM t WHERE 1 = 1",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "SELECT U&'d!0061t' UESCAPE '!'",
            "SELECT U&'d!0061t' UESCAPE '?'",
        ],
    ),
    (PARSED_EACH, &["SELECT 1::float(10)", "SELECT 1::float(30)"]),
    (PARSED_EACH, &["SELECT 1::int[5]", "SELECT 1::int[7]"]),
    (
        PARSED_EACH,
        &["SELECT nextval('s')", "SELECT nextval('pg_authid')"],
    ),
    (
        PARSED_EACH,
        &[
            "SELECT * FROM pg_authid WHERE rolname = 'a'",
            "SELECT * FROM pg_authid WHERE rolname = 'b'",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "INSERT INTO t VALUES (1) ON CONFLICT (a) DO UPDATE SET b = 2",
            "INSERT INTO t VALUES (3) ON CONFLICT (a) DO UPDATE SET b = 4",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "SELECT * FROM t WHERE a = 1 FOR UPDATE",
            "SELECT * FROM t WHERE a = 2 FOR UPDATE",
        ],
    ),
    // multi-statement messages get no key
    (PARSED_EACH, &["SELECT 1; SELECT 2", "SELECT 3; SELECT 4"]),
    (
        PARSED_EACH,
        &["SELECT 1; DELETE FROM t", "SELECT 2; DELETE FROM t"],
    ),
    // escapes: E'...', U&'...' and dollar quotes stay in the key
    (TEMPLATED, &["SELECT E'\\'', 1", "SELECT E'\\'', 2"]),
    (PARSED_EACH, &["SELECT E'\\'', 1", "SELECT E'\\\\', 1"]),
    (PARSED_EACH, &["SELECT U&'d\\0061t'", "SELECT U&'d\\0062t'"]),
    (TEMPLATED, &["SELECT $$a$$, 1", "SELECT $$a$$, 2"]),
    (PARSED_EACH, &["SELECT $$a$$", "SELECT $$b$$"]),
    // a value that reads differently with standard_conforming_strings off: classified in
    // full, and refused
    (
        MIXED,
        &["SELECT 'a\\b', 1", "SELECT 'a\\', 1", "SELECT 'c\\d', 2"],
    ),
    (
        MIXED,
        &[
            "SELECT * FROM t WHERE a = 'x' AND b = 1",
            "SELECT * FROM t WHERE a = '\\' AND b = 1",
            "SELECT * FROM t WHERE a = 'y' AND b = 2",
        ],
    ),
    // negative numbers
    (TEMPLATED, &["SELECT -1", "SELECT -2", "SELECT -0"]),
    (TEMPLATED, &["SELECT - 3", "SELECT - 4"]),
    (TEMPLATED, &["SELECT -1.5", "SELECT -2.5e3"]),
    (TEMPLATED, &["SELECT 5 - 3", "SELECT 1 - 1"]),
    (PARSED_EACH, &["SELECT - - 1", "SELECT - - 2"]),
    // typed literals and casts
    (
        TEMPLATED,
        &["SELECT date '2020-01-01'", "SELECT date '1999-12-31'"],
    ),
    (
        TEMPLATED,
        &["SELECT interval '1' day", "SELECT interval '2' day"],
    ),
    (
        TEMPLATED,
        &["SELECT 'pg_authid'::regclass", "SELECT 'secret'::regclass"],
    ),
    (
        TEMPLATED,
        &["SELECT 'a'::varchar(10)", "SELECT 'b'::varchar(20)"],
    ),
    (TEMPLATED, &["SELECT N'abc'", "SELECT N'xyz'"]),
    // literals holding statement syntax
    (
        TEMPLATED,
        &[
            "SELECT * FROM t WHERE a = ';' AND b = 1",
            "SELECT * FROM t WHERE a = '--' AND b = 2",
        ],
    ),
    (
        TEMPLATED,
        &[
            "SELECT * FROM t WHERE a = '; DELETE FROM t; --' AND b = 3;",
            "SELECT * FROM t WHERE a = '/*' AND b = 4;",
        ],
    ),
    (
        TEMPLATED,
        &[
            "  SELECT * FROM t WHERE a = 'x' ; -- trailing\n",
            "  SELECT * FROM t WHERE a = 'it''s; DROP TABLE t' ; -- trailing\n",
        ],
    ),
    // classes: int4, numeric, string
    (
        TEMPLATED,
        &[
            "SELECT * FROM t WHERE id IN (1, 2, 3) LIMIT 10",
            "SELECT * FROM t WHERE id IN (4, 5, 6) LIMIT 20",
        ],
    ),
    (
        PARSED_EACH,
        &[
            "SELECT * FROM t LIMIT 2147483647",
            "SELECT * FROM t LIMIT 2147483648",
        ],
    ),
    (TEMPLATED, &["SELECT 1.5e3", "SELECT 2.5e-3", "SELECT 1."]),
    (PARSED_EACH, &["SELECT 0x1F", "SELECT 0x2F"]),
    (TEMPLATED, &["SELECT /* 'x' */ 1", "SELECT /* 'x' */ 2"]),
    (PARSED_EACH, &["SELECT 1 FROM", "SELECT 2 FROM"]),
];

/// Runs `texts` through `cache`, checking each result against `classify`; returns the number
/// of texts after the first that were parsed.
fn run(cache: &Classifier, texts: &[&str]) -> usize {
    let mut parses = 0;
    for (index, sql) in texts.iter().enumerate() {
        let before = parsed();
        let cached = cache.classify(sql);
        if index > 0 && parsed() > before {
            parses += 1;
        }
        let direct = classify(sql);
        assert_eq!(
            &cached[..],
            &direct[..],
            "{sql:?} after {:?}",
            &texts[..index]
        );
    }
    parses
}

#[test]
fn cached_classification_is_always_the_direct_one() {
    for (templated, texts) in FAMILIES {
        let mut reversed = texts.to_vec();
        reversed.reverse();
        for order in [texts.to_vec(), reversed] {
            let parses = run(&Classifier::new(64), &order);
            match templated {
                Some(true) => assert_eq!(parses, 0, "{order:?} should be templated"),
                Some(false) => {
                    assert_eq!(parses, order.len() - 1, "{order:?} must not be templated");
                }
                None => {}
            }
        }
    }
}

/// The fingerprint a template hit reports is its first text's: pg_query's fingerprint must not
/// depend on the values, for every pair of texts that share a key.
#[test]
fn texts_with_one_key_have_one_fingerprint() {
    let texts: Vec<&str> = FAMILIES
        .iter()
        .flat_map(|(_, texts)| texts.iter().copied())
        .collect();
    let mut checked = 0;
    for one in &texts {
        for other in &texts {
            let (Some(a), Some(b)) = (literals::normalise(one), literals::normalise(other)) else {
                continue;
            };
            if a.key != b.key {
                continue;
            }
            let (one, other) = (&classify(one)[0].statement, &classify(other)[0].statement);
            if one.reason.is_none() && other.reason.is_none() {
                assert_eq!(one.fingerprint, other.fingerprint, "{one:?} {other:?}");
                checked += 1;
            }
        }
    }
    assert!(checked > 100, "{checked}");
}

/// Statements with slots for literal values: `{i}` an integer, `{n}` a numeric, `{s}` a
/// string (quoted and doubled here).
const PATTERNS: &[&str] = &[
    "SELECT abalance FROM pgbench_accounts WHERE aid = {i};",
    "UPDATE pgbench_accounts SET abalance = abalance + -{i} WHERE aid = {i};",
    "DELETE FROM t WHERE {i} = {i}",
    "DELETE FROM t WHERE {s} = {s} RETURNING {n}",
    "DELETE FROM t WHERE x = 1 OR {s}",
    "UPDATE t SET a = {s} WHERE NOT {s} AND {i} <> -{i}",
    "UPDATE t SET a = {s} WHERE b = {i} OR {s} IS NOT NULL",
    "MERGE INTO t USING s ON {i} = {i} WHEN MATCHED THEN DELETE",
    "SELECT a, b FROM t ORDER BY {i}",
    "SELECT * FROM t WHERE a = {s} AND b > {n} LIMIT {i}",
    "SELECT {s}::regclass, -{n}",
    "SET search_path = {s}",
    "COPY t FROM {s}",
    "SELECT * FROM t WHERE a = {s}; -- {s}",
    "SELECT {s} FROM t WHERE a = {s} UNION SELECT {s} ORDER BY {i}",
];

fn literal() -> impl Strategy<Value = (String, String, String)> {
    (
        prop_oneof![0u64..10, 0u64..3_000_000_000],
        (0u32..1000, 0u32..1000, prop::option::of(-5i32..5)),
        prop_oneof![
            Just(String::new()),
            "[a-z]{0,3}".prop_map(String::from),
            prop::sample::select(vec![
                "t",
                "y",
                "n",
                "yes",
                "off",
                "1",
                "0",
                "'",
                "\\",
                "\\'",
                ";",
                "--",
                "/*",
                "$$",
                "pg_authid",
                " true ",
            ])
            .prop_map(String::from),
            any::<String>(),
        ],
    )
        .prop_map(|(integer, (whole, fraction, exponent), string)| {
            let numeric = match exponent {
                Some(exponent) => format!("{whole}.{fraction}e{exponent}"),
                None => format!("{whole}.{fraction}"),
            };
            let string = format!("'{}'", string.replace('\'', "''"));
            (integer.to_string(), numeric, string)
        })
}

fn fill(pattern: &str, values: &[(String, String, String)]) -> String {
    let mut text = String::new();
    let mut values = values.iter().cycle();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        text.push_str(&rest[..start]);
        let (integer, numeric, string) = values.next().unwrap();
        text.push_str(match &rest[start..start + 3] {
            "{i}" => integer,
            "{n}" => numeric,
            _ => string,
        });
        rest = &rest[start + 3..];
    }
    text.push_str(rest);
    text
}

proptest! {
    #[test]
    fn any_literal_values_give_the_direct_classification(
        pattern in prop::sample::select(PATTERNS),
        sets in prop::collection::vec(prop::collection::vec(literal(), 1..4), 2..6),
    ) {
        let cache = Classifier::new(64);
        for values in &sets {
            let sql = fill(pattern, values);
            let cached = cache.classify(&sql);
            let direct = classify(&sql);
            prop_assert_eq!(&cached[..], &direct[..], "{}", sql);
        }
    }
}
