//! Rows of the text protocol (answers to COM_QUERY): one length-encoded string per column,
//! 0xFB for NULL.

use crate::lenenc::{read_lenenc_bytes, write_lenenc_bytes, write_lenenc_null};
use crate::{WireError, cursor};

/// The `columns` values of a text row, `None` for NULL.
pub fn parse_text_row(payload: &[u8], columns: usize) -> Result<Vec<Option<&[u8]>>, WireError> {
    let mut input = payload;
    let mut values = Vec::with_capacity(columns.min(payload.len()));
    for _ in 0..columns {
        values.push(read_lenenc_bytes(&mut input)?);
    }
    cursor::finish(input, "text row")?;
    Ok(values)
}

/// A text row of `values`, `None` as NULL.
pub fn encode_text_row(values: &[Option<&[u8]>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.iter().flatten().map(|v| v.len() + 1).sum());
    for value in values {
        match value {
            Some(bytes) => write_lenenc_bytes(&mut out, bytes),
            None => write_lenenc_null(&mut out),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn round_trip_with_nulls() {
        let long = vec![b'x'; 70_000];
        let values: Vec<Option<&[u8]>> = vec![Some(b"1"), None, Some(b""), Some(&long)];
        let bytes = encode_text_row(&values);
        assert_eq!(parse_text_row(&bytes, 4), Ok(values));
        assert!(matches!(
            parse_text_row(&bytes, 3),
            Err(WireError::Malformed { .. })
        ));
        assert!(matches!(
            parse_text_row(&bytes, 5),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            parse_text_row(&bytes[..bytes.len() - 1], 4),
            Err(WireError::Truncated { .. })
        ));
    }
}
