//! JSON text written by hand, for the few encodings on the data path (audit events, session
//! recordings) whose serde form costs more than the rest of handling a statement.
//!
//! Each function writes exactly what `serde_json` writes for the same value, so a hand-written
//! encoder and the type's serde derive produce the same bytes: the derive stays the definition
//! of the format, and readers keep using it.

/// A `u64` in decimal.
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    write_decimal(out, value, false);
}

/// An `i64` in decimal, with a minus sign when negative.
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    write_decimal(out, value.unsigned_abs(), value < 0);
}

fn write_decimal(out: &mut Vec<u8>, magnitude: u64, negative: bool) {
    let mut buffer = [0u8; 20];
    let mut used = 0;
    {
        // Filled from the end, two digits per division by 100.
        let mut slots = buffer.iter_mut().rev();
        let mut put = |digit: u8| {
            if let Some(slot) = slots.next() {
                *slot = b'0' + digit;
                used += 1;
            }
        };
        let mut rest = magnitude;
        while rest >= 100 {
            let pair = u8::try_from(rest % 100).unwrap_or(0);
            rest /= 100;
            put(pair % 10);
            put(pair / 10);
        }
        let last = u8::try_from(rest).unwrap_or(0);
        if last >= 10 {
            put(last % 10);
            put(last / 10);
        } else {
            put(last);
        }
    }
    if negative {
        out.push(b'-');
    }
    out.extend_from_slice(buffer.get(buffer.len() - used..).unwrap_or_default());
}

/// A JSON string, escaped as serde_json escapes: `"` and `\` with a backslash, the control
/// characters with their short forms or `\u00xx`, everything else (DEL, non-ASCII) as is.
pub fn write_string(out: &mut Vec<u8>, value: &str) {
    let mut rest = value.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    while let Some((clean, tail)) = first_to_escape(rest).and_then(|at| rest.split_at_checked(at)) {
        out.extend_from_slice(clean);
        let Some((&byte, after)) = tail.split_first() else {
            break;
        };
        escape_byte(out, byte);
        rest = after;
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

/// A list of strings as a JSON array.
pub fn write_string_list(out: &mut Vec<u8>, values: &[String]) {
    out.push(b'[');
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, value);
    }
    out.push(b']');
}

/// A list of strings or nulls (SQL values, bound parameters) as a JSON array.
pub fn write_nullable_string_list(out: &mut Vec<u8>, values: &[Option<String>]) {
    out.push(b'[');
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        match value {
            Some(value) => write_string(out, value),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b']');
}

/// Counts by name (masked values per detector or rule) as a JSON object, in the map's order.
pub fn write_count_map(out: &mut Vec<u8>, counts: &std::collections::BTreeMap<String, u64>) {
    out.push(b'{');
    for (index, (name, count)) in counts.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        write_u64(out, *count);
    }
    out.push(b'}');
}

/// Where the first byte that needs escaping is, eight bytes at a time.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        // The high bit of the lowest byte below 0x20, equal to a quote or equal to a
        // backslash is set in at least one term (borrows may also flag bytes above it, and
        // non-ASCII bytes are masked out since they never need escaping): a word with none
        // is skipped whole, and one that may hold one is searched byte by byte.
        let below_space = word.wrapping_sub(ONES * 0x20);
        let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
        let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
        if (below_space | quote | backslash) & !word & HIGHS != 0
            && let Some(inside) = chunk.iter().position(|&byte| needs_escape(byte))
        {
            return Some(offset + inside);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&byte| needs_escape(byte))
        .map(|inside| offset + inside)
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

fn escape_byte(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match byte {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => {
            let hex = |nibble: u8| HEX.get(usize::from(nibble)).copied().unwrap_or(b'0');
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hex(byte >> 4), hex(byte & 0xf)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn strings_escape_as_serde_json_escapes(value in any::<String>()) {
            let mut written = Vec::new();
            write_string(&mut written, &value);
            let expected = serde_json::to_vec(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(written, expected);
        }

        #[test]
        fn integers_are_written_as_serde_json_writes_them(signed in any::<i64>(), unsigned in any::<u64>()) {
            let mut written = Vec::new();
            write_i64(&mut written, signed);
            written.push(b' ');
            write_u64(&mut written, unsigned);
            prop_assert_eq!(written, format!("{signed} {unsigned}").into_bytes());
        }
    }

    #[test]
    fn every_byte_that_needs_escaping_is_found_at_any_position_in_a_word() {
        for byte in 0u8..=0x7f {
            for position in 0..19 {
                let mut text = vec![b'a'; 19];
                if let Some(slot) = text.get_mut(position) {
                    *slot = byte;
                }
                let value = String::from_utf8(text).unwrap_or_default();
                let mut written = Vec::new();
                write_string(&mut written, &value);
                let expected = serde_json::to_vec(&value).unwrap_or_default();
                assert_eq!(written, expected, "byte {byte:#04x} at {position}");
            }
        }
    }

    #[test]
    fn escapes_next_to_non_ascii_text_are_found() {
        let value = "é\"\u{1}ü\\\u{7f}€\n";
        let mut written = Vec::new();
        write_string(&mut written, value);
        assert_eq!(written, serde_json::to_vec(value).unwrap_or_default());
    }

    #[test]
    fn the_extremes_of_integers_are_written_in_full() {
        for value in [0, 1, -1, 9, 10, i64::MAX, i64::MIN] {
            let mut written = Vec::new();
            write_i64(&mut written, value);
            assert_eq!(written, value.to_string().into_bytes());
        }
        let mut written = Vec::new();
        write_u64(&mut written, u64::MAX);
        assert_eq!(written, u64::MAX.to_string().into_bytes());
    }
}
