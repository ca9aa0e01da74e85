//! The claim rules of a configured identity provider: issuer, audiences, lifetime, which claim
//! is the subject and which holds groups, and conditions every accepted token must meet.

use crate::error::IdentityError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Longest subject or group name accepted from a token.
const MAX_NAME: usize = 256;
/// Most groups taken from a token.
const MAX_GROUPS: usize = 256;

/// What a provider's tokens must satisfy.
#[derive(Debug, Clone)]
pub struct WorkloadRules {
    /// `iss` must equal this exactly.
    pub issuer: String,
    /// `aud` must contain at least one of these.
    pub audiences: Vec<String>,
    /// The claim naming the subject (`sub` by default).
    pub subject_claim: String,
    /// The claim holding groups (a string or a list of strings), if any.
    pub groups_claim: Option<String>,
    /// Claim → required value (string claims must equal it; list claims must contain it).
    pub conditions: BTreeMap<String, String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: i64,
    /// Extra groups granted by claim values (e.g. `department = "data"` → `analysts`).
    pub group_rules: Vec<GroupRule>,
}

/// A claim→group mapping: tokens whose `claim` equals `value` (or, for a list claim, contains
/// it) are in `group`, besides the groups their groups claim names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRule {
    pub claim: String,
    pub value: String,
    pub group: String,
}

impl GroupRule {
    fn matches(&self, claims: &Map<String, Value>) -> bool {
        claim_has(claims.get(&self.claim), &self.value)
    }
}

/// Whether a claim's value is `expected` (strings, booleans and numbers by their text) or,
/// for a list, contains it.
fn claim_has(value: Option<&Value>, expected: &str) -> bool {
    match value {
        Some(Value::String(found)) => found == expected,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(expected)),
        Some(Value::Bool(b)) => b.to_string() == expected,
        Some(Value::Number(n)) => n.to_string() == expected,
        _ => false,
    }
}

/// A token whose claims passed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub subject: String,
    pub groups: Vec<String>,
    /// The token's `exp` (unix seconds).
    pub expires_at: i64,
}

impl WorkloadRules {
    /// Check verified claims at `now` (unix seconds). Fails closed on anything missing.
    pub fn validate(
        &self,
        claims: &Map<String, Value>,
        now: i64,
    ) -> Result<Validated, IdentityError> {
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(IdentityError::NoIssuer)?;
        if issuer != self.issuer {
            return Err(IdentityError::WrongIssuer {
                expected: self.issuer.clone(),
                found: issuer.to_owned(),
            });
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences
            .iter()
            .any(|a| self.audiences.iter().any(|accepted| accepted == a))
        {
            return Err(IdentityError::WrongAudience {
                expected: format!("{:?}", self.audiences),
                found: format!("{audiences:?}"),
            });
        }
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(IdentityError::NoExpiry)?;
        if expires_at.saturating_add(self.leeway_secs) <= now {
            return Err(IdentityError::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_i64().ok_or(IdentityError::NotYetValid)?;
            if nbf.saturating_sub(self.leeway_secs) > now {
                return Err(IdentityError::NotYetValid);
            }
        }
        for (claim, expected) in &self.conditions {
            let problem = match claims.get(claim) {
                None => Some("is missing".to_owned()),
                found if claim_has(found, expected) => None,
                Some(other) => Some(format!("is {other}")),
            };
            if let Some(problem) = problem {
                return Err(IdentityError::ConditionFailed {
                    claim: claim.clone(),
                    expected: expected.clone(),
                    problem,
                });
            }
        }
        let subject = claims
            .get(&self.subject_claim)
            .and_then(Value::as_str)
            .filter(|s| usable_name(s))
            .ok_or_else(|| IdentityError::NoSubject(self.subject_claim.clone()))?
            .to_owned();
        let mut groups = match &self.groups_claim {
            None => Vec::new(),
            Some(claim) => groups_from(claims.get(claim), claim)?,
        };
        for rule in self.group_rules.iter().filter(|rule| rule.matches(claims)) {
            if !groups.contains(&rule.group) {
                groups.push(rule.group.clone());
            }
        }
        groups.sort();
        Ok(Validated {
            subject,
            groups,
            expires_at,
        })
    }
}

fn usable_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && !name.chars().any(char::is_control)
}

fn groups_from(value: Option<&Value>, claim: &str) -> Result<Vec<String>, IdentityError> {
    let names: Vec<&str> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| IdentityError::BadGroups(claim.to_owned()))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(IdentityError::BadGroups(claim.to_owned())),
    };
    if names.len() > MAX_GROUPS || !names.iter().all(|n| usable_name(n)) {
        return Err(IdentityError::BadGroups(claim.to_owned()));
    }
    let mut groups: Vec<String> = names.into_iter().map(str::to_owned).collect();
    groups.sort();
    groups.dedup();
    Ok(groups)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn rules() -> WorkloadRules {
        WorkloadRules {
            issuer: "https://ci.example".to_owned(),
            audiences: vec!["gatehouse".to_owned()],
            subject_claim: "sub".to_owned(),
            groups_claim: Some("groups".to_owned()),
            conditions: BTreeMap::from([("repository".to_owned(), "acme/api".to_owned())]),
            leeway_secs: 30,
            group_rules: Vec::new(),
        }
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut base = json!({"iss": "https://ci.example", "aud": ["x", "gatehouse"], "exp": 1000,
            "sub": "ci-deploy", "groups": ["deployers"], "repository": "acme/api"});
        if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
            b.extend(e);
        }
        base.as_object().cloned().unwrap()
    }

    #[test]
    fn accepts_and_refuses() {
        let ok = rules().validate(&claims(json!({})), 900).unwrap();
        assert_eq!(ok.subject, "ci-deploy");
        assert_eq!(ok.groups, vec!["deployers"]);
        assert_eq!(
            rules().validate(&claims(json!({})), 1031),
            Err(IdentityError::Expired)
        );
        assert!(rules().validate(&claims(json!({})), 1020).is_ok());
        assert!(matches!(
            rules().validate(&claims(json!({"aud": "other"})), 900),
            Err(IdentityError::WrongAudience { .. })
        ));
        assert!(matches!(
            rules().validate(&claims(json!({"repository": "evil/api"})), 900),
            Err(IdentityError::ConditionFailed { .. })
        ));
        assert_eq!(
            rules().validate(&claims(json!({"nbf": 1000})), 900),
            Err(IdentityError::NotYetValid)
        );
        let mut no_exp = claims(json!({}));
        no_exp.remove("exp");
        assert_eq!(rules().validate(&no_exp, 900), Err(IdentityError::NoExpiry));
    }

    #[test]
    fn group_rules_add_groups_from_claim_values() {
        let mut with_rules = rules();
        with_rules.group_rules = vec![
            GroupRule {
                claim: "environment".to_owned(),
                value: "production".to_owned(),
                group: "deployers-prod".to_owned(),
            },
            GroupRule {
                claim: "teams".to_owned(),
                value: "data".to_owned(),
                group: "analysts".to_owned(),
            },
            GroupRule {
                claim: "environment".to_owned(),
                value: "staging".to_owned(),
                group: "never".to_owned(),
            },
        ];
        let matched = with_rules
            .validate(
                &claims(json!({"environment": "production", "teams": ["web", "data"]})),
                900,
            )
            .unwrap();
        assert_eq!(
            matched.groups,
            vec!["analysts", "deployers", "deployers-prod"]
        );
        // No claim, no group; a rule never removes the groups claim's groups.
        let unmatched = with_rules.validate(&claims(json!({})), 900).unwrap();
        assert_eq!(unmatched.groups, vec!["deployers"]);
    }

    #[test]
    fn a_missing_expiry_is_refused() {
        let mut no_exp = claims(json!({}));
        no_exp.remove("exp");
        assert_eq!(rules().validate(&no_exp, 900), Err(IdentityError::NoExpiry));
    }
}
