//! The streaming masker: a pushdown reader of JSON grammar fed chunk by chunk, which writes
//! every byte through as it arrives except the scalars a rule or a detector replaces.

use super::number::NumScanner;
use super::options::{JsonMode, JsonStreamOptions};
use super::path::PathStack;
use super::rules::JsonMaskRules;
use super::string::StrScanner;
use crate::{MaskCounts, MaskError, Masker};
use std::sync::Arc;

mod grammar;
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
