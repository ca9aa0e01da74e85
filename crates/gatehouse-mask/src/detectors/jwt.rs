//! `jwt`: JSON Web Tokens (JWS compact form): three base64url segments whose header decodes to a
//! JSON object with a string `alg` and whose payload decodes to a JSON object. The signature may
//! only be empty for `"alg": "none"`. A base64 blob that merely starts with `eyJ` is not a JWT.

use super::Find;
use super::boundary::{after, before};
use crate::scan::Hits;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use regex::Regex;
use serde::Deserialize;

const PATTERN: &str = r"eyJ[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]{2,}\.[A-Za-z0-9_\-]*";

pub(super) fn build() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(Jwt {
        regex: Regex::new(PATTERN)?,
    }))
}

struct Jwt {
    regex: Regex,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

impl Find for Jwt {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for candidate in self.regex.find_iter(text) {
            let glued = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
            if before(text, candidate.start()).is_some_and(glued)
                || after(text, candidate.end()).is_some_and(glued)
            {
                continue;
            }
            if is_jwt(candidate.as_str()) {
                hits.add(candidate.start(), candidate.end());
            }
        }
    }
}

fn is_jwt(token: &str) -> bool {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return false;
    };
    let Some(header) = decode_json::<Header>(header) else {
        return false;
    };
    let payload_is_object =
        decode_json::<serde_json::Map<String, serde_json::Value>>(payload).is_some();
    let signed = !signature.is_empty() || header.alg.eq_ignore_ascii_case("none");
    payload_is_object && signed
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn accepts_signed_tokens() {
        let text = format!("Authorization: Bearer {TOKEN}");
        assert_eq!(spans_of("jwt", &text), [TOKEN]);
    }

    #[test]
    fn refuses_other_base64() {
        for text in [
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "eyJmb28iOjF9.eyJmb28iOjF9.c2lnbmF0dXJl",
            "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2lnbmF0dXJl",
            "eyJhbGciOiJIUzI1NiJ9.eyJmb28iOjF9.",
        ] {
            assert!(spans_of("jwt", text).is_empty(), "{text}");
        }
    }
}
