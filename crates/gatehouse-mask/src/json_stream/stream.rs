//! The streaming masker: a pushdown reader of JSON grammar fed chunk by chunk, which writes
//! every byte through as it arrives except the scalars a rule or a detector replaces.

use super::number::NumScanner;
use super::options::{JsonMode, JsonStreamOptions};
use super::path::{Container, PathStack};
use super::rules::JsonMaskRules;
use super::string::StrScanner;
use crate::{MaskCounts, MaskError, Masker};
use std::sync::Arc;

mod scalars;

/// Masks one JSON stream (a response body, or a watch in [`JsonMode::Lines`]) as it arrives.
///
/// Feed it chunks split anywhere with [`push`](JsonStreamMasker::push), which returns the
/// masked bytes ready so far, and call [`finish`](JsonStreamMasker::finish) at the end of the
/// input. After an error every later call returns the same error: end the stream, never send
/// the rest unmasked.
#[derive(Debug)]
pub struct JsonStreamMasker {
    masker: Arc<Masker>,
    rules: Arc<JsonMaskRules>,
    options: JsonStreamOptions,
    path: PathStack,
    expect: Expect,
    token: Token,
    /// The current string as written, between its quotes, when the detectors will scan it.
    raw: Vec<u8>,
    /// The current key's or held value's text (a string decoded, a number as written).
    text: Vec<u8>,
    /// Bytes as written of the current held key or value, against `max_value_bytes`.
    held: usize,
    /// Offset in the input of the byte being read, and of the current key or value's start.
    offset: u64,
    token_start: u64,
    counts: MaskCounts,
    peak: usize,
    status: Status,
}

#[derive(Debug)]
enum Status {
    Open,
    Finished,
    Failed(MaskError),
}

/// What the grammar allows next, outside keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    DocumentStart,
    Value,
    FirstElementOrEnd,
    FirstKeyOrEnd,
    Key,
    Colon,
    CommaOrEnd,
    DocumentEnd,
}

/// The key or scalar value being read.
#[derive(Debug, Clone, Copy)]
enum Token {
    None,
    Str(StrScanner, Role),
    Num(NumScanner, Role),
    Literal {
        word: &'static [u8],
        read: usize,
        role: Role,
    },
}

/// What becomes of the key or value being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A key: written through, its text held to match the rules against.
    Key,
    /// Written through as it arrives.
    Pass,
    /// Held as written and as text; the detectors decide at its end.
    Scan,
    /// Dropped (its text held if the replacement reads it); the rule's replacement is written
    /// at its end.
    Rule { rule: usize, reads_value: bool },
}

impl Role {
    fn writes_through(self) -> bool {
        matches!(self, Role::Key | Role::Pass)
    }

    fn holds_text(self) -> bool {
        matches!(
            self,
            Role::Key
                | Role::Scan
                | Role::Rule {
                    reads_value: true,
                    ..
                }
        )
    }
}

/// Why reading stopped, before it becomes a [`MaskError`] with its offset.
enum Fault {
    Syntax(&'static str),
    TooLong,
    TooDeep,
}

impl From<&'static str> for Fault {
    fn from(reason: &'static str) -> Self {
        Fault::Syntax(reason)
    }
}

impl JsonStreamMasker {
    /// A masker for one stream: `rules` decide what is replaced; `masker` supplies the hash
    /// key of `hash` rules and, when the rules say so, the content detectors.
    pub fn new(
        masker: Arc<Masker>,
        rules: Arc<JsonMaskRules>,
        options: JsonStreamOptions,
    ) -> JsonStreamMasker {
        JsonStreamMasker {
            masker,
            rules,
            options,
            path: PathStack::default(),
            expect: Expect::DocumentStart,
            token: Token::None,
            raw: Vec::new(),
            text: Vec::new(),
            held: 0,
            offset: 0,
            token_start: 0,
            counts: MaskCounts::default(),
            peak: 0,
            status: Status::Open,
        }
    }

    /// Reads the next chunk and returns the masked bytes it completes (the bytes of a held
    /// value come out when the value ends, possibly in a later chunk).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, MaskError> {
        match &self.status {
            Status::Open => {}
            Status::Failed(error) => return Err(error.clone()),
            Status::Finished => {
                return Err(MaskError::MalformedJson {
                    offset: self.offset,
                    reason: "data after the end of the input",
                });
            }
        }
        let mut out = Vec::with_capacity(chunk.len() + 64);
        let mut at = 0;
        while let Some(rest) = chunk.get(at..).filter(|rest| !rest.is_empty()) {
            match self.feed(rest, &mut out) {
                Ok(taken) => {
                    at += taken;
                    self.offset += u64::try_from(taken).unwrap_or(u64::MAX);
                }
                Err(fault) => return Err(self.fail(fault)),
            }
        }
        Ok(out)
    }

    /// The end of the input: returns the last masked bytes (a number ending the input), or
    /// an error if the input ends inside a document (or, in [`JsonMode::Document`], holds none).
    pub fn finish(&mut self) -> Result<Vec<u8>, MaskError> {
        match &self.status {
            Status::Open => {}
            Status::Failed(error) => return Err(error.clone()),
            Status::Finished => return Ok(Vec::new()),
        }
        let mut out = Vec::new();
        match self.end_of_input(&mut out) {
            Ok(()) => {
                self.status = Status::Finished;
                Ok(out)
            }
            Err(fault) => Err(self.fail(fault)),
        }
    }

    /// What has been masked so far, by path rule and by detector.
    pub fn counts(&self) -> &MaskCounts {
        &self.counts
    }

    /// The most bytes held at once so far: the current key or value where it is held, plus
    /// the path stack. Independent of the document's size; output not yet returned is not
    /// counted (each [`push`](JsonStreamMasker::push) returns all it has).
    pub fn peak_held_bytes(&self) -> usize {
        self.peak
    }

    fn fail(&mut self, fault: Fault) -> MaskError {
        let error = match fault {
            Fault::Syntax(reason) => MaskError::MalformedJson {
                offset: self.offset,
                reason,
            },
            Fault::TooLong => MaskError::JsonValueTooLong {
                offset: self.token_start,
                limit: self.options.max_value_bytes,
            },
            Fault::TooDeep => MaskError::JsonTooDeep {
                offset: self.offset,
                limit: self.options.max_depth,
            },
        };
        self.status = Status::Failed(error.clone());
        error
    }

    fn end_of_input(&mut self, out: &mut Vec<u8>) -> Result<(), Fault> {
        if let Token::Num(scanner, role) = self.token {
            if !scanner.complete() {
                return Err("the input ends inside a number".into());
            }
            self.token = Token::None;
            self.end_number(role, out)?;
        }
        let reason = match (self.token, self.expect) {
            (Token::Str(..), _) => "the input ends inside a string",
            (Token::Literal { .. }, _) => "the input ends inside `true`, `false` or `null`",
            (_, Expect::DocumentEnd) => return Ok(()),
            (_, Expect::DocumentStart) if self.options.mode == JsonMode::Lines => return Ok(()),
            (_, Expect::DocumentStart) => "the input holds no JSON document",
            _ => "the input ends inside an object or array",
        };
        Err(reason.into())
    }

    /// Reads from the start of `rest` (not empty) and returns how many bytes were taken: one,
    /// a run of plain string bytes, or none when a number ended before its first byte.
    fn feed(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<usize, Fault> {
        let Some(&byte) = rest.first() else {
            return Ok(1);
        };
        match self.token {
            Token::None => self.structural(byte, out).map(|()| 1),
            Token::Str(scanner, role) => self.string(scanner, role, rest, out),
            Token::Num(scanner, role) => self.number(scanner, role, byte, out),
            Token::Literal { word, read, role } => {
                self.literal(word, read, role, byte, out).map(|()| 1)
            }
        }
    }

    fn structural(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), Fault> {
        let whitespace = matches!(byte, b' ' | b'\t' | b'\n' | b'\r');
        match self.expect {
            Expect::DocumentStart if whitespace => out.push(byte),
            Expect::DocumentStart => {
                self.path.begin_document(self.rules.rules());
                self.value(byte, out)?;
            }
            Expect::DocumentEnd => self.after_document(byte, whitespace, out)?,
            _ if whitespace => out.push(byte),
            Expect::Value => self.value(byte, out)?,
            Expect::FirstElementOrEnd if byte == b']' => self.close(Container::Array, out)?,
            Expect::FirstElementOrEnd => self.value(byte, out)?,
            Expect::FirstKeyOrEnd if byte == b'}' => self.close(Container::Object, out)?,
            Expect::FirstKeyOrEnd | Expect::Key if byte == b'"' => {
                out.push(byte);
                self.begin_token(Token::Str(StrScanner::default(), Role::Key));
            }
            Expect::FirstKeyOrEnd => return Err("expected a key or `}`".into()),
            Expect::Key => return Err("expected a key after `,`".into()),
            Expect::Colon if byte == b':' => {
                out.push(byte);
                self.expect = Expect::Value;
            }
            Expect::Colon => return Err("expected `:` after a key".into()),
            Expect::CommaOrEnd => match (byte, self.path.innermost()) {
                (b',', Some(Container::Object)) => {
                    out.push(byte);
                    self.expect = Expect::Key;
                }
                (b',', Some(Container::Array)) => {
                    out.push(byte);
                    self.expect = Expect::Value;
                }
                (b'}', _) => self.close(Container::Object, out)?,
                (b']', _) => self.close(Container::Array, out)?,
                _ => return Err("expected `,` or the end of the object or array".into()),
            },
        }
        Ok(())
    }

    fn after_document(
        &mut self,
        byte: u8,
        whitespace: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        match self.options.mode {
            JsonMode::Document if whitespace => out.push(byte),
            JsonMode::Document => return Err("data after the end of the document".into()),
            JsonMode::Lines if byte == b'\n' => {
                out.push(byte);
                self.expect = Expect::DocumentStart;
            }
            JsonMode::Lines if whitespace => out.push(byte),
            JsonMode::Lines => {
                return Err("a second document on the same line (one document a line)".into());
            }
        }
        Ok(())
    }

    /// The first byte of a value.
    fn value(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), Fault> {
        if self.path.innermost() == Some(Container::Array) {
            self.path.enter_element(self.rules.rules());
            self.note_peak();
        }
        let matched = self.path.matched();
        match byte {
            b'{' | b'[' => {
                if self.path.depth() >= self.options.max_depth {
                    return Err(Fault::TooDeep);
                }
                out.push(byte);
                let (container, expect) = match byte {
                    b'{' => (Container::Object, Expect::FirstKeyOrEnd),
                    _ => (Container::Array, Expect::FirstElementOrEnd),
                };
                self.path.open(container);
                self.expect = expect;
                self.note_peak();
            }
            b'"' => {
                let role = self.scalar_role(matched);
                if role.writes_through() {
                    out.push(byte);
                }
                self.begin_token(Token::Str(StrScanner::default(), role));
            }
            b't' | b'f' | b'n' => {
                let word: &'static [u8] = match byte {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                // `null` hides nothing; the detectors have nothing to find in `true`/`false`.
                let role = match matched {
                    Some(rule) if byte != b'n' => Role::Rule {
                        rule,
                        reads_value: false,
                    },
                    _ => Role::Pass,
                };
                self.begin_token(Token::Literal {
                    word,
                    read: 0,
                    role,
                });
                self.literal(word, 0, role, byte, out)?;
            }
            _ => {
                let scanner = NumScanner::start(byte).ok_or("expected a value")?;
                let role = self.scalar_role(matched);
                self.begin_token(Token::Num(scanner, role));
                self.keep_number_byte(role, byte, out)?;
            }
        }
        Ok(())
    }

    fn scalar_role(&self, matched: Option<usize>) -> Role {
        match matched {
            Some(rule) => Role::Rule {
                rule,
                reads_value: self
                    .rules
                    .rules()
                    .get(rule)
                    .is_some_and(|compiled| compiled.replace.reads_value()),
            },
            None if self.rules.scans_unmatched() => Role::Scan,
            None => Role::Pass,
        }
    }

    fn begin_token(&mut self, token: Token) {
        self.token = token;
        self.token_start = self.offset;
    }

    fn close(&mut self, container: Container, out: &mut Vec<u8>) -> Result<(), Fault> {
        if self.path.innermost() != Some(container) {
            return Err("a `}` or `]` that does not close the innermost object or array".into());
        }
        out.push(match container {
            Container::Object => b'}',
            Container::Array => b']',
        });
        self.path.close();
        self.value_done();
        Ok(())
    }

    fn value_done(&mut self) {
        self.path.value_done();
        self.expect = if self.path.depth() == 0 {
            Expect::DocumentEnd
        } else {
            Expect::CommaOrEnd
        };
    }

    /// Counts `bytes` more of a held key or value against the limit.
    fn hold(&mut self, role: Role, bytes: usize) -> Result<(), Fault> {
        if role.holds_text() {
            self.held += bytes;
            if self.held > self.options.max_value_bytes {
                return Err(Fault::TooLong);
            }
        }
        Ok(())
    }

    fn note_peak(&mut self) {
        let held = self.raw.len() + self.text.len() + self.path.held_bytes();
        self.peak = self.peak.max(held);
    }

    /// Forgets the key or value just ended.
    fn end_token(&mut self) {
        self.note_peak();
        self.raw.clear();
        self.text.clear();
        self.held = 0;
    }
}
