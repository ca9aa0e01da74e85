//! The dictionary SPDY/3 primes header compression with (draft 3, section 2.6.10.1): kubectl
//! compresses its header blocks against it, so inflating them needs the same bytes. It is built
//! from its parts, a run of length-prefixed header words followed by a run of plain text, which
//! is easier to check against the draft than 1,400 bytes of hex.

use std::sync::OnceLock;

/// The words the dictionary lists first, each written as a 4-byte big-endian length and the
/// word.
const WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The text the dictionary ends with, as is.
const TEXT: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505",
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request",
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented",
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 ",
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,",
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=",
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The dictionary's bytes.
pub fn bytes() -> &'static [u8] {
    static DICTIONARY: OnceLock<Vec<u8>> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let mut out = Vec::with_capacity(1424);
        for word in WORDS {
            let length = u32::try_from(word.len()).unwrap_or_default();
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(word.as_bytes());
        }
        out.extend_from_slice(TEXT.as_bytes());
        out
    })
}

/// Adler-32 of the dictionary, the id a zlib stream names its preset dictionary by.
pub fn id() -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes() {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_drafts_length_and_ends() {
        let dictionary = bytes();
        assert_eq!(dictionary.len(), 1423);
        assert!(dictionary.starts_with(b"\0\0\0\x07options\0\0\0\x04head"));
        assert!(dictionary.ends_with(b"utf-,*,enq=0."));
    }
}
