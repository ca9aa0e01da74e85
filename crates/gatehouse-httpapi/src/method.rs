//! The method a request is decided as. Servers behind gateways often honour a method
//! override (Rails and Laravel read `_method`, many frameworks `X-HTTP-Method-Override`), so
//! a `POST` may run as a `DELETE`: the claimed method is what is decided. Because a server
//! might also ignore the claim, a write may not claim to be a read, and claims that disagree
//! are refused.

use crate::error::{HttpApiError, quoted};

/// Headers that claim another method, lower case.
pub(crate) const OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The query parameter that claims another method.
pub(crate) const OVERRIDE_PARAM: &str = "_method";

/// The methods decided as reads.
const READ_METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

/// `method` upper-cased, when it is an RFC 9110 token.
pub(crate) fn method_token(method: &str) -> Option<String> {
    let valid = !method.is_empty() && method.bytes().all(is_tchar);
    valid.then(|| method.to_ascii_uppercase())
}

/// RFC 9110's `tchar`.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// The method decided for a request sent as `sent` (a valid token, upper case) that claims
/// each of `claims` (override header values and `_method` values, as received).
pub(crate) fn decided_method(sent: &str, claims: &[String]) -> Result<String, HttpApiError> {
    let mut decided: Option<String> = None;
    for claim in claims {
        let claim = claim.trim_matches([' ', '\t']);
        let Some(token) = method_token(claim) else {
            return Err(HttpApiError::InvalidOverride(quoted(claim)));
        };
        match &decided {
            Some(first) if *first != token => {
                return Err(HttpApiError::ConflictingOverrides(
                    quoted(first),
                    quoted(&token),
                ));
            }
            _ => decided = Some(token),
        }
    }
    let Some(claimed) = decided else {
        return Ok(sent.to_owned());
    };
    let is_read = |method: &str| READ_METHODS.contains(&method);
    if is_read(&claimed) && !is_read(sent) {
        return Err(HttpApiError::WriteClaimsRead {
            sent: quoted(sent),
            claimed,
        });
    }
    Ok(claimed)
}

/// The `_method` values of a raw query, split on `&` and on `;` too (some servers split
/// parameters on either), decoded.
pub(crate) fn query_claims(query: &str) -> Result<Vec<String>, HttpApiError> {
    let mut claims = Vec::new();
    for piece in query.split(['&', ';']) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        if crate::target::form_decode(name)? == OVERRIDE_PARAM {
            claims.push(crate::target::form_decode(value)?);
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tokens_are_upper_cased_and_checked() {
        assert_eq!(method_token("get").as_deref(), Some("GET"));
        assert_eq!(method_token("M-SEARCH").as_deref(), Some("M-SEARCH"));
        assert_eq!(method_token(""), None);
        assert_eq!(method_token("GE T"), None);
        assert_eq!(method_token("GET\r"), None);
    }

    #[test]
    fn a_semicolon_does_not_hide_a_method_parameter() {
        assert_eq!(query_claims("a=1;_method=DELETE").unwrap(), ["DELETE"]);
        assert_eq!(query_claims("_method&x=2").unwrap(), [""]);
    }
}
