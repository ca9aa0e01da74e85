//! `email`: addresses of the form `local@domain.tld` with an ASCII local part (letters, digits,
//! `._%+-`, no leading, trailing or doubled dot, at most 64 characters) and a domain of
//! hostname labels ending in an alphabetic top-level domain. Not taken: retina asset names
//! (`logo@2x.png`), package specifiers (`lodash@4.17.21`, no alphabetic TLD), `user@localhost`,
//! the user part of a URL (`https://user:token@host`).

use super::Find;
use super::boundary::{before, continues_after, is_word};
use crate::scan::Hits;
use regex::Regex;

const PATTERN: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}";

pub(super) fn build() -> Result<Box<dyn Find>, regex::Error> {
    Ok(Box::new(Email {
        regex: Regex::new(PATTERN)?,
    }))
}

struct Email {
    regex: Regex,
}

impl Find for Email {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for candidate in self.regex.find_iter(text) {
            let (start, end) = (candidate.start(), candidate.end());
            let glued_before = |c: char| is_word(c) || c == '@';
            if before(text, start).is_some_and(glued_before)
                || in_url_userinfo(text, start)
                || continues_after(text, end, &[])
                || text
                    .get(end..)
                    .is_some_and(|rest| rest.starts_with(['-', '@']))
                || !plausible(candidate.as_str())
            {
                continue;
            }
            hits.add(start, end);
        }
    }
}

/// `https://user:token@host`, `https://user@host`: the part before `@` is a URL's user (and
/// password), left to the credential detectors, not an address.
fn in_url_userinfo(text: &str, start: usize) -> bool {
    let head = text.get(..start).unwrap_or_default();
    let token_start = head.rfind(char::is_whitespace).map_or(0, |space| space + 1);
    head.get(token_start..).is_some_and(|token| {
        token.contains("://") && !token.contains('@') && token.ends_with([':', '/'])
    })
}

fn plausible(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    let local_ok = local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let first_label = domain.split('.').next().unwrap_or_default();
    let retina_suffix = first_label.len() >= 2
        && first_label.ends_with(['x', 'X'])
        && first_label
            .bytes()
            .take(first_label.len() - 1)
            .all(|b| b.is_ascii_digit());
    local_ok && domain.len() <= 253 && !retina_suffix
}

#[cfg(test)]
mod tests {
    use crate::scan::tests::spans_of;

    fn emails(text: &str) -> Vec<&str> {
        spans_of("email", text)
    }

    #[test]
    fn accepts_addresses() {
        assert_eq!(
            emails("mail John.Doe+tag@example.co.uk."),
            ["John.Doe+tag@example.co.uk"]
        );
        assert_eq!(
            emails("<a_b@mail-server.example.org>"),
            ["a_b@mail-server.example.org"]
        );
        assert_eq!(emails("mailto:x@y.io"), ["x@y.io"]);
    }

    #[test]
    fn refuses_lookalikes() {
        for text in [
            "logo@2x.png",
            "lodash@4.17.21",
            "user@localhost",
            "@handle",
            "a@b.c",
            "john..doe@example.com",
            ".john@example.com",
            "user@-example.com",
            "user@example.com2",
            "https://oauth2:token@gitlab.example.com/x.git",
            "https://deploy@git.example.com/x.git",
        ] {
            assert!(emails(text).is_empty(), "{text}");
        }
    }
}
