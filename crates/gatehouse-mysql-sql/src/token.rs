//! The tokens the lexer hands the classifier: only as much as classification needs (which
//! words, names, literals and punctuation a statement holds, and where each sits in the
//! text), never a syntax tree.

use std::ops::Range;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An unquoted word: a keyword or an identifier (`value` as written).
    Word,
    /// A quoted identifier, `` `...` `` or `"..."` under `ANSI_QUOTES` (`value` unquoted).
    QuotedIdent,
    /// A character string, `'...'`, `"..."` without `ANSI_QUOTES`, `N'...'` (`value`
    /// unescaped as the server unescapes it).
    Str,
    /// A number, or a hexadecimal or bit literal (`0x41`, `X'41'`, `0b1`, `B'1'`), whose
    /// text gatehouse does not read as a string (`value` as written).
    Number,
    /// A `?` placeholder.
    Placeholder,
    /// A user variable `@name`, `@'name'` (`value` is the name).
    UserVar,
    /// Punctuation or an operator (`value` as written: `(`, `,`, `:=`, `@@`, ...).
    Punct,
}

/// One token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub value: String,
    /// Where it sits in the message, in bytes.
    pub span: Range<usize>,
}

impl Token {
    /// Whether this is the unquoted word `keyword` (any case).
    pub fn is_word(&self, keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.value.eq_ignore_ascii_case(keyword)
    }

    /// Whether this is the punctuation `punct`.
    pub fn is_punct(&self, punct: &str) -> bool {
        self.kind == TokenKind::Punct && self.value == punct
    }

    /// Whether this can name something: an unquoted word or a quoted identifier.
    pub fn is_name(&self) -> bool {
        matches!(self.kind, TokenKind::Word | TokenKind::QuotedIdent)
    }

    /// The upper-cased value of an unquoted word, empty for anything else.
    pub fn keyword(&self) -> String {
        if self.kind == TokenKind::Word {
            self.value.to_ascii_uppercase()
        } else {
            String::new()
        }
    }
}

/// One statement of a message: where it is and its tokens (comments left out, executable
/// comment content included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement's text in the message, trimmed, without its `;`.
    pub span: Range<usize>,
    pub tokens: Vec<Token>,
    /// Where the text after it starts (after its `;`, or the end of the message).
    pub next: usize,
}

/// Why text cannot be read the way the server would read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LexError(pub String);
