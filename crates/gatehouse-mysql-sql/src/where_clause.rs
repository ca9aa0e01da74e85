//! Whether an `UPDATE` or `DELETE` reaches every row: no `WHERE` at the top level, or one
//! that is trivially true (`WHERE 1`, `WHERE TRUE`, `WHERE 1=1`, `WHERE NOT FALSE`, ...).
//! A multi-table statement whose join condition limits the rows still counts as all rows
//! when it has no `WHERE`: gatehouse does not read join conditions.

use crate::token::Token;

/// Conditions, as lowercased token values joined by spaces, that hold for every row.
const ALWAYS_TRUE: &[&str] = &[
    "1",
    "true",
    "1 = 1",
    "true = true",
    "not false",
    "not 0",
    "( 1 )",
    "( true )",
    "( 1 = 1 )",
    "1 <=> 1",
    "'1'",
    "'1' = '1'",
];

/// Words that end a `WHERE` condition at the top level.
const AFTER_WHERE: &[&str] = &["ORDER", "LIMIT", "RETURNING"];

pub fn reaches_all_rows(tokens: &[Token]) -> bool {
    let mut depth = 0usize;
    let mut condition: Option<Vec<String>> = None;
    for token in tokens {
        if token.is_punct("(") {
            depth += 1;
        } else if token.is_punct(")") {
            depth = depth.saturating_sub(1);
        }
        if depth == 0 && token.is_word("WHERE") {
            condition = Some(Vec::new());
            continue;
        }
        if let Some(parts) = condition.as_mut() {
            if depth == 0 && AFTER_WHERE.contains(&token.keyword().as_str()) {
                break;
            }
            let part = match token.kind {
                crate::token::TokenKind::Str => format!("'{}'", token.value),
                _ => token.value.to_lowercase(),
            };
            parts.push(part);
        }
    }
    condition.is_none_or(|parts| ALWAYS_TRUE.contains(&parts.join(" ").as_str()))
}
