//! The request target (path and query) as the API will receive it, read without changing a
//! byte: the gateway forwards exactly what it decided on, so anything two servers (or a
//! server and this reader) could split, resolve or decode differently is refused instead of
//! normalised.
//!
//! Path rules:
//! - origin form only (`/...`); every byte printable ASCII; no `#`, no backslash (raw or
//!   `%5C`), no malformed `%`, no encoded control character (`%00`–`%1F`, `%7F`);
//! - no `.`/`..` segment in any spelling (`%2e`, `.%2E`, ...), also before a `;` (servlet
//!   containers drop `;params` from a segment before resolving dots: `..;x` is `..`);
//! - no empty segment (`//`); a trailing slash is kept and adds no segment (`/` alone has
//!   none);
//! - no escape that decodes to `%XX` where `XX` is a dot, slash, backslash or control
//!   (`%252e`, `%25%32%65`): a server that decodes twice would read the character itself;
//! - an encoded slash (`%2F`) stays encoded and decodes inside its segment (RabbitMQ's
//!   default vhost is `%2F`), so policy sees the segments the API routes on.
//!
//! Query rules: kept raw; parameters split on `&` and decoded as HTML forms encode them
//! (`+` is a space) for the context, lossily to UTF-8; a malformed `%` and an encoded NUL are
//! refused.

use crate::error::{HttpApiError, TargetPart, quoted};

/// A request target split and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The path as received (no query).
    pub(crate) path: String,
    /// The raw query, without `?`.
    pub(crate) query: String,
    /// The path's segments, decoded; a trailing empty segment is not listed.
    pub(crate) segments: Vec<String>,
    /// The query's parameters, decoded.
    pub(crate) params: Vec<(String, String)>,
}

/// Reads `target` (path and query), or says why it is refused.
pub(crate) fn read_target(target: &str) -> Result<Target, HttpApiError> {
    if !target.starts_with('/') {
        return Err(HttpApiError::NotOriginForm(quoted(target)));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    check_raw(path, TargetPart::Path)?;
    check_raw(query, TargetPart::Query)?;
    if path.contains('\\') {
        return Err(HttpApiError::Backslash);
    }
    let segments = read_segments(path)?;
    let params = read_params(query)?;
    Ok(Target {
        path: path.to_owned(),
        query: query.to_owned(),
        segments,
        params,
    })
}

/// Every byte printable ASCII, no fragment.
fn check_raw(text: &str, part: TargetPart) -> Result<(), HttpApiError> {
    for byte in text.bytes() {
        if byte == b'#' {
            return Err(HttpApiError::Fragment);
        }
        if !(0x21..=0x7e).contains(&byte) {
            return Err(HttpApiError::RawByte(part));
        }
    }
    Ok(())
}

/// The decoded segments of a path that starts with `/`.
fn read_segments(path: &str) -> Result<Vec<String>, HttpApiError> {
    let rest = path.get(1..).unwrap_or_default();
    let pieces: Vec<&str> = rest.split('/').collect();
    let last = pieces.len().saturating_sub(1);
    let mut segments = Vec::with_capacity(pieces.len());
    for (index, piece) in pieces.into_iter().enumerate() {
        if piece.is_empty() {
            if index == last {
                // A trailing slash (or the path `/`): no segment.
                break;
            }
            return Err(HttpApiError::EmptySegment);
        }
        let decoded = percent_decode(piece, false, TargetPart::Path)?;
        for &byte in &decoded {
            if byte == b'\\' {
                return Err(HttpApiError::Backslash);
            }
            if is_control(byte) {
                return Err(HttpApiError::EncodedControl(TargetPart::Path));
            }
        }
        if is_dot_segment(&decoded) {
            return Err(HttpApiError::DotSegment);
        }
        if decodes_to_danger(&decoded) {
            return Err(HttpApiError::DoubleEncoded);
        }
        segments.push(String::from_utf8_lossy(&decoded).into_owned());
    }
    Ok(segments)
}

/// `.` or `..`, also before a `;` (path parameters some servers strip first).
fn is_dot_segment(decoded: &[u8]) -> bool {
    let name = decoded
        .split(|&byte| byte == b';')
        .next()
        .unwrap_or_default();
    name == b"." || name == b".."
}

/// Whether decoding `decoded` once more would give a dot, slash, backslash or control.
fn decodes_to_danger(decoded: &[u8]) -> bool {
    decoded.windows(3).any(|window| match window {
        [b'%', high, low] => match (hex_value(*high), hex_value(*low)) {
            (Some(high), Some(low)) => {
                let byte = high << 4 | low;
                matches!(byte, b'.' | b'/' | b'\\') || is_control(byte)
            }
            _ => false,
        },
        _ => false,
    })
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7f
}

/// The query's `&`-separated parameters, decoded; empty pieces are skipped.
fn read_params(query: &str) -> Result<Vec<(String, String)>, HttpApiError> {
    let mut params = Vec::new();
    for piece in query.split('&').filter(|piece| !piece.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        params.push((form_decode(name)?, form_decode(value)?));
    }
    Ok(params)
}

/// One query component decoded as a form field: `+` is a space; lossy UTF-8.
pub(crate) fn form_decode(text: &str) -> Result<String, HttpApiError> {
    let decoded = percent_decode(text, true, TargetPart::Query)?;
    if decoded.contains(&0) {
        return Err(HttpApiError::EncodedControl(TargetPart::Query));
    }
    Ok(String::from_utf8_lossy(&decoded).into_owned())
}

/// Percent-decodes `text`; with `plus_is_space`, `+` decodes to a space.
fn percent_decode(
    text: &str,
    plus_is_space: bool,
    part: TargetPart,
) -> Result<Vec<u8>, HttpApiError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'%' => {
                let high = bytes.get(at + 1).copied().and_then(hex_value);
                let low = bytes.get(at + 2).copied().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(HttpApiError::MalformedPercent(part));
                };
                out.push(high << 4 | low);
                at += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                at += 1;
            }
            _ => {
                out.push(byte);
                at += 1;
            }
        }
    }
    Ok(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn an_encoded_slash_stays_in_its_segment() {
        let target = read_target("/api/queues/%2F/q?x=1").unwrap();
        assert_eq!(target.path, "/api/queues/%2F/q");
        assert_eq!(target.segments, ["api", "queues", "/", "q"]);
    }

    #[test]
    fn double_encoding_is_seen_through_encoded_hex_digits() {
        for path in [
            "/a%252e",
            "/a%25%32%65",
            "/a%25%32e",
            "/%252F",
            "/%2500",
            "/%255c",
        ] {
            assert_eq!(
                read_target(path),
                Err(HttpApiError::DoubleEncoded),
                "{path}"
            );
        }
        assert!(read_target("/a%2541").is_ok());
    }

    #[test]
    fn servlet_path_parameters_do_not_hide_dot_segments() {
        assert_eq!(read_target("/a/..;x/b"), Err(HttpApiError::DotSegment));
        assert_eq!(read_target("/a/.%3B/b"), Err(HttpApiError::DotSegment));
        assert!(read_target("/a/..x/b").is_ok());
    }
}
