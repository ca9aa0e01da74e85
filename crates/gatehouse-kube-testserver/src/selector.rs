//! Label and field selectors (`labelSelector`, `fieldSelector`): kubectl narrows lists and
//! watches with them, e.g. `delete --wait` watches `metadata.name=web` and `describe` lists the
//! events whose `involvedObject.uid` is the described object's.

use serde_json::Value;

/// One requirement of a selector.
#[derive(Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

/// A parsed selector; the empty selector matches everything.
#[derive(Debug, Default, PartialEq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let requirements = split_top_level(text)
            .into_iter()
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(requirement)
            .collect::<Result<_, _>>()?;
        Ok(Self { requirements })
    }

    /// Whether an object's labels satisfy this label selector.
    pub fn matches_labels(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.matches(|key| {
            labels
                .and_then(|l| l.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
    }

    /// Whether an object's fields (dotted paths such as `metadata.name`) satisfy this field
    /// selector.
    pub fn matches_fields(&self, object: &Value) -> bool {
        self.matches(|path| {
            let pointer = format!("/{}", path.replace('.', "/"));
            object.pointer(&pointer).map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
        })
    }

    fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                Requirement::Equals(key, value) => lookup(key).as_deref() == Some(value),
                Requirement::NotEquals(key, value) => lookup(key).as_deref() != Some(value),
                Requirement::In(key, values) => lookup(key).is_some_and(|v| values.contains(&v)),
                Requirement::NotIn(key, values) => {
                    !lookup(key).is_some_and(|v| values.contains(&v))
                }
                Requirement::Exists(key) => lookup(key).is_some(),
                Requirement::Absent(key) => lookup(key).is_none(),
            })
    }
}

/// Commas separate requirements except inside the parentheses of `in (a,b)`.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, ch) in text.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.extend(text.get(start..at));
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.extend(text.get(start..));
    parts
}

fn requirement(part: &str) -> Result<Requirement, String> {
    if let Some((key, value)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(
            key.trim().into(),
            value.trim().into(),
        ));
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        return Ok(Requirement::Equals(key.trim().into(), value.trim().into()));
    }
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::Absent(key.trim().into()));
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => Ok(Requirement::Exists((*key).into())),
        [key, rest] => {
            let rest = rest.trim();
            let (negated, list) = if let Some(list) = rest.strip_prefix("notin") {
                (true, list)
            } else if let Some(list) = rest.strip_prefix("in") {
                (false, list)
            } else {
                return Err(format!("unable to parse requirement `{part}`"));
            };
            let values = list
                .trim()
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| format!("unable to parse requirement `{part}`"))?
                .split(',')
                .map(|v| v.trim().to_owned())
                .collect();
            let key = (*key).to_owned();
            Ok(if negated {
                Requirement::NotIn(key, values)
            } else {
                Requirement::In(key, values)
            })
        }
        _ => Err(format!("unable to parse requirement `{part}`")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "web-0", "labels": {"app": "web", "tier": "front"}},
               "status": {"phase": "Running"}})
    }

    #[test]
    fn label_requirements() {
        let matches = |s: &str| Selector::parse(s).unwrap().matches_labels(&pod());
        assert!(matches(""));
        assert!(matches("app=web"));
        assert!(matches("app==web,tier"));
        assert!(!matches("app!=web"));
        assert!(matches("tier in (back, front)"));
        assert!(!matches("tier notin (back,front)"));
        assert!(matches("!missing"));
        assert!(!matches("missing"));
    }

    #[test]
    fn field_requirements() {
        let matches = |s: &str| Selector::parse(s).unwrap().matches_fields(&pod());
        assert!(matches("metadata.name=web-0,status.phase=Running"));
        assert!(!matches("metadata.name=web-1"));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(Selector::parse("a b c").is_err());
    }
}
