//! Fingerprints: a statement's code with its literal values taken out, so texts that differ
//! only in values (or in comments, spacing, keyword case) share one.
//!
//! Words are lowercased, strings, numbers and placeholders become `?`, quoted identifiers
//! keep their backticks, ordinary comments are gone and executable comment content is kept
//! as the code it is; tokens are joined by single spaces. Where a string literal is what the
//! statement does (a `PREPARE`d or `EXECUTE IMMEDIATE` text, a new `sql_mode` or character
//! set), strings are kept, so statements that do different things never share a fingerprint.

use crate::token::{Token, TokenKind};

pub fn fingerprint(tokens: &[Token], keep_strings: bool) -> String {
    let parts: Vec<String> = tokens
        .iter()
        .map(|token| match token.kind {
            TokenKind::Word => token.value.to_lowercase(),
            TokenKind::QuotedIdent => {
                format!("`{}`", token.value.to_lowercase().replace('`', "``"))
            }
            TokenKind::Str if keep_strings => format!("'{}'", token.value.replace('\'', "''")),
            TokenKind::Str | TokenKind::Number | TokenKind::Placeholder => "?".to_owned(),
            TokenKind::UserVar => format!("@`{}`", token.value.to_lowercase().replace('`', "``")),
            TokenKind::Punct => token.value.clone(),
        })
        .collect();
    parts.join(" ")
}
