//! `classify` must never panic nor hang whatever a client sends: arbitrary strings, text
//! built from the lexer's special characters and keywords, under every mode that changes
//! reading.

use gatehouse_mysql_sql::{Lexing, SqlMode, classify};
use proptest::prelude::*;

const MODES: &[&str] = &[
    "",
    "ANSI_QUOTES",
    "NO_BACKSLASH_ESCAPES",
    "ANSI",
    "IGNORE_SPACE",
    "ORACLE",
];

/// Pieces that exercise the lexer and the allowlist together.
const PIECES: &[&str] = &[
    "'",
    "\"",
    "`",
    "\\",
    "/*",
    "*/",
    "/*!",
    "/*M!",
    "/*!50700",
    "/*!101119",
    "--",
    "-- ",
    "#",
    "\n",
    ";",
    "(",
    ")",
    ",",
    ".",
    "@",
    "@@",
    "?",
    "=",
    ":=",
    "0x",
    "X'",
    "N'",
    "_utf8mb4",
    "SELECT",
    "FROM",
    "t",
    "INSERT",
    "INTO",
    "UPDATE",
    "SET",
    "DELETE",
    "WHERE",
    "1",
    "PREPARE",
    "EXECUTE",
    "IMMEDIATE",
    "STATEMENT",
    "FOR",
    "sql_mode",
    "NAMES",
    "EXPLAIN",
    "ANALYZE",
    "WITH",
    "AS",
    "JOIN",
    "USING",
    "DROP",
    "TABLE",
    "GLOBAL",
    "SESSION",
    "count",
    " ",
    "VALUE",
    "NEXT",
    "FOR",
    "CREATE",
    "DEFINER",
    "USE",
    "SHOW",
];

fn lexing(mode: usize) -> Lexing {
    Lexing {
        mode: SqlMode::from_server_value(
            MODES.get(mode % MODES.len()).copied().unwrap_or_default(),
        ),
        server_version: 101119,
    }
}

proptest! {
    #[test]
    fn arbitrary_strings(text in ".{0,200}", mode in 0usize..6) {
        let _ = classify(&text, &lexing(mode));
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text(bytes in proptest::collection::vec(any::<u8>(), 0..200), mode in 0usize..6) {
        let _ = classify(&String::from_utf8_lossy(&bytes), &lexing(mode));
    }

    #[test]
    fn lexer_pieces(pieces in proptest::collection::vec(0usize..PIECES.len(), 0..40), mode in 0usize..6) {
        let text: String = pieces
            .iter()
            .filter_map(|&i| PIECES.get(i))
            .flat_map(|piece| [*piece, " "])
            .collect();
        let glued: String = pieces.iter().filter_map(|&i| PIECES.get(i).copied()).collect();
        let _ = classify(&text, &lexing(mode));
        let _ = classify(&glued, &lexing(mode));
    }
}

/// Text built to make a careless scan quadratic (unbalanced parentheses, long table lists,
/// many statements) is read in time linear in its length.
#[test]
fn adversarial_text_is_read_in_linear_time() {
    let lexing = lexing(0);
    let n = 20_000;
    let texts = [
        format!("SELECT {}", "a(".repeat(n)),
        format!("WITH {}", ", a (".repeat(n)),
        format!("SELECT 1 FROM {}", "t, ".repeat(n)),
        format!(
            "SELECT 1 FROM {}",
            (0..n).map(|i| format!("t{i}, ")).collect::<String>()
        ),
        format!("SELECT 1 FROM t {}", "JOIN u USE ".repeat(n)),
        format!("SELECT {}", "(".repeat(n)),
        "SELECT 1;".repeat(n),
        "SET sql_mode='ANSI'; SET sql_mode='';".repeat(n / 2),
        format!("SELECT 1;{}", " ".repeat(n * 10)),
    ];
    for text in texts {
        let start = std::time::Instant::now();
        let _ = classify(&text, &lexing);
        let took = start.elapsed();
        assert!(
            took < std::time::Duration::from_secs(5),
            "{} bytes starting {:?} took {took:?}",
            text.len(),
            text.get(..24)
        );
    }
}
