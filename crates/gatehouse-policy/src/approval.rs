//! Approval as a policy outcome: a `permit` annotated `@approval("GROUP")` permits only once
//! reviewers of that group approve the exact request, so when such policies are all that
//! permit a request, the verdict is *hold* rather than allow.
//!
//! The annotations are read once at load and checked there, so a typo in a count or a
//! duration refuses the policy set instead of quietly allowing or holding forever:
//!
//! - `@approval("GROUP")`: who must approve (a group name);
//! - `@approvals("N")`: how many distinct reviewers (default 1, at most 10);
//! - `@approval_ttl("15m")`: how long an approval may wait to be used once granted (`s`, `m`,
//!   `h` or `d`; default 15 minutes, at most 24 hours).

use cedar_policy::{Effect, PolicySet};
use serde::Serialize;
use std::collections::HashMap;

/// Default time to use an approval once granted.
const DEFAULT_TTL_SECONDS: u64 = 15 * 60;
/// Longest an approval may stay usable.
const MAX_TTL_SECONDS: u64 = 24 * 60 * 60;
/// Most reviewers a policy may ask for.
const MAX_REQUIRED: u32 = 10;

/// What a permitting policy asks before its permit counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRequirement {
    /// The policy carrying the annotations.
    pub policy: String,
    /// Reviewers must be members of this group when they decide.
    pub group: String,
    /// Distinct reviewers needed.
    pub required: u32,
    /// How long a granted approval stays usable, in seconds.
    pub ttl_seconds: u64,
}

/// Read the approval annotations of every policy, keyed by policy id. Every problem in every
/// policy is reported, as `policy id: reason`.
pub(crate) fn requirements(
    policies: &PolicySet,
) -> Result<HashMap<String, ApprovalRequirement>, Vec<String>> {
    let mut found = HashMap::new();
    let mut problems = Vec::new();
    for policy in policies.policies() {
        let id = policy.id().to_string();
        let group = policy.annotation("approval");
        let count = policy.annotation("approvals");
        let ttl = policy.annotation("approval_ttl");
        let Some(group) = group else {
            if count.is_some() || ttl.is_some() {
                problems.push(format!(
                    "{id}: `@approvals`/`@approval_ttl` need `@approval(\"GROUP\")` naming who approves"
                ));
            }
            continue;
        };
        if policy.effect() == Effect::Forbid {
            problems.push(format!(
                "{id}: `@approval` belongs on a `permit`; a `forbid` always wins and cannot be approved away"
            ));
            continue;
        }
        if group.trim().is_empty() {
            problems.push(format!(
                "{id}: `@approval` needs a group name, e.g. @approval(\"admins\")"
            ));
            continue;
        }
        let required = match count.map(parse_count).transpose() {
            Ok(required) => required.unwrap_or(1),
            Err(problem) => {
                problems.push(format!("{id}: {problem}"));
                continue;
            }
        };
        let ttl_seconds = match ttl.map(parse_duration).transpose() {
            Ok(ttl) => ttl.unwrap_or(DEFAULT_TTL_SECONDS),
            Err(problem) => {
                problems.push(format!("{id}: {problem}"));
                continue;
            }
        };
        found.insert(
            id.clone(),
            ApprovalRequirement {
                policy: id,
                group: group.to_owned(),
                required,
                ttl_seconds,
            },
        );
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems)
    }
}

fn parse_count(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(count) if (1..=MAX_REQUIRED).contains(&count) => Ok(count),
        _ => Err(format!(
            "`@approvals(\"{text}\")` must be a whole number of reviewers from 1 to {MAX_REQUIRED}"
        )),
    }
}

/// `30s`, `15m`, `2h`, `1d`, within (0, 24h].
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let problem = || {
        format!(
            "`@approval_ttl(\"{text}\")` must be a duration such as \"90s\", \"15m\", \"2h\" or \"1d\", at most 24 hours"
        )
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(problem)?;
    let (digits, unit) = trimmed.split_at(split);
    let amount: u64 = digits.parse().map_err(|_| problem())?;
    let unit_seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(problem()),
    };
    match amount.checked_mul(unit_seconds) {
        Some(seconds) if seconds > 0 && seconds <= MAX_TTL_SECONDS => Ok(seconds),
        _ => Err(problem()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use std::str::FromStr;

    fn read(text: &str) -> Result<HashMap<String, ApprovalRequirement>, Vec<String>> {
        requirements(&PolicySet::from_str(text).unwrap())
    }

    #[test]
    fn annotations_become_requirements_with_defaults() {
        let found = read(
            r#"@approval("admins") permit(principal, action, resource);
               @approval("dba") @approvals("2") @approval_ttl("2h") permit(principal, action, resource);
               permit(principal, action, resource);"#,
        )
        .unwrap();
        let first = found.get("policy0").unwrap();
        assert_eq!(
            (first.group.as_str(), first.required, first.ttl_seconds),
            ("admins", 1, 900)
        );
        let second = found.get("policy1").unwrap();
        assert_eq!(
            (second.group.as_str(), second.required, second.ttl_seconds),
            ("dba", 2, 7200)
        );
        assert!(!found.contains_key("policy2"));
    }

    #[test]
    fn mistakes_refuse_the_load_naming_the_policy() {
        for (text, expected) in [
            (
                r#"@approval("admins") forbid(principal, action, resource);"#,
                "belongs on a `permit`",
            ),
            (
                r#"@approvals("2") permit(principal, action, resource);"#,
                "need `@approval",
            ),
            (
                r#"@approval("") permit(principal, action, resource);"#,
                "needs a group name",
            ),
            (
                r#"@approval("a") @approvals("0") permit(principal, action, resource);"#,
                "from 1 to 10",
            ),
            (
                r#"@approval("a") @approvals("two") permit(principal, action, resource);"#,
                "from 1 to 10",
            ),
            (
                r#"@approval("a") @approval_ttl("15") permit(principal, action, resource);"#,
                "duration",
            ),
            (
                r#"@approval("a") @approval_ttl("2w") permit(principal, action, resource);"#,
                "duration",
            ),
            (
                r#"@approval("a") @approval_ttl("25h") permit(principal, action, resource);"#,
                "at most 24 hours",
            ),
        ] {
            let problems = read(text).expect_err(text);
            assert!(problems[0].starts_with("policy0: "), "{problems:?}");
            assert!(problems[0].contains(expected), "{text}: {problems:?}");
        }
    }
}
