//! What kube-apiserver reads from a list's query when it attributes the request: `watch`, and
//! a name from `fieldSelector=metadata.name=X`, which makes a list or watch of a collection a
//! request for the one object (so a policy on that object's name applies to it).
//!
//! kube-apiserver takes the name only when its `ListOptions` decode: `limit` and
//! `timeoutSeconds` must be integers and the field selector must parse (escapes `\\`, `\,`,
//! `\=` in values; terms sorted before the first `metadata.name` equality is taken). It also
//! drops the name when the label selector does not parse; this crate does not parse label
//! selectors, so there it keeps the name. The server then refuses the list itself (its
//! handler decodes the same options), so nothing is served under a name it was not asked for.

use crate::query::{first_value, flag};

/// Whether a list is a watch.
pub(crate) fn is_watch(query: &[(String, String)]) -> bool {
    flag(query, "watch")
}

/// The object name a list or watch is narrowed to, as kube-apiserver attributes it.
pub(crate) fn selected_name(query: &[(String, String)]) -> Option<String> {
    for integer in ["limit", "timeoutSeconds"] {
        if first_value(query, integer).is_some_and(|value| value.parse::<i64>().is_err()) {
            return None;
        }
    }
    let selector = first_value(query, "fieldSelector")?;
    let name = exact_match(selector, "metadata.name")?;
    valid_path_segment_name(&name).then_some(name)
}

/// The value a field selector requires `field` to equal, if it parses and requires one.
fn exact_match(selector: &str, field: &str) -> Option<String> {
    let mut terms = split_terms(selector);
    terms.sort_unstable();
    let mut found = None;
    for term in terms.into_iter().filter(|term| !term.is_empty()) {
        let (lhs, equality, rhs) = split_term(term)?;
        let value = unescape_value(rhs)?;
        if found.is_none() && equality && lhs == field {
            found = Some(value);
        }
    }
    found
}

/// Splits on commas that are not escaped with a backslash; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (at, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.extend(selector.get(start..at));
            start = at + 1;
        }
    }
    terms.extend(selector.get(start..));
    terms
}

/// A term's field, whether its operator is an equality (`=`, `==`) rather than `!=`, and its
/// raw value: split at the first operator found, `!=` and `==` before `=`.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    for (at, _) in term.char_indices() {
        let (lhs, remaining) = term.split_at_checked(at)?;
        for (operator, equality) in [("!=", false), ("==", true), ("=", true)] {
            if let Some(rhs) = remaining.strip_prefix(operator) {
                return Some((lhs, equality, rhs));
            }
        }
    }
    None
}

fn unescape_value(raw: &str) -> Option<String> {
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return None;
            }
            value.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' || c == '=' {
            return None;
        } else {
            value.push(c);
        }
    }
    (!escaped).then_some(value)
}

/// kube-apiserver's rule for a name that can stand as a path segment.
fn valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_selector_terms_follow_kube_apiserver() {
        assert_eq!(
            exact_match("metadata.name=a", "metadata.name"),
            Some("a".into())
        );
        assert_eq!(
            exact_match("metadata.name==a", "metadata.name"),
            Some("a".into())
        );
        assert_eq!(exact_match("metadata.name!=a", "metadata.name"), None);
        // Terms are sorted first: the smaller value wins.
        assert_eq!(
            exact_match("metadata.name=b,metadata.name=a", "metadata.name"),
            Some("a".into())
        );
        assert_eq!(
            exact_match(r"metadata.name=a\,b,x=y", "metadata.name"),
            Some("a,b".into())
        );
        assert_eq!(exact_match(r"metadata.name=a\q", "metadata.name"), None);
        assert_eq!(exact_match(r"metadata.name=a\", "metadata.name"), None);
        assert_eq!(exact_match("metadata.name=a,foo", "metadata.name"), None);
        assert_eq!(exact_match("metadata.name=a=b", "metadata.name"), None);
        assert_eq!(exact_match("", "metadata.name"), None);
        assert_eq!(
            exact_match(",metadata.name=a,", "metadata.name"),
            Some("a".into())
        );
    }

    #[test]
    fn a_name_that_cannot_be_a_path_segment_is_not_taken() {
        let query = |selector: &str| vec![("fieldSelector".to_owned(), selector.to_owned())];
        assert_eq!(selected_name(&query("metadata.name=..")), None);
        assert_eq!(selected_name(&query("metadata.name=a/b")), None);
        assert_eq!(selected_name(&query("metadata.name=a%b")), None);
        assert_eq!(selected_name(&query("metadata.name=ok")), Some("ok".into()));
    }

    #[test]
    fn list_options_that_do_not_decode_drop_the_name() {
        let mut query = vec![("fieldSelector".to_owned(), "metadata.name=a".to_owned())];
        query.push(("limit".to_owned(), "ten".to_owned()));
        assert_eq!(selected_name(&query), None);
        query.pop();
        query.push(("timeoutSeconds".to_owned(), "+30".to_owned()));
        assert_eq!(selected_name(&query), Some("a".into()));
    }
}
