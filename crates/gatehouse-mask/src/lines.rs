//! Text masked a line at a time, as it streams: what protocols whose answers are lines of text
//! (HTTP `text/*` answers, the output of a command run without a terminal) hand to the
//! detectors. A value the detectors find never spans lines, so holding one line is enough;
//! memory is bounded by the longest line allowed, and text that is not UTF-8 is refused
//! rather than passed on unread.

use crate::{ColumnMask, MaskCounts, MaskError, MaskedBytes, Masker};
use std::sync::Arc;

/// A stream of text, masked line by line.
pub struct LineMasker {
    masker: Arc<Masker>,
    line: Vec<u8>,
    max_line_bytes: usize,
    counts: MaskCounts,
}

impl LineMasker {
    pub fn new(masker: Arc<Masker>, max_line_bytes: usize) -> Self {
        LineMasker {
            masker,
            line: Vec::new(),
            max_line_bytes,
            counts: MaskCounts::default(),
        }
    }

    /// The masked text of every line `chunk` completes; an unfinished line is held.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, MaskError> {
        let mut out = Vec::with_capacity(chunk.len());
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n') {
            let (head, tail) = rest.split_at(end + 1);
            let mut line = std::mem::take(&mut self.line);
            line.extend_from_slice(head.get(..end).unwrap_or_default());
            self.mask_line(&line, &mut out)?;
            out.push(b'\n');
            rest = tail;
        }
        self.line.extend_from_slice(rest);
        if self.line.len() > self.max_line_bytes {
            return Err(MaskError::LineTooLong(self.max_line_bytes));
        }
        Ok(out)
    }

    /// The masked text of the last, unfinished line.
    pub fn finish(&mut self) -> Result<Vec<u8>, MaskError> {
        let line = std::mem::take(&mut self.line);
        let mut out = Vec::with_capacity(line.len());
        if !line.is_empty() {
            self.mask_line(&line, &mut out)?;
        }
        Ok(out)
    }

    /// What was masked so far.
    pub fn counts(&self) -> &MaskCounts {
        &self.counts
    }

    fn mask_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Result<(), MaskError> {
        if std::str::from_utf8(line).is_err() {
            return Err(MaskError::LineNotText);
        }
        match self
            .masker
            .mask_bytes(&ColumnMask::Scan, line, None, &mut self.counts)
        {
            MaskedBytes::Unchanged(same) => out.extend_from_slice(same),
            MaskedBytes::Replaced(text) => out.extend_from_slice(text.as_bytes()),
            MaskedBytes::Null => {}
        }
        Ok(())
    }
}
