//! Property tests: whatever a client sends, classification returns (never panics), and what it
//! returns keeps its contract.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use gatehouse_core::SqlKind;
use gatehouse_sql::{Classifier, PreparedStatements, classify};
use proptest::prelude::*;

/// Fragments that make the parser work: keywords, quoting, comments, nesting.
const FRAGMENTS: &[&str] = &[
    "SELECT ",
    "DELETE ",
    "FROM ",
    "t",
    " WHERE ",
    "1",
    "'",
    "\"",
    "$$",
    "$a$",
    ";",
    "(",
    ")",
    "--",
    "/*",
    "*/",
    "\n",
    " ",
    ",",
    "WITH x AS ",
    "INSERT INTO ",
    "VALUES ",
    "UPDATE ",
    " SET ",
    "=",
    "EXPLAIN ANALYZE ",
    "PREPARE p AS ",
    "EXECUTE p",
    "COPY ",
    " TO STDOUT",
    "FOR UPDATE",
    "pg_read_file(",
    "nextval(",
    "U&\"\\0061\"",
    "E'\\''",
    "::",
    "[",
    "]",
    "CREATE TABLE ",
    "GRANT ",
    "SET ROLE ",
    "é",
    "\u{0}",
    "+",
    "MERGE INTO ",
    "RETURNING *",
];

fn check_contract(sql: &str) {
    let classified = classify(sql);
    for c in &classified {
        let s = &c.statement;
        if s.reason.as_deref().is_some_and(|r| {
            r.starts_with(gatehouse_sql::UNPARSABLE)
                || r.starts_with(gatehouse_sql::LEXES_DIFFERENTLY)
        }) {
            assert_eq!(classified.len(), 1);
            assert_eq!(s.kind, SqlKind::Unknown);
            assert_eq!(s.text, sql);
        } else {
            assert!(!s.text.is_empty());
            assert_eq!(s.text, s.text.trim());
            assert!(sql.contains(s.text.as_str()));
        }
        for list in [&s.reads, &s.writes, &s.functions] {
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(&sorted, list, "lists are sorted and deduplicated");
        }
    }
    PreparedStatements::default().resolve(&classified);
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(sql in any::<String>()) {
        check_contract(&sql);
    }

    #[test]
    fn sql_like_soup_never_panics(parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40)) {
        let sql: String = parts.concat();
        check_contract(&sql);
    }

    #[test]
    fn cache_agrees_with_classify(parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..20)) {
        let sql: String = parts.concat();
        let cache = Classifier::new(8);
        let cached = cache.classify(&sql);
        prop_assert_eq!(&cached[..], &classify(&sql)[..]);
        prop_assert!(std::sync::Arc::ptr_eq(&cached, &cache.classify(&sql)));
    }
}
