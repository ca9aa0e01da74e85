//! Which GraphQL operation a request runs, read from its document the way a GraphQL server
//! picks it: the definitions at the top level of the document (`query`, `mutation`,
//! `subscription`, optionally named; a bare `{ ... }` is an anonymous query; fragments are
//! skipped), then the one `operationName` names, or the only one. The document is lexed, not
//! parsed: whitespace, commas, `#` comments and strings (block strings `"""` included) are
//! skipped so that a brace inside them cannot move a definition's end, and brackets must
//! balance. What cannot be lexed, or leaves the operation in doubt, is refused.

use crate::error::{HttpApiError, quoted};

/// The operation a GraphQL request runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlOperation {
    /// `query`, `mutation` or `subscription`.
    pub kind: String,
    /// The operation's name, `""` when anonymous.
    pub name: String,
}

/// The operation of `document` that runs for `operation_name` (`None` or `""`: the only
/// one).
pub(crate) fn operation(
    document: &str,
    operation_name: Option<&str>,
) -> Result<GraphqlOperation, HttpApiError> {
    let operations = operations(document).map_err(HttpApiError::GraphqlUnreadable)?;
    match operation_name.filter(|name| !name.is_empty()) {
        Some(wanted) => {
            let mut named = operations
                .iter()
                .filter(|operation| operation.name == wanted);
            match (named.next(), named.next()) {
                (Some(found), None) => Ok(found.clone()),
                _ => Err(HttpApiError::GraphqlOperationNotFound(quoted(wanted))),
            }
        }
        None => match operations.as_slice() {
            [] => Err(HttpApiError::GraphqlNoOperation),
            [only] => Ok(only.clone()),
            many => Err(HttpApiError::GraphqlAmbiguous(many.len())),
        },
    }
}

/// Every operation the document defines, in order.
fn operations(document: &str) -> Result<Vec<GraphqlOperation>, String> {
    let mut lexer = Lexer {
        text: document.as_bytes(),
        at: 0,
    };
    let mut operations = Vec::new();
    while let Some(token) = lexer.next()? {
        match token {
            Token::Open(b'{') => {
                lexer.skip_group(b'{')?;
                operations.push(GraphqlOperation {
                    kind: "query".to_owned(),
                    name: String::new(),
                });
            }
            Token::Name(keyword @ ("query" | "mutation" | "subscription")) => {
                let name = lexer.skip_definition()?;
                operations.push(GraphqlOperation {
                    kind: keyword.to_owned(),
                    name,
                });
            }
            Token::Name("fragment") => {
                lexer.skip_definition()?;
            }
            Token::Name(other) => {
                return Err(format!(
                    "`{}` at the top level is not an operation or fragment",
                    quoted(other)
                ));
            }
            Token::Open(_) | Token::Close(_) | Token::Other => {
                return Err(format!(
                    "expected an operation or fragment at byte {}",
                    lexer.at
                ));
            }
        }
    }
    Ok(operations)
}

/// A lexical token, as far as finding definitions needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Name(&'a str),
    /// `{`, `(` or `[`.
    Open(u8),
    /// `}`, `)` or `]`.
    Close(u8),
    /// A string, number or other punctuator.
    Other,
}

struct Lexer<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn starts_with(&self, prefix: &[u8]) -> bool {
        self.text
            .get(self.at..)
            .is_some_and(|rest| rest.starts_with(prefix))
    }

    /// The next token, or `None` at the end.
    fn next(&mut self) -> Result<Option<Token<'a>>, String> {
        self.skip_ignored();
        let Some(byte) = self.peek() else {
            return Ok(None);
        };
        let start = self.at;
        self.at += 1;
        let token = match byte {
            b'{' | b'(' | b'[' => Token::Open(byte),
            b'}' | b')' | b']' => Token::Close(byte),
            b'"' => {
                self.at = start;
                self.string()?;
                Token::Other
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while matches!(
                    self.peek(),
                    Some(b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                let name = self.text.get(start..self.at).unwrap_or_default();
                Token::Name(std::str::from_utf8(name).unwrap_or_default())
            }
            b'-' | b'0'..=b'9' => {
                while matches!(
                    self.peek(),
                    Some(b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'.' | b'+' | b'-')
                ) {
                    self.at += 1;
                }
                Token::Other
            }
            b'!' | b'$' | b'&' | b':' | b'=' | b'@' | b'|' | b'.' => Token::Other,
            _ => return Err(format!("unexpected character at byte {start}")),
        };
        Ok(Some(token))
    }

    /// Whitespace, commas, comments and byte-order marks.
    fn skip_ignored(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b',') => self.at += 1,
                Some(b'#') => {
                    while !matches!(self.peek(), None | Some(b'\n' | b'\r')) {
                        self.at += 1;
                    }
                }
                Some(0xef) if self.starts_with("\u{feff}".as_bytes()) => self.at += 3,
                _ => return,
            }
        }
    }

    /// A string or block string starting at `"`.
    fn string(&mut self) -> Result<(), String> {
        let start = self.at;
        if self.starts_with(b"\"\"\"") {
            self.at += 3;
            loop {
                if self.starts_with(b"\\\"\"\"") {
                    self.at += 4;
                } else if self.starts_with(b"\"\"\"") {
                    self.at += 3;
                    return Ok(());
                } else if self.peek().is_some() {
                    self.at += 1;
                } else {
                    return Err(format!("unterminated block string from byte {start}"));
                }
            }
        }
        self.at += 1;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(b'\\') => self.at += 2,
                Some(b'\n' | b'\r') | None => {
                    return Err(format!("unterminated string from byte {start}"));
                }
                Some(_) => self.at += 1,
            }
        }
    }

    /// The rest of a group whose opening bracket `open` was just read.
    fn skip_group(&mut self, open: u8) -> Result<(), String> {
        let mut expected = vec![closing(open)];
        while let Some(&want) = expected.last() {
            match self.next()? {
                None => return Err("a bracket is not closed".to_owned()),
                Some(Token::Open(byte)) => expected.push(closing(byte)),
                Some(Token::Close(byte)) if byte == want => {
                    expected.pop();
                }
                Some(Token::Close(_)) => {
                    return Err(format!("mismatched closing bracket at byte {}", self.at));
                }
                Some(Token::Name(_) | Token::Other) => {}
            }
        }
        Ok(())
    }

    /// The rest of an operation or fragment definition after its keyword, up to the end of
    /// its selection set; the name that follows the keyword, if one does.
    fn skip_definition(&mut self) -> Result<String, String> {
        let mut name = String::new();
        let mut first = true;
        loop {
            match self.next()? {
                None => return Err("a definition has no selection set".to_owned()),
                Some(Token::Name(text)) => {
                    if first {
                        text.clone_into(&mut name);
                    }
                }
                Some(Token::Open(b'{')) => {
                    self.skip_group(b'{')?;
                    return Ok(name);
                }
                Some(Token::Open(byte)) => self.skip_group(byte)?,
                Some(Token::Close(_)) => {
                    return Err(format!("unexpected closing bracket at byte {}", self.at));
                }
                Some(Token::Other) => {}
            }
            first = false;
        }
    }
}

fn closing(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kinds(document: &str) -> Vec<(String, String)> {
        operations(document)
            .unwrap()
            .into_iter()
            .map(|operation| (operation.kind, operation.name))
            .collect()
    }

    #[test]
    fn definitions_are_found_past_strings_comments_and_arguments() {
        let document = r#"
            # a comment with { and "
            query A($id: ID = "}") @cached(ttl: [1, 2]) { node(id: $id) { ...F } }
            fragment F on Node { id, note(text: """ a } \""" { """) }
            mutation { delete(id: -1.5e3) }
            subscription S { ticks }
            { me }
        "#;
        assert_eq!(
            kinds(document),
            [
                ("query".to_owned(), "A".to_owned()),
                ("mutation".to_owned(), String::new()),
                ("subscription".to_owned(), "S".to_owned()),
                ("query".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn unreadable_documents_are_refused() {
        for document in [
            "{ a ",
            "{ a ) }",
            "query A",
            "type Query { a: Int }",
            "{ a(x: \"open) }",
            "{ a(x: \"\"\"open) }",
            "} {",
            "{ a } é",
            "{ a(x: 'b') }",
        ] {
            assert!(operations(document).is_err(), "{document:?}");
        }
    }
}
