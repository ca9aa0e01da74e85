//! The path pattern syntax of JSON rules (`items[*].data.*`, `**.data.*`,
//! `metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]`), parsed into
//! segments that the path stack matches one object key or array element at a time.

use super::string::{StrByte, StrScanner};

/// One step of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// The object member with exactly this key (after JSON unescaping; case matters).
    Key(String),
    /// Any one object member.
    AnyKey,
    /// The array element at this position (from 0).
    Index(u64),
    /// Any one array element.
    AnyIndex,
    /// Any number of steps, none included.
    AnyDepth,
}

/// One step of a document's path: into an object member or an array element.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step<'a> {
    Key(&'a str),
    Index(u64),
}

impl Segment {
    /// Whether this segment takes `step` ([`Segment::AnyDepth`] is the path stack's business).
    pub(super) fn takes(&self, step: Step<'_>) -> bool {
        match (self, step) {
            (Segment::Key(key), Step::Key(name)) => key == name,
            (Segment::Index(index), Step::Index(at)) => *index == at,
            (Segment::AnyKey, Step::Key(_)) | (Segment::AnyIndex, Step::Index(_)) => true,
            _ => false,
        }
    }
}

/// Parses a pattern; the error says what is wrong with it.
pub(super) fn parse(pattern: &str) -> Result<Vec<Segment>, &'static str> {
    let bytes = pattern.as_bytes();
    if bytes.is_empty() {
        return Err("it is empty");
    }
    let mut segments: Vec<Segment> = Vec::new();
    let mut at = 0;
    loop {
        let (segment, end) = match bytes.get(at) {
            Some(b'[') => bracketed(pattern, at + 1)?,
            Some(_) => dotted(pattern, at)?,
            None => return Err("it ends with `.`"),
        };
        // `**.**` matches what `**` does.
        if !(segment == Segment::AnyDepth && segments.last() == Some(&Segment::AnyDepth)) {
            segments.push(segment);
        }
        at = end;
        match bytes.get(at) {
            None => return Ok(segments),
            Some(b'.') if bytes.get(at + 1) == Some(&b'[') => {
                return Err("`.` must be followed by a key, `*` or `**`, not `[`");
            }
            Some(b'.') => at += 1,
            Some(b'[') => {}
            Some(_) => return Err("a quoted key or `[…]` must be followed by `.`, `[` or the end"),
        }
    }
}

/// A segment written after `.` (or first): `*`, `**` or a bare key, up to the next `.` or `[`.
fn dotted(pattern: &str, at: usize) -> Result<(Segment, usize), &'static str> {
    let rest = pattern.get(at..).unwrap_or_default();
    let length = rest.find(['.', '[']).unwrap_or(rest.len());
    let word = rest.get(..length).unwrap_or_default();
    let segment = match word {
        "" => return Err("an empty key; write an empty key as `[\"\"]`"),
        "*" => Segment::AnyKey,
        "**" => Segment::AnyDepth,
        _ if word.contains('*') => {
            return Err("`*` and `**` must be whole segments (there are no partial wildcards)");
        }
        _ if word.contains(|c: char| {
            matches!(c, ']' | '"' | '\\') || c.is_whitespace() || c.is_control()
        }) =>
        {
            return Err(
                "a key with `.`, `[`, `]`, `\"`, `\\`, `*` or spaces must be quoted: `[\"…\"]`",
            );
        }
        _ => Segment::Key(word.to_owned()),
    };
    Ok((segment, at + length))
}

/// A segment written in brackets, `at` just after the `[`: `*`, an index or a quoted key.
fn bracketed(pattern: &str, at: usize) -> Result<(Segment, usize), &'static str> {
    let rest = pattern.get(at..).unwrap_or_default();
    let (segment, length) = if let Some(quoted) = rest.strip_prefix('"') {
        let (key, length) = quoted_key(quoted.as_bytes())?;
        (Segment::Key(key), length + 1)
    } else {
        let length = rest.find(']').ok_or("a `[` without its `]`")?;
        let inside = rest.get(..length).unwrap_or_default();
        let segment = match inside {
            "*" => Segment::AnyIndex,
            _ if !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_digit()) => {
                Segment::Index(inside.parse().map_err(|_| "an array index too large")?)
            }
            _ => return Err("`[…]` must hold `*`, an array index or a quoted key"),
        };
        (segment, length)
    };
    match rest.as_bytes().get(length) {
        Some(b']') => Ok((segment, at + length + 1)),
        _ => Err("a quoted key must be followed by `]`"),
    }
}

/// The key written as a JSON string in `body` (after its opening quote) and the bytes it took,
/// closing quote included.
fn quoted_key(body: &[u8]) -> Result<(String, usize), &'static str> {
    let mut scanner = StrScanner::default();
    let mut key = Vec::new();
    for (index, &byte) in body.iter().enumerate() {
        match scanner
            .byte(byte)
            .map_err(|_| "a quoted key must be a valid JSON string")?
        {
            StrByte::Content => key.push(byte),
            StrByte::Escape => {}
            StrByte::Decoded(c) => key.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            StrByte::End => {
                let key = String::from_utf8(key).map_err(|_| "a quoted key is not UTF-8")?;
                return Ok((key, index + 1));
            }
        }
    }
    Err("a quoted key without its closing `\"`")
}

#[cfg(test)]
mod tests {
    use super::Segment::{AnyDepth, AnyIndex, AnyKey, Index, Key};
    use super::*;

    fn key(name: &str) -> Segment {
        Key(name.to_owned())
    }

    #[test]
    fn the_forms() {
        assert_eq!(parse("status.token"), Ok(vec![key("status"), key("token")]));
        assert_eq!(
            parse("items[*].data.*"),
            Ok(vec![key("items"), AnyIndex, key("data"), AnyKey])
        );
        assert_eq!(parse("**.data.*"), Ok(vec![AnyDepth, key("data"), AnyKey]));
        assert_eq!(parse("**.**.a.**"), Ok(vec![AnyDepth, key("a"), AnyDepth]));
        assert_eq!(parse("[3][*]"), Ok(vec![Index(3), AnyIndex]));
        assert_eq!(
            parse(r#"metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]"#),
            Ok(vec![
                key("metadata"),
                key("annotations"),
                key("kubectl.kubernetes.io/last-applied-configuration")
            ])
        );
        assert_eq!(
            parse(r#"["a\"b"]["*"][""].x/y"#),
            Ok(vec![key("a\"b"), key("*"), key(""), key("x/y")])
        );
        assert_eq!(parse(r#"["\u00e9"].é"#), Ok(vec![key("é"), key("é")]));
    }

    #[test]
    fn mistakes_say_what_is_wrong() {
        for bad in [
            "",
            "a.",
            ".a",
            "a..b",
            "a.[0]",
            "a*",
            "***",
            "a b",
            "a]",
            "[",
            "[x]",
            "[]",
            "[-1]",
            "[99999999999999999999]",
            r#"["a"x]"#,
            r#"["a]"#,
            r#"["\q"]"#,
            "[0]x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn segments_take_steps() {
        assert!(key("a").takes(Step::Key("a")));
        assert!(!key("a").takes(Step::Key("A")));
        assert!(AnyKey.takes(Step::Key("x")) && !AnyKey.takes(Step::Index(0)));
        assert!(AnyIndex.takes(Step::Index(9)) && !AnyIndex.takes(Step::Key("0")));
        assert!(Index(2).takes(Step::Index(2)) && !Index(2).takes(Step::Index(3)));
    }
}
