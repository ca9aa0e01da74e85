//! What the layer refuses before an adapter sees a request, and what it never forwards.
//!
//! A request carrying both `Content-Length` and `Transfer-Encoding` (or several differing
//! `Content-Length`s, or a transfer coding other than `chunked`) is read one way by one hop and
//! another way by the next — request smuggling — so it is refused outright rather than
//! normalised. Hop-by-hop headers (RFC 9110 §7.6.1, and any header the `Connection` header
//! names) belong to one connection and are removed in both directions.

use hyper::HeaderMap;
use hyper::header::{self, HeaderName};

/// Headers that describe one connection, never the message.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// Why a request's framing is refused. HTTP/1.1's parser already settles a request with both
/// `Content-Length` and `Transfer-Encoding` the way RFC 9112 says (the transfer coding wins,
/// the connection closes after the answer) and hands on only `Transfer-Encoding`; an adapter
/// that reads every body whole before deciding can pass `chunked_allowed = false` to refuse
/// every chunked request, and with it every smuggling attempt, before anything is forwarded.
pub fn refused_framing(headers: &HeaderMap, chunked_allowed: bool) -> Option<&'static str> {
    if !chunked_allowed && headers.contains_key(header::TRANSFER_ENCODING) {
        return Some(
            "chunked request bodies are refused here (a defence against request smuggling): send the body with Content-Length",
        );
    }
    ambiguous_framing(headers)
}

/// Why a request's framing is ambiguous, if it is.
pub fn ambiguous_framing(headers: &HeaderMap) -> Option<&'static str> {
    let lengths: Vec<_> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    let codings: Vec<_> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    if !lengths.is_empty() && !codings.is_empty() {
        return Some("the request has both Content-Length and Transfer-Encoding");
    }
    if lengths.windows(2).any(|pair| pair.first() != pair.last()) {
        return Some("the request has differing Content-Length headers");
    }
    let only_chunked = codings.iter().all(|coding| {
        coding
            .to_str()
            .is_ok_and(|text| text.trim().eq_ignore_ascii_case("chunked"))
    });
    if codings.len() > 1 || !only_chunked {
        return Some("the request has a transfer coding other than a single `chunked`");
    }
    None
}

/// Remove the hop-by-hop headers, including those the `Connection` header names, and
/// `Transfer-Encoding` (the next hop frames the message itself).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn smuggling_shapes_are_refused_and_plain_framing_passes() {
        assert!(
            ambiguous_framing(&headers(&[
                ("content-length", "5"),
                ("transfer-encoding", "chunked")
            ]))
            .is_some()
        );
        assert!(
            ambiguous_framing(&headers(&[
                ("content-length", "5"),
                ("content-length", "6")
            ]))
            .is_some()
        );
        assert!(ambiguous_framing(&headers(&[("transfer-encoding", "gzip, chunked")])).is_some());
        assert!(
            ambiguous_framing(&headers(&[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked")
            ]))
            .is_some()
        );
        assert!(ambiguous_framing(&headers(&[("content-length", "5")])).is_none());
        assert!(ambiguous_framing(&headers(&[("transfer-encoding", "Chunked")])).is_none());
        assert!(ambiguous_framing(&headers(&[])).is_none());
        let chunked = headers(&[("transfer-encoding", "chunked")]);
        assert!(refused_framing(&chunked, true).is_none());
        assert!(refused_framing(&chunked, false).is_some());
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut map = headers(&[
            ("connection", "close, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("accept", "application/json"),
        ]);
        strip_hop_by_hop(&mut map);
        assert_eq!(map.len(), 1);
        assert!(map.contains_key("accept"));
    }
}
