//! Positions in policy text: byte offsets to `line:col`, and where each policy starts.
//!
//! Cedar reports errors as byte offsets into the text it parsed and does not expose where a
//! parsed policy begins; people need `file:line:col`, and policies without an `@id` are named
//! `file:line` after the line they start on. This module computes both from the text.

/// One loaded policy text and its name (the path, or the name given to `from_sources`).
pub(crate) struct Source<'a> {
    pub(crate) name: &'a str,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column (in characters) of a byte offset; offsets past the end or
    /// inside a character are clamped to the nearest preceding character boundary.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = self.text.get(..offset).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
        (line, column)
    }

    /// `name:line:col` of a byte offset.
    pub(crate) fn location(&self, offset: usize) -> String {
        let (line, column) = self.line_col(offset);
        format!("{}:{line}:{column}", self.name)
    }

    /// `name:line:col: message` for an error at a byte offset.
    pub(crate) fn diagnostic(&self, offset: usize, message: &str) -> String {
        format!("{}: {message}", self.location(offset))
    }
}

/// Byte offsets where each policy in `text` starts (its first annotation, or its effect
/// keyword), in source order.
///
/// Only meaningful for text that parsed: in Cedar's grammar a `;` outside string literals and
/// `//` comments always ends a policy, and nothing else does.
pub(crate) fn policy_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut in_policy = false;
    let mut chars = text.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        match c {
            '/' if chars.peek().is_some_and(|&(_, next)| next == '/') => {
                // A comment runs to the end of the line.
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' => {
                if !in_policy {
                    in_policy = true;
                    starts.push(offset);
                }
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            ';' => in_policy = false,
            c if c.is_whitespace() => {}
            _ => {
                if !in_policy {
                    in_policy = true;
                    starts.push(offset);
                }
            }
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn line_col_counts_from_one_in_characters() {
        let source = Source {
            name: "a.cedar",
            text: "ab\ncé d\n",
        };
        assert_eq!(source.line_col(0), (1, 1));
        assert_eq!(source.line_col(1), (1, 2));
        assert_eq!(source.line_col(3), (2, 1));
        // `d` is after a two-byte character.
        assert_eq!(source.line_col(7), (2, 4));
        assert_eq!(source.location(1000), "a.cedar:3:1");
    }

    #[test]
    fn policy_starts_skip_comments_and_strings() {
        let text = "// permit(principal, action, resource);\n\
                    @id(\"a;b\") // note; here\n\
                    permit(principal, action, resource) when { context.statement like \"*;\\\"*\" };\n\
                    \n  forbid(principal, action, resource);\n";
        let starts = policy_starts(text);
        assert_eq!(starts.len(), 2);
        assert!(text[starts[0]..].starts_with("@id"));
        assert!(text[starts[1]..].starts_with("forbid"));
    }

    #[test]
    fn no_policies_in_comments_only() {
        assert!(policy_starts("// nothing\n\n// here\n").is_empty());
        assert!(policy_starts("").is_empty());
    }
}
