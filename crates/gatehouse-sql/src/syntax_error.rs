//! Where in a statement PostgreSQL's parser fails, so that text gatehouse cannot parse is
//! refused the way the server would refuse it: `syntax_error` (42601) with the error position
//! that drivers and psql point at (`LINE 1: SELEC 1 / ^`).
//!
//! pg_query reports the parser's message but not its cursor position, so the position is
//! found again by parsing prefixes: the grammar fails at the first token after which the text
//! can no longer be completed, and a prefix that stops before that token fails only "at end of
//! input" (or parses). That property is monotone in the prefix length, so a binary search over
//! the token boundaries finds the failing token with a logarithmic number of parses, which
//! are paid only for text that is being refused anyway.

/// The 1-based character position of the token at which PostgreSQL's parser rejects `sql`, as
/// an ErrorResponse's `P` field gives it; `None` when `sql` parses, or the failure is not tied
/// to a token (the text cannot even be split into tokens, or fails only at its end).
pub fn syntax_error_position(sql: &str) -> Option<usize> {
    if parses_or_fails_at_end(sql) {
        return None;
    }
    let tokens = pg_query::scan(sql).ok()?.tokens;
    let ends: Vec<usize> = tokens
        .iter()
        .filter_map(|token| usize::try_from(token.end).ok())
        .collect();
    // Find the first token whose inclusion makes the prefix fail before its end.
    let (mut low, mut high) = (0, ends.len());
    while low < high {
        let middle = low + (high - low) / 2;
        let end = *ends.get(middle)?;
        if parses_or_fails_at_end(sql.get(..end)?) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    let start = usize::try_from(tokens.get(low)?.start).ok()?;
    Some(sql.get(..start)?.chars().count() + 1)
}

/// Whether `sql` parses, or fails only because it ends too early.
fn parses_or_fails_at_end(sql: &str) -> bool {
    match std::panic::catch_unwind(|| pg_query::parse(sql, 0)) {
        Ok(Ok(_)) => true,
        Ok(Err(pg_query::Error::Parse(message))) => message.ends_with("at end of input"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::syntax_error_position;

    #[test]
    fn points_at_the_token_the_grammar_rejects() {
        assert_eq!(syntax_error_position("SELEC 1"), Some(1));
        assert_eq!(syntax_error_position("SELECT 1 FROM FROM t"), Some(15));
        assert_eq!(syntax_error_position("SELECT 1; SELECT * FORM t"), Some(20));
        // Characters, not bytes, as PostgreSQL counts them.
        assert_eq!(syntax_error_position("SELECT 'é' 'x' garbage"), Some(12));
    }

    #[test]
    fn text_that_parses_or_ends_early_has_no_token_to_point_at() {
        assert_eq!(syntax_error_position("SELECT 1"), None);
        assert_eq!(syntax_error_position("SELECT 1 FROM"), None);
        assert_eq!(syntax_error_position(""), None);
    }
}
