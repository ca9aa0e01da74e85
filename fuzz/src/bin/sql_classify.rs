//! Fuzz target: arbitrary text as the SQL of a client's Query or Parse message, through the
//! classifier (PostgreSQL's own parser via `pg_query`, then gatehouse's tree walk) and the
//! session's SQL-level prepared-statement tracking.
//!
//! Input: the bytes as text (invalid UTF-8 replaced, as only UTF-8 passes the wire decoders).
//! Checked: nothing panics and nothing hangs (AFL's timeout; the classifier bounds tree depth);
//! the contract of `gatehouse_sql::classify` holds: an unparsable message, or one refused because
//! `standard_conforming_strings` would change where its statements end, is exactly one
//! `Unknown` statement holding the whole text, otherwise every statement's text is a trimmed,
//! non-empty piece of the message, and the reads/writes/functions lists are sorted and
//! deduplicated. And the cache gives what `classify` gives: a `Classifier` warmed with the
//! input, then given versions of it with other digits and other `'...'` contents (the same
//! statement with other literal values, where the template cache may answer without a
//! parse), returns for each exactly what `classify` returns for it.
//!
//! `fuzz_nohook!`: the classifier catches a panic inside the parser on purpose (the message
//! becomes `Unknown`), so only panics that escape `classify` are crashes.

use gatehouse_core::SqlKind;
use gatehouse_sql::{Classifier, PreparedStatements, classify};

fn main() {
    afl::fuzz_nohook!(|data: &[u8]| {
        let sql = String::from_utf8_lossy(data);
        let classified = classify(&sql);
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
                assert!(
                    list.windows(2).all(|w| w[0] < w[1]),
                    "sorted and deduplicated"
                );
            }
        }
        let mut prepared = PreparedStatements::default();
        prepared.resolve(&classified);
        prepared.resolve(&classified);

        let cache = Classifier::new(16);
        assert_eq!(&cache.classify(&sql)[..], &classified[..]);
        for (by, inside) in [(1, None), (7, None), (0, Some("y")), (3, Some("';--"))] {
            let other = altered(&sql, by, inside);
            assert_eq!(
                &cache.classify(&other)[..],
                &classify(&other)[..],
                "{other:?}"
            );
        }
    });
}

/// `sql` with every ASCII digit rotated by `by`, and, given `inside`, the text between each
/// pair of `'` (read naively, without regard to comments or other quotes) replaced by it.
fn altered(sql: &str, by: u8, inside: Option<&str>) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                if let (true, Some(inside)) = (quoted, inside) {
                    out.push_str(inside);
                }
                quoted = !quoted;
                out.push(c);
            }
            _ if quoted && inside.is_some() => {}
            '0'..='9' => out.push(char::from(b'0' + (c as u8 - b'0' + by) % 10)),
            _ => out.push(c),
        }
    }
    out
}
