//! The query string as kube-apiserver reads it (Go's `url.ParseQuery`: `&`-separated pairs,
//! `+` for a space, percent escapes), refusing what Go would silently drop — a pair with a
//! `;` or a malformed escape — so the parameters the gateway decides on are the ones the
//! server acts on. Values may hold any UTF-8 text except NUL (an exec command's words end at a
//! NUL where the policy would have seen more).

use crate::error::{AttributionError, TargetPart};
use crate::path::{escaped_byte, is_unreserved, push_escape};

/// Parses a raw query (without the `?`) into its pairs, in order.
pub(crate) fn parse_query(raw: &str) -> Result<Vec<(String, String)>, AttributionError> {
    let mut pairs = Vec::new();
    for piece in raw.split('&').filter(|piece| !piece.is_empty()) {
        if piece.contains(';') {
            return Err(AttributionError::QuerySemicolon);
        }
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        pairs.push((unescape(key)?, unescape(value)?));
    }
    Ok(pairs)
}

/// The query in canonical form: every byte but the unreserved ones escaped.
pub(crate) fn encode_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        escape_into(&mut out, key);
        out.push('=');
        escape_into(&mut out, value);
    }
    out
}

/// The first value of `key`, as Go's `url.Values.Get` and kube-apiserver's conversions take it.
pub(crate) fn first_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// A boolean parameter as kube-apiserver converts one: absent, `false` or `0` (any case) is
/// false; anything else, the empty value included, is true.
pub(crate) fn flag(pairs: &[(String, String)], key: &str) -> bool {
    first_value(pairs, key).is_some_and(|value| {
        let value = value.to_lowercase();
        value != "false" && value != "0"
    })
}

fn unescape(text: &str) -> Result<String, AttributionError> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'%' => {
                let value = escaped_byte(bytes, at)
                    .ok_or(AttributionError::MalformedPercent(TargetPart::Query))?;
                decoded.push(value);
                at += 3;
            }
            b'+' => {
                decoded.push(b' ');
                at += 1;
            }
            _ => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    if decoded.contains(&0) {
        return Err(AttributionError::NulInQuery);
    }
    String::from_utf8(decoded).map_err(|_| AttributionError::NotUtf8(TargetPart::Query))
}

fn escape_into(out: &mut String, text: &str) {
    for &byte in text.as_bytes() {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            push_escape(out, byte);
        }
    }
}
