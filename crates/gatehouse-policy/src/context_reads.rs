//! Which attributes of `context` a policy set can read, found once at load, so that the
//! decision memo (see [`crate::memo`]) keys a verdict only by the context values that can
//! change it: a statement's text must not split the memo when no policy reads it.
//!
//! Each policy is inspected in Cedar's JSON form (EST). There, `context` is the expression
//! `{"Var": "context"}`, and reading one of its attributes is
//! `{".": {"left": {"Var": "context"}, "attr": "NAME"}}` or, for a presence test,
//! `{"has": {"left": {"Var": "context"}, "attr": "NAME"}}` (`"attr": ["NAME", ...]` for
//! `context has NAME.more`). The walk visits every JSON object and array of the policy,
//! whatever its operator, so an operator this code does not know cannot hide a read: every
//! `{"Var": "context"}` that is not the `left` of one of those two shapes means the whole
//! context may be read (`context == {...}`, `context` passed as a value, ...), and so does a
//! policy that cannot be turned into JSON or is not static.

use cedar_policy::Policy;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The context attributes a set of policies can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContextReads {
    /// Any attribute, or the context as a whole.
    All,
    /// Only these attributes, by name.
    Only(BTreeSet<String>),
}

/// The whole context is used, not just named attributes of it.
struct WholeContext;

impl ContextReads {
    /// What a policy set without policies reads.
    pub(crate) fn nothing() -> Self {
        ContextReads::Only(BTreeSet::new())
    }

    /// What one policy can read.
    pub(crate) fn of_policy(policy: &Policy) -> Self {
        if !policy.is_static() {
            return ContextReads::All;
        }
        let Ok(json) = policy.to_json() else {
            return ContextReads::All;
        };
        let mut names = BTreeSet::new();
        match walk(&json, &mut names) {
            Ok(()) => ContextReads::Only(names),
            Err(WholeContext) => ContextReads::All,
        }
    }

    /// Add what `other` reads.
    pub(crate) fn extend(&mut self, other: &ContextReads) {
        match (&mut *self, other) {
            (ContextReads::All, _) => {}
            (_, ContextReads::All) => *self = ContextReads::All,
            (ContextReads::Only(names), ContextReads::Only(more)) => {
                names.extend(more.iter().cloned());
            }
        }
    }

    /// Whether the attribute `name` can be read.
    pub(crate) fn includes(&self, name: &str) -> bool {
        match self {
            ContextReads::All => true,
            ContextReads::Only(names) => names.contains(name),
        }
    }
}

/// Collect into `names` every context attribute read under `value`.
fn walk(value: &Value, names: &mut BTreeSet<String>) -> Result<(), WholeContext> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|item| walk(item, names)),
        Value::Object(map) => {
            if map.get("Var").and_then(Value::as_str) == Some("context") {
                return Err(WholeContext);
            }
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("." | "has", Value::Object(access)) => {
                        if let Some(name) = context_attribute(key == "has", access) {
                            names.insert(name.to_owned());
                            // Nothing else is expected beside `left` and `attr`, but
                            // whatever is there is walked too.
                            for (part, rest) in access {
                                if part != "left" && part != "attr" {
                                    walk(rest, names)?;
                                }
                            }
                        } else {
                            walk(inner, names)?;
                        }
                    }
                    _ => walk(inner, names)?,
                }
            }
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
    }
}

/// The attribute named by `{"left": {"Var": "context"}, "attr": ...}`: a string, or for a
/// presence test also a non-empty list of strings (`context has NAME.more` reads `NAME`).
fn context_attribute(presence: bool, access: &Map<String, Value>) -> Option<&str> {
    let left = access.get("left")?.as_object()?;
    if left.len() != 1 || left.get("Var")?.as_str()? != "context" {
        return None;
    }
    match access.get("attr")? {
        Value::String(name) => Some(name),
        Value::Array(path) if presence && path.iter().all(Value::is_string) => {
            path.first()?.as_str()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::str::FromStr;

    fn reads(text: &str) -> ContextReads {
        let policy = Policy::from_str(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        ContextReads::of_policy(&policy)
    }

    fn only(names: &[&str]) -> ContextReads {
        ContextReads::Only(names.iter().map(|name| (*name).to_owned()).collect())
    }

    #[test]
    fn attribute_reads_and_presence_tests_are_named() {
        assert_eq!(reads("permit (principal, action, resource);"), only(&[]));
        assert_eq!(
            reads(
                r#"permit (principal, action, resource)
                   when { context.hour > 8 && context.tables.contains("t") }
                   unless { context has all_rows && context.all_rows };"#
            ),
            only(&["all_rows", "hour", "tables"])
        );
        assert_eq!(
            reads(
                r#"permit (principal, action, resource) when { context["statement"] like "*x*" };"#
            ),
            only(&["statement"])
        );
        assert_eq!(
            reads("permit (principal, action, resource) when { context has now.more };"),
            only(&["now"])
        );
        assert_eq!(
            reads(
                r#"permit (principal, action, resource)
                   when { context.source_address.isInRange(ip("10.0.0.0/8")) };"#
            ),
            only(&["source_address"])
        );
    }

    #[test]
    fn the_context_as_a_whole_reads_everything() {
        for text in [
            r#"permit (principal, action, resource) when { context == {"hour": 1} };"#,
            "permit (principal, action, resource) when { [context].isEmpty() };",
            "permit (principal, action, resource) when { {c: context}.c.hour == 1 };",
            "permit (principal, action, resource) when { (if true then context else context).hour == 1 };",
            r#"permit (principal, action, resource) when { principal.x.contains(context) };"#,
        ] {
            assert_eq!(reads(text), ContextReads::All, "{text}");
        }
    }

    #[test]
    fn templates_read_everything() {
        let template = cedar_policy::Template::parse(
            Some(cedar_policy::PolicyId::new("policy0")),
            "permit (principal == ?principal, action, resource);",
        )
        .unwrap();
        let mut linked = cedar_policy::PolicySet::new();
        linked.add_template(template).unwrap();
        linked
            .link(
                cedar_policy::PolicyId::new("policy0"),
                cedar_policy::PolicyId::new("linked"),
                [(
                    cedar_policy::SlotId::principal(),
                    cedar_policy::EntityUid::from_str(r#"Gatehouse::Identity::"a""#).unwrap(),
                )]
                .into(),
            )
            .unwrap();
        let policy = linked.policies().next().unwrap();
        assert_eq!(ContextReads::of_policy(policy), ContextReads::All);
    }

    #[test]
    fn unions_widen() {
        let mut all = only(&["hour"]);
        all.extend(&only(&["now"]));
        assert_eq!(all, only(&["hour", "now"]));
        assert!(all.includes("now") && !all.includes("statement"));
        all.extend(&ContextReads::All);
        assert_eq!(all, ContextReads::All);
        all.extend(&only(&[]));
        assert!(all.includes("statement"));
    }
}
