//! Case-insensitive wildcard patterns (`*` for any run of characters, `?` for one) naming the
//! columns, tables and types a column rule applies to.

/// A compiled wildcard pattern, stored lowercased.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    /// Accepts any non-empty text; `[`, `]`, `{` and `}` are refused so nobody expects
    /// character classes or alternatives to work.
    pub(crate) fn parse(text: &str) -> Result<Glob, &'static str> {
        if text.is_empty() {
            return Err("it is empty");
        }
        if text.contains(['[', ']', '{', '}']) {
            return Err("only the wildcards `*` and `?` are supported");
        }
        Ok(Glob {
            pattern: text.chars().flat_map(char::to_lowercase).collect(),
        })
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
        let (mut p, mut n) = (0usize, 0usize);
        // Where the last `*` was and how much of `name` it has swallowed so far.
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.pattern.get(p) {
                Some('*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(&c) if c == '?' || Some(&c) == name.get(n) => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((star_p, star_n)) => {
                        p = star_p + 1;
                        n = star_n + 1;
                        star = Some((star_p, star_n + 1));
                    }
                    None => return false,
                },
            }
        }
        while self.pattern.get(p) == Some(&'*') {
            p += 1;
        }
        p == self.pattern.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn matches(pattern: &str, name: &str) -> bool {
        Glob::parse(pattern).is_ok_and(|glob| glob.matches(name))
    }

    #[test]
    fn wildcards_and_case() {
        assert!(matches("ssn", "SSN"));
        assert!(!matches("ssn", "ssn2"));
        assert!(matches("*password*", "user_PASSWORD_hash"));
        assert!(matches("*password*", "password"));
        assert!(matches("*_token", "api_token"));
        assert!(!matches("*_token", "token"));
        assert!(matches("card_?", "card_1"));
        assert!(!matches("card_?", "card_12"));
        assert!(matches("*", ""));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        assert!(Glob::parse("").is_err());
        assert!(Glob::parse("card_[0-9]").is_err());
        assert!(Glob::parse("{a,b}").is_err());
    }
}
