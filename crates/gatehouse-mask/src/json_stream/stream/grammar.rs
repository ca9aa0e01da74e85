//! The grammar between keys and values: whitespace, `{`, `[`, `:`, `,`, `}`, `]`, where a
//! document starts and ends, and what each value's first byte makes of it, with the path stack
//! following along.

use super::{Expect, Fault, JsonStreamMasker, Role, Token};
use crate::json_stream::number::NumScanner;
use crate::json_stream::options::JsonMode;
use crate::json_stream::path::Container;
use crate::json_stream::string::StrScanner;

impl JsonStreamMasker {
    pub(super) fn structural(&mut self, byte: u8, out: &mut Vec<u8>) -> Result<(), Fault> {
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

    pub(super) fn begin_token(&mut self, token: Token) {
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

    pub(super) fn value_done(&mut self) {
        self.path.value_done();
        self.expect = if self.path.depth() == 0 {
            Expect::DocumentEnd
        } else {
            Expect::CommaOrEnd
        };
    }
}
