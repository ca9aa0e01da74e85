//! One canonical form of a request path, which the gateway both decides on and forwards, so
//! that no server behind it can read a path differently from the policy that allowed it.
//!
//! Encoded unreserved characters (`%61` → `a`, `%2E` → `.`) are decoded; other escapes are
//! kept with upper-case hex digits; raw bytes that may not stand in a path segment (a space,
//! `"`, `{`, non-ASCII UTF-8) are encoded. Empty segments (`//`) are collapsed into one slash:
//! kube-apiserver's own attribution skips nothing there (it would read an empty segment as a
//! resource), so the gateway forwards the collapsed path it attributed. A trailing slash is
//! kept; kube-apiserver's attribution ignores it. Anything another decoder could split, resolve
//! or decode differently is refused: `%2F`, `%25`, a backslash raw or as `%5C`, control
//! characters raw or encoded (NUL included), a malformed `%`, escapes that decode to something
//! other than UTF-8, and `.`/`..` segments in any spelling.

use crate::error::{AttributionError, TargetPart};

/// Longest raw path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// A path in canonical form, and its segments decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CanonicalPath {
    /// What is forwarded upstream.
    pub(crate) text: String,
    /// The non-empty segments, percent-decoded.
    pub(crate) segments: Vec<String>,
}

/// Normalises a raw path (the request target before `?`), or says why it is refused.
pub(crate) fn canonical_path(raw: &str) -> Result<CanonicalPath, AttributionError> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(AttributionError::PathTooLong {
            len: raw.len(),
            max: MAX_PATH_BYTES,
        });
    }
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(AttributionError::PathNotAbsolute);
    };
    let mut text = String::with_capacity(raw.len());
    let mut segments = Vec::new();
    for piece in rest.split('/').filter(|piece| !piece.is_empty()) {
        let (encoded, decoded) = segment(piece)?;
        text.push('/');
        text.push_str(&encoded);
        segments.push(decoded);
    }
    if segments.is_empty() || raw.ends_with('/') {
        text.push('/');
    }
    Ok(CanonicalPath { text, segments })
}

/// One segment: its canonical spelling and its decoded text.
fn segment(piece: &str) -> Result<(String, String), AttributionError> {
    let bytes = piece.as_bytes();
    let mut encoded = String::with_capacity(piece.len());
    let mut decoded = Vec::with_capacity(piece.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let value = escaped_byte(bytes, at)
                .ok_or(AttributionError::MalformedPercent(TargetPart::Path))?;
            refuse_decoded(value)?;
            push_canonical(&mut encoded, value);
            decoded.push(value);
            at += 3;
        } else {
            if byte == b'\\' {
                return Err(AttributionError::Backslash);
            }
            if is_pchar(byte) {
                encoded.push(char::from(byte));
            } else {
                push_escape(&mut encoded, byte);
            }
            decoded.push(byte);
            at += 1;
        }
    }
    let decoded =
        String::from_utf8(decoded).map_err(|_| AttributionError::NotUtf8(TargetPart::Path))?;
    if decoded.chars().any(char::is_control) {
        return Err(AttributionError::ControlCharacter);
    }
    if decoded == "." || decoded == ".." {
        return Err(AttributionError::DotSegment);
    }
    Ok((encoded, decoded))
}

/// Escaped bytes no segment may hold, whatever else they decode to.
fn refuse_decoded(value: u8) -> Result<(), AttributionError> {
    match value {
        b'/' => Err(AttributionError::EncodedSlash),
        b'%' => Err(AttributionError::EncodedPercent),
        b'\\' => Err(AttributionError::Backslash),
        _ => Ok(()),
    }
}

/// The byte `%XY` at `at` stands for, if `X` and `Y` are hexadecimal digits.
pub(crate) fn escaped_byte(bytes: &[u8], at: usize) -> Option<u8> {
    let high = hex_value(*bytes.get(at + 1)?)?;
    let low = hex_value(*bytes.get(at + 2)?)?;
    Some(high << 4 | low)
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

/// RFC 3986 unreserved characters: the same whether encoded or not.
pub(crate) fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Characters a path segment may hold unencoded (RFC 3986 `pchar` less `%`).
fn is_pchar(byte: u8) -> bool {
    is_unreserved(byte) || b"!$&'()*+,;=:@".contains(&byte)
}

/// A decoded escape in canonical form: unreserved characters plain, others as `%XY`.
fn push_canonical(out: &mut String, byte: u8) {
    if is_unreserved(byte) {
        out.push(char::from(byte));
    } else {
        push_escape(out, byte);
    }
}

/// `%XY` with upper-case hex digits.
pub(crate) fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    for nibble in [byte >> 4, byte & 0x0F] {
        if let Some(&digit) = HEX.get(usize::from(nibble)) {
            out.push(char::from(digit));
        }
    }
}
