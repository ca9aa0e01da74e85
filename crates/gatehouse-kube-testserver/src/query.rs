//! A request's query string, decoded: the API's options (`watch`, `labelSelector`, `dryRun`,
//! `limit`, `follow`, …) arrive there.

/// The decoded `name=value` pairs of a query string, in order.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(name), decode(value))
            })
            .collect();
        Self { pairs }
    }

    /// The first value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for `name`, in order (exec's `command` repeats).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is set to a true value, as the API reads booleans (`true` or `1`).
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// `dryRun=All`: the request is answered as if done but nothing is stored.
    pub fn dry_run(&self) -> bool {
        self.pairs.iter().any(|(n, v)| n == "dryRun" && v == "All")
    }
}

/// Percent-decoding as for `application/x-www-form-urlencoded` (`+` is a space).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(value);
                    i += 2;
                } else {
                    out.push(byte);
                }
            }
            _ => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn decodes_selectors_and_flags() {
        let query = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier%21%3Dfront&watch=1&dryRun=All&x",
        ));
        assert_eq!(query.get("labelSelector"), Some("app=web,tier!=front"));
        assert!(query.flag("watch"));
        assert!(query.dry_run());
        assert_eq!(query.get("x"), Some(""));
        assert_eq!(query.get("missing"), None);
        let command = Query::parse(Some("command=sh&command=-c&command=echo+hi"));
        assert_eq!(
            command.all("command").collect::<Vec<_>>(),
            ["sh", "-c", "echo hi"]
        );
    }

    #[test]
    fn keeps_a_stray_percent() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("a+b%2"), "a b%2");
    }
}
