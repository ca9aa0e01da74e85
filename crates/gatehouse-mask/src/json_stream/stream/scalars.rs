//! Keys and scalar values, from their first byte to their last: what is written through as it
//! arrives, what is held, and what is written in the end (as it was, masked by the detectors,
//! or replaced by a rule).

use super::{Expect, Fault, JsonStreamMasker, Role, Token};
use crate::json_stream::number::NumScanner;
use crate::json_stream::string::{StrByte, StrScanner, is_plain, push_json_string};
use crate::{ColumnMask, Masked};

impl JsonStreamMasker {
    /// Bytes of a string after its opening quote: a run of plain bytes at once, or one byte.
    pub(super) fn string(
        &mut self,
        mut scanner: StrScanner,
        role: Role,
        rest: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, Fault> {
        if scanner.idle() {
            let run = rest
                .iter()
                .position(|&b| !is_plain(b))
                .unwrap_or(rest.len());
            if let Some(plain) = rest.get(..run).filter(|plain| !plain.is_empty()) {
                self.keep_string_bytes(role, plain, out)?;
                if role.holds_text() {
                    self.text.extend_from_slice(plain);
                }
                return Ok(run);
            }
        }
        let Some(&byte) = rest.first() else {
            return Ok(1);
        };
        match scanner.byte(byte)? {
            StrByte::Content => {
                self.keep_string_bytes(role, &[byte], out)?;
                if role.holds_text() {
                    self.text.push(byte);
                }
            }
            StrByte::Escape => self.keep_string_bytes(role, &[byte], out)?,
            StrByte::Decoded(decoded) => {
                self.keep_string_bytes(role, &[byte], out)?;
                if role.holds_text() {
                    let mut buffer = [0; 4];
                    self.text
                        .extend_from_slice(decoded.encode_utf8(&mut buffer).as_bytes());
                }
            }
            StrByte::End => {
                if role.writes_through() {
                    out.push(byte);
                }
                self.token = Token::None;
                self.end_string(role, out)?;
                return Ok(1);
            }
        }
        self.token = Token::Str(scanner, role);
        Ok(1)
    }

    fn keep_string_bytes(
        &mut self,
        role: Role,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        self.hold(role, bytes.len())?;
        if role.writes_through() {
            out.extend_from_slice(bytes);
        }
        if role == Role::Scan {
            self.raw.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn end_string(&mut self, role: Role, out: &mut Vec<u8>) -> Result<(), Fault> {
        match role {
            Role::Key => {
                let key = std::str::from_utf8(&self.text).map_err(|_| "a key is not UTF-8")?;
                self.path.enter_key(self.rules.rules(), key);
                self.expect = Expect::Colon;
            }
            Role::Pass => {}
            Role::Scan => self.write_scanned(true, out)?,
            Role::Rule { rule, .. } => self.write_rule(rule, out)?,
        }
        self.end_token();
        if role != Role::Key {
            self.value_done();
        }
        Ok(())
    }

    /// One byte of a number: `Ok(1)` if it continues it, `Ok(0)` if the number ended before it.
    pub(super) fn number(
        &mut self,
        mut scanner: NumScanner,
        role: Role,
        byte: u8,
        out: &mut Vec<u8>,
    ) -> Result<usize, Fault> {
        if scanner.byte(byte)? {
            self.token = Token::Num(scanner, role);
            self.keep_number_byte(role, byte, out)?;
            return Ok(1);
        }
        self.token = Token::None;
        self.end_number(role, out)?;
        Ok(0)
    }

    pub(super) fn keep_number_byte(
        &mut self,
        role: Role,
        byte: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        self.hold(role, 1)?;
        if role.writes_through() {
            out.push(byte);
        }
        if role.holds_text() {
            self.text.push(byte);
        }
        Ok(())
    }

    pub(super) fn end_number(&mut self, role: Role, out: &mut Vec<u8>) -> Result<(), Fault> {
        match role {
            Role::Key | Role::Pass => {}
            Role::Scan => self.write_scanned(false, out)?,
            Role::Rule { rule, .. } => self.write_rule(rule, out)?,
        }
        self.end_token();
        self.value_done();
        Ok(())
    }

    pub(super) fn literal(
        &mut self,
        word: &'static [u8],
        read: usize,
        role: Role,
        byte: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        if word.get(read) != Some(&byte) {
            return Err("expected `true`, `false` or `null`".into());
        }
        if role.writes_through() {
            out.push(byte);
        }
        let read = read + 1;
        if read < word.len() {
            self.token = Token::Literal { word, read, role };
            return Ok(());
        }
        self.token = Token::None;
        if let Role::Rule { rule, .. } = role {
            self.text.extend_from_slice(word);
            self.write_rule(rule, out)?;
            self.end_token();
        }
        self.value_done();
        Ok(())
    }

    /// Writes the held value as the detectors leave it: as it was written if they find
    /// nothing (`string`: `raw` within quotes; a number: its text), else masked, as a string.
    fn write_scanned(&mut self, string: bool, out: &mut Vec<u8>) -> Result<(), Fault> {
        let text = std::str::from_utf8(&self.text).map_err(|_| "a value is not UTF-8")?;
        match self
            .masker
            .mask_value(&ColumnMask::Scan, text, &mut self.counts)
        {
            Masked::Unchanged(_) if string => {
                out.push(b'"');
                out.extend_from_slice(&self.raw);
                out.push(b'"');
            }
            Masked::Unchanged(text) => out.extend_from_slice(text.as_bytes()),
            Masked::Replaced(masked) => push_json_string(out, &masked),
            Masked::Null => out.extend_from_slice(b"null"),
        }
        Ok(())
    }

    fn write_rule(&mut self, rule: usize, out: &mut Vec<u8>) -> Result<(), Fault> {
        let compiled = self
            .rules
            .rules()
            .get(rule)
            .ok_or("a rule that does not exist")?;
        let text = std::str::from_utf8(&self.text).map_err(|_| "a value is not UTF-8")?;
        self.counts.add_path_rule(&compiled.label);
        compiled.replace.write(&self.masker, text, out);
        Ok(())
    }
}
