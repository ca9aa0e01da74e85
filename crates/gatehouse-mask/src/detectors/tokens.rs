//! Credentials recognisable by a fixed prefix and a fixed alphabet and length: AWS access key
//! ids, GitHub, GitLab and Slack tokens, Google API keys and Stripe keys. Each must stand alone:
//! the characters on either side must not be part of the same token alphabet.

use super::Find;
use super::boundary::{after, before};
use crate::scan::Hits;
use regex::Regex;

pub(super) fn aws_access_key_id() -> Result<Box<dyn Find>, regex::Error> {
    PrefixedToken::build(r"(?:AKIA|ASIA)[A-Z0-9]{16}")
}

pub(super) fn github_token() -> Result<Box<dyn Find>, regex::Error> {
    PrefixedToken::build(r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}")
}

pub(super) fn gitlab_token() -> Result<Box<dyn Find>, regex::Error> {
    PrefixedToken::build(r"glpat-[A-Za-z0-9_\-]{20,}")
}

pub(super) fn slack_token() -> Result<Box<dyn Find>, regex::Error> {
    PrefixedToken::build(r"xox[abposr]-[A-Za-z0-9]+(?:-[A-Za-z0-9]+){1,5}")
}

pub(super) fn google_api_key() -> Result<Box<dyn Find>, regex::Error> {
    PrefixedToken::build(r"AIza[A-Za-z0-9_\-]{35}")
}

pub(super) fn stripe_key() -> Result<Box<dyn Find>, regex::Error> {
    PrefixedToken::build(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|pk_live_[A-Za-z0-9]{16,}")
}

/// Shortest Slack token accepted, prefix included (real ones are 50+ characters).
const MIN_LENGTH: usize = 20;

struct PrefixedToken {
    regex: Regex,
}

impl PrefixedToken {
    fn build(pattern: &str) -> Result<Box<dyn Find>, regex::Error> {
        Ok(Box::new(PrefixedToken {
            regex: Regex::new(pattern)?,
        }))
    }
}

impl Find for PrefixedToken {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        let glued = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-');
        for token in self.regex.find_iter(text) {
            if token.len() >= MIN_LENGTH
                && !before(text, token.start()).is_some_and(glued)
                && !after(text, token.end()).is_some_and(glued)
            {
                hits.add(token.start(), token.end());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    #[test]
    fn standalone_tokens() {
        let cases = [
            ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
            ("github_token", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"),
            ("gitlab_token", "glpat-xYz12AbCdEfGhIjKlMnO"),
            (
                "slack_token",
                "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            ),
            ("google_api_key", "AIzaSyA1bC2dE3fG4hI5jK6lM7nO8pQ9rS0tU1v"),
            ("stripe_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ];
        for (detector, token) in cases {
            assert_eq!(spans_of(detector, &format!("key={token};")), [token]);
            assert!(spans_of(detector, &format!("x{token}")).is_empty());
            // Never cut out of a longer word (variable-length tokens take the `x` along).
            assert_ne!(spans_of(detector, &format!("{token}x")), [token]);
        }
    }

    #[test]
    fn short_or_malformed_are_not_tokens() {
        assert!(spans_of("aws_access_key_id", "AKIA1234").is_empty());
        assert!(spans_of("slack_token", "xoxb-12-ab").is_empty());
        assert!(spans_of("github_token", "ghp_short").is_empty());
        assert!(spans_of("stripe_key", "pk_test_4eC39HqLyjWDarjtT1zdp7dc").is_empty());
    }
}
