//! Secrets with no recognisable shape of their own, taken only where a label says what they
//! are: an AWS secret access key after `aws_secret_access_key`, `SecretAccessKey`, `secret`
//! and similar, and the credential after the `Bearer` authentication scheme.

use super::Find;
use super::boundary::{after, before};
use crate::scan::Hits;
use regex::Regex;

/// A `secret`-style label, the punctuation between label and value, then 40 base64 characters.
const AWS_SECRET_PATTERN: &str = r#"(?i:(?:aws_?)?secret(?:_?access)?(?:_?key)?)["']?[ \t]*(?::|=>|=)?[ \t]*["']?([A-Za-z0-9/+]{40})"#;
/// `Bearer`, then the token (RFC 6750 `b64token` characters).
const BEARER_PATTERN: &str = r"(?i:bearer)[ \t]+([A-Za-z0-9\-._~+/]+=*)";

/// Shortest bearer credential accepted; "Bearer authentication" must not lose a word.
const MIN_BEARER_LENGTH: usize = 16;

pub(super) fn aws_secret_key() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(AwsSecretKey {
        regex: Regex::new(AWS_SECRET_PATTERN)?,
    }))
}

pub(super) fn bearer_token() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(BearerToken {
        regex: Regex::new(BEARER_PATTERN)?,
    }))
}

struct AwsSecretKey {
    regex: Regex,
}

impl Find for AwsSecretKey {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for captures in self.regex.captures_iter(text) {
            let Some(key) = captures.get(1) else {
                continue;
            };
            let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '+');
            let value = key.as_str();
            // Generated keys mix cases and digits; hex digests and words do not.
            let mixed = value.bytes().any(|b| b.is_ascii_uppercase())
                && value.bytes().any(|b| b.is_ascii_lowercase())
                && value.bytes().any(|b| b.is_ascii_digit());
            if mixed && !after(text, key.end()).is_some_and(base64) {
                hits.add(key.start(), key.end());
            }
        }
    }
}

struct BearerToken {
    regex: Regex,
}

impl Find for BearerToken {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for captures in self.regex.captures_iter(text) {
            let (Some(whole), Some(token)) = (captures.get(0), captures.get(1)) else {
                continue;
            };
            if before(text, whole.start()).is_some_and(char::is_alphanumeric) {
                continue;
            }
            // A sentence may end right after the token.
            let value = token.as_str().trim_end_matches('.');
            let has_letter = value.bytes().any(|b| b.is_ascii_alphabetic());
            let has_digit = value.bytes().any(|b| b.is_ascii_digit());
            if value.len() >= MIN_BEARER_LENGTH && has_letter && has_digit {
                hits.add(token.start(), token.start() + value.len());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    const KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn aws_secret_only_with_label() {
        for text in [
            format!("aws_secret_access_key = {KEY}"),
            format!("AWS_SECRET_ACCESS_KEY={KEY}"),
            format!(r#"{{"SecretAccessKey": "{KEY}"}}"#),
            format!("secret: '{KEY}'"),
        ] {
            assert_eq!(spans_of("aws_secret_key", &text), [KEY], "{text}");
        }
        assert!(spans_of("aws_secret_key", KEY).is_empty());
        let digest = "secret: da39a3ee5e6b4b0d3255bfef95601890afd80709";
        assert!(spans_of("aws_secret_key", digest).is_empty());
    }

    #[test]
    fn bearer_credentials_not_prose() {
        let header = "Authorization: Bearer 8f2d1c9a7b6e5d4c3b2a19f8e7d6c5b4.";
        assert_eq!(
            spans_of("bearer_token", header),
            ["8f2d1c9a7b6e5d4c3b2a19f8e7d6c5b4"]
        );
        assert!(spans_of("bearer_token", "uses bearer authentication").is_empty());
        assert!(spans_of("bearer_token", "Bearer token").is_empty());
    }
}
