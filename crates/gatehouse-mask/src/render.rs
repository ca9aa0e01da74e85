//! Writing the replacement for a sensitive span under a strategy, in two sizes: the natural
//! form, and a form no longer than the span itself for values that must fit a column's length
//! limit.

use crate::Strategy;
use crate::hash_key::KeyedHasher;

/// Hex digits of the MAC shown in a natural `hash` token (48 bits).
const HASH_TOKEN_HEX: usize = 12;
/// Label of `hash` tokens made by column rules, which have no detector name.
const COLUMN_HASH_LABEL: &str = "masked";

/// How long a replacement may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    Natural,
    /// No more characters than the span it replaces.
    NoLonger,
}

/// The text being replaced: a `str`, or bytes that are not UTF-8 (whole-column rules only).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Span<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl Span<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Span::Text(text) => text.as_bytes(),
            Span::Bytes(bytes) => bytes,
        }
    }

    /// Characters, or bytes for non-UTF-8 input (one character each in single-byte encodings).
    fn length(&self) -> usize {
        match self {
            Span::Text(text) => text.chars().count(),
            Span::Bytes(bytes) => bytes.len(),
        }
    }
}

/// Appends the replacement of `span` to `out`. `label` is the detector name, `None` for a
/// column rule. [`Strategy::Null`] appends nothing: it replaces the whole value, not a span.
pub(crate) fn push_replacement(
    out: &mut String,
    hasher: &KeyedHasher,
    strategy: Strategy,
    label: Option<&str>,
    span: Span<'_>,
    fit: Fit,
) {
    match strategy {
        Strategy::Redact => {
            let natural_length = label.map_or(10, |label| 11 + label.chars().count());
            if fit == Fit::Natural || natural_length <= span.length() {
                out.push_str("[REDACTED");
                if let Some(label) = label {
                    out.push(':');
                    out.push_str(label);
                }
                out.push(']');
            } else {
                out.extend(std::iter::repeat_n('*', span.length()));
            }
        }
        Strategy::Hash => {
            let digest = hasher.hex_digest(span.bytes());
            let label = label.unwrap_or(COLUMN_HASH_LABEL);
            let natural_length = label.chars().count() + 1 + HASH_TOKEN_HEX;
            if fit == Fit::Natural || natural_length <= span.length() {
                out.push_str(label);
                out.push(':');
                out.push_str(digest.get(..HASH_TOKEN_HEX).unwrap_or(&digest));
            } else {
                out.push_str(digest.get(..span.length()).unwrap_or(&digest));
            }
        }
        Strategy::Partial { keep_last } => push_partial(out, span, keep_last),
        Strategy::Null => {}
    }
}

/// Letters and digits become `*` except the last `keep_last` of them (never more than half);
/// everything else stays. Bytes that are not UTF-8 all become `*`.
fn push_partial(out: &mut String, span: Span<'_>, keep_last: usize) {
    let text = match span {
        Span::Text(text) => text,
        Span::Bytes(bytes) => {
            out.extend(std::iter::repeat_n('*', bytes.len()));
            return;
        }
    };
    let maskable = text.chars().filter(|c| c.is_alphanumeric()).count();
    let hidden = maskable - keep_last.min(maskable / 2);
    let mut seen = 0usize;
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.push(if seen < hidden { '*' } else { c });
            seen += 1;
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HashKey;

    fn render(strategy: Strategy, label: Option<&str>, span: &str, fit: Fit) -> String {
        let mut out = String::new();
        let Ok(hasher) = KeyedHasher::new(&HashKey::new([1; 32])) else {
            return out;
        };
        push_replacement(&mut out, &hasher, strategy, label, Span::Text(span), fit);
        out
    }

    #[test]
    fn natural_forms() {
        let redact = Strategy::Redact;
        assert_eq!(
            render(redact, Some("email"), "a@b.co", Fit::Natural),
            "[REDACTED:email]"
        );
        assert_eq!(render(redact, None, "x", Fit::Natural), "[REDACTED]");
        let hashed = render(Strategy::Hash, Some("email"), "a@b.co", Fit::Natural);
        assert!(
            hashed.starts_with("email:") && hashed.len() == 18,
            "{hashed}"
        );
        let card = Strategy::Partial { keep_last: 4 };
        assert_eq!(
            render(card, None, "4111-1111-1111-1111", Fit::Natural),
            "****-****-****-1111"
        );
        assert_eq!(render(card, None, "123456", Fit::Natural), "***456");
        assert_eq!(render(card, None, "ab", Fit::Natural), "*b");
    }

    #[test]
    fn fitted_forms_are_no_longer() {
        assert_eq!(
            render(Strategy::Redact, Some("email"), "a@b.co", Fit::NoLonger),
            "******"
        );
        let hashed = render(Strategy::Hash, Some("email"), "a@b.co", Fit::NoLonger);
        assert_eq!(hashed.len(), 6);
        assert!(hashed.bytes().all(|b| b.is_ascii_hexdigit()));
        let roomy = "someone@example.com";
        assert_eq!(
            render(Strategy::Redact, Some("email"), roomy, Fit::NoLonger),
            "[REDACTED:email]"
        );
    }
}
