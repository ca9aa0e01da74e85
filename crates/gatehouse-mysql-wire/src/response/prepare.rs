//! The answer to COM_STMT_PREPARE: the statement id and how many parameter and column
//! definitions follow.

use crate::{WireError, cursor};

const WHAT: &str = "prepare OK";

/// A statement was prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    pub statement: u32,
    pub columns: u16,
    pub parameters: u16,
    pub warnings: u16,
}

impl PrepareOk {
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        let mut input = payload;
        let header = cursor::u8(&mut input, WHAT)?;
        if header != 0 {
            return Err(WireError::malformed(WHAT, format!("header {header:#04x}")));
        }
        let statement = cursor::u32(&mut input, WHAT)?;
        let columns = cursor::u16(&mut input, WHAT)?;
        let parameters = cursor::u16(&mut input, WHAT)?;
        // A filler byte, then the warning count (absent from some old servers).
        let warnings = if input.is_empty() {
            0
        } else {
            cursor::take(&mut input, 1, WHAT)?;
            cursor::u16(&mut input, WHAT)?
        };
        Ok(Self {
            statement,
            columns,
            parameters,
            warnings,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&self.statement.to_le_bytes());
        out.extend_from_slice(&self.columns.to_le_bytes());
        out.extend_from_slice(&self.parameters.to_le_bytes());
        out.push(0);
        out.extend_from_slice(&self.warnings.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let ok = PrepareOk {
            statement: 7,
            columns: 3,
            parameters: 2,
            warnings: 1,
        };
        let bytes = ok.encode();
        assert_eq!(bytes.len(), 12);
        assert_eq!(PrepareOk::parse(&bytes), Ok(ok));
        assert!(matches!(
            PrepareOk::parse(&bytes[..5]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            PrepareOk::parse(&bytes[..10]),
            Err(WireError::Truncated { .. })
        ));
    }
}
