//! Row caps as a policy outcome: a `permit` annotated `@max_rows("N")` permits a statement
//! only as long as it changes at most N rows. No static reading of a statement can tell how
//! many rows it will touch (`WHERE id = id` matches every row), so the cap is enforced where
//! the rows are counted: the adapter runs the statement, and when the server reports more
//! rows than the cap, rolls it back and refuses it.
//!
//! A request permitted by several policies gets the largest of their caps, and none at all
//! if any of them has none: each permit grants what it grants, and the widest one applies.

use cedar_policy::{Effect, PolicySet};
use std::collections::HashMap;

/// The largest cap a policy may name: beyond it, a cap means nothing.
const MAX_CAP: u64 = 1_000_000_000_000;

/// Read the `@max_rows` annotation of every policy, keyed by policy id. Every problem in
/// every policy is reported, as `policy id: reason`.
pub(crate) fn row_caps(policies: &PolicySet) -> Result<HashMap<String, u64>, Vec<String>> {
    let mut caps = HashMap::new();
    let mut problems = Vec::new();
    for policy in policies.policies() {
        let Some(value) = policy.annotation("max_rows") else {
            continue;
        };
        let id = policy.id().to_string();
        if policy.effect() == Effect::Forbid {
            problems.push(format!(
                "{id}: `@max_rows` belongs on a `permit`; it limits what a permit grants"
            ));
            continue;
        }
        match value.trim().parse::<u64>() {
            Ok(cap) if (1..=MAX_CAP).contains(&cap) => {
                caps.insert(id, cap);
            }
            _ => problems.push(format!(
                "{id}: `@max_rows(\"{value}\")` must be a whole number of rows from 1 to {MAX_CAP}, e.g. @max_rows(\"100\")"
            )),
        }
    }
    if problems.is_empty() {
        Ok(caps)
    } else {
        Err(problems)
    }
}

/// The cap of a request permitted by `permitting` policies: the largest of their caps, or
/// none when one of them has none.
pub(crate) fn cap_of(caps: &HashMap<String, u64>, permitting: &[String]) -> Option<u64> {
    let mut widest: Option<u64> = None;
    for id in permitting {
        let cap = caps.get(id)?;
        widest = Some(widest.map_or(*cap, |w| w.max(*cap)));
    }
    widest
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn caps() -> HashMap<String, u64> {
        HashMap::from([("a".to_owned(), 10), ("b".to_owned(), 100)])
    }

    #[test]
    fn the_widest_permit_applies() {
        assert_eq!(cap_of(&caps(), &["a".into()]), Some(10));
        assert_eq!(cap_of(&caps(), &["a".into(), "b".into()]), Some(100));
        assert_eq!(cap_of(&caps(), &["a".into(), "uncapped".into()]), None);
        assert_eq!(cap_of(&caps(), &[]), None);
    }

    #[test]
    fn annotations_are_checked_at_load() {
        let policies: PolicySet = r#"
            @id("ok") @max_rows("5") permit (principal, action, resource);
            @id("zero") @max_rows("0") permit (principal, action, resource);
            @id("words") @max_rows("ten") permit (principal, action, resource);
            @id("forbid") @max_rows("5") forbid (principal, action, resource);
        "#
        .parse()
        .unwrap();
        let problems = row_caps(&policies).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains(r#"@max_rows("0")"#)));
        assert!(problems.iter().any(|p| p.contains(r#"@max_rows("ten")"#)));
        assert!(problems.iter().any(|p| p.contains("belongs on a `permit`")));
    }
}
