//! Length-encoded integers and strings: the variable-width fields (1, 3, 4 or 9 bytes of
//! length) that OK packets, column definitions, rows and attributes are made of.

use crate::WireError;
use crate::cursor;

const NULL_MARKER: u8 = 0xFB;
const TWO_BYTES: u8 = 0xFC;
const THREE_BYTES: u8 = 0xFD;
const EIGHT_BYTES: u8 = 0xFE;

/// Reads a length-encoded integer, advancing past it; `None` for the 0xFB NULL marker.
pub fn read_lenenc_int(input: &mut &[u8]) -> Result<Option<u64>, WireError> {
    const WHAT: &str = "length-encoded integer";
    let first = cursor::u8(input, WHAT)?;
    match first {
        NULL_MARKER => Ok(None),
        TWO_BYTES => Ok(Some(u64::from(cursor::u16(input, WHAT)?))),
        THREE_BYTES => Ok(Some(u64::from(cursor::u24(input, WHAT)?))),
        EIGHT_BYTES => Ok(Some(cursor::u64(input, WHAT)?)),
        0xFF => Err(WireError::malformed(WHAT, "first byte 0xFF")),
        small => Ok(Some(u64::from(small))),
    }
}

/// Reads a length-encoded string, advancing past it; `None` for the 0xFB NULL marker.
pub fn read_lenenc_bytes<'a>(input: &mut &'a [u8]) -> Result<Option<&'a [u8]>, WireError> {
    const WHAT: &str = "length-encoded string";
    let Some(len) = read_lenenc_int(input)? else {
        return Ok(None);
    };
    let len = usize::try_from(len).map_err(|_| WireError::Truncated { what: WHAT })?;
    cursor::take(input, len, WHAT).map(Some)
}

/// Reads a length-encoded string that may not be NULL.
pub(crate) fn read_lenenc_required<'a>(
    input: &mut &'a [u8],
    what: &'static str,
) -> Result<&'a [u8], WireError> {
    read_lenenc_bytes(input)?.ok_or_else(|| WireError::malformed(what, "NULL"))
}

/// Appends `value` in the shortest length-encoded form.
pub fn write_lenenc_int(out: &mut Vec<u8>, value: u64) {
    if value < u64::from(NULL_MARKER) {
        out.push(value as u8);
    } else if value <= 0xFFFF {
        out.push(TWO_BYTES);
        out.extend_from_slice(&(value as u16).to_le_bytes());
    } else if value <= 0xFF_FFFF {
        out.push(THREE_BYTES);
        out.extend_from_slice((value as u32).to_le_bytes().get(..3).unwrap_or_default());
    } else {
        out.push(EIGHT_BYTES);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Appends `bytes` with its length-encoded length.
pub fn write_lenenc_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_lenenc_int(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends the 0xFB NULL marker.
pub(crate) fn write_lenenc_null(out: &mut Vec<u8>) {
    out.push(NULL_MARKER);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn round_trip(value: u64) -> (usize, Option<u64>) {
        let mut out = Vec::new();
        write_lenenc_int(&mut out, value);
        let mut input = out.as_slice();
        let read = read_lenenc_int(&mut input).unwrap();
        assert!(input.is_empty());
        (out.len(), read)
    }

    #[test]
    fn integers_use_the_shortest_form_and_read_back() {
        for (value, len) in [
            (0, 1),
            (250, 1),
            (251, 3),
            (0xFFFF, 3),
            (0x1_0000, 4),
            (0xFF_FFFF, 4),
            (0x100_0000, 9),
            (u64::MAX, 9),
        ] {
            assert_eq!(round_trip(value), (len, Some(value)), "{value}");
        }
    }

    #[test]
    fn null_marker_and_bad_first_byte() {
        assert_eq!(read_lenenc_int(&mut &[0xFB][..]), Ok(None));
        assert_eq!(read_lenenc_bytes(&mut &[0xFB][..]), Ok(None));
        assert!(matches!(
            read_lenenc_int(&mut &[0xFF][..]),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn truncated_inputs() {
        for bytes in [
            &[][..],
            &[0xFC, 1],
            &[0xFD, 1, 2],
            &[0xFE, 1, 2, 3, 4, 5, 6, 7],
        ] {
            assert!(matches!(
                read_lenenc_int(&mut &bytes[..]),
                Err(WireError::Truncated { .. })
            ));
        }
        assert!(matches!(
            read_lenenc_bytes(&mut &[3, b'a', b'b'][..]),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn strings_round_trip() {
        let mut out = Vec::new();
        write_lenenc_bytes(&mut out, b"hello");
        write_lenenc_bytes(&mut out, &[7; 300]);
        let mut input = out.as_slice();
        assert_eq!(read_lenenc_bytes(&mut input), Ok(Some(&b"hello"[..])));
        assert_eq!(read_lenenc_bytes(&mut input), Ok(Some(&[7u8; 300][..])));
        assert!(input.is_empty());
    }
}
