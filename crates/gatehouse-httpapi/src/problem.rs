//! What gatehouse answers an HTTP API client it refuses: RFC 9457 problem details
//! (`application/problem+json`), which HTTP clients and API tooling already know how to show,
//! with gatehouse's own members (the action, connection and policy that decided, and how to
//! ask for an approval).

use serde::Serialize;

/// The media type of a problem answer.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Where gatehouse's problem types live: `{PROBLEM_TYPE_BASE}{slug}`.
const PROBLEM_TYPE_BASE: &str = "https://gatehouse.dev/problems/";

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The Cedar action decided (`http:delete`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The gatehouse connection the request was for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The policy that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The approval a held request waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// The command an approver runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approve_with: Option<String>,
}

impl Problem {
    /// A problem of type `about:blank`.
    pub fn new(status: u16, title: &str, detail: &str) -> Problem {
        Problem {
            problem_type: "about:blank".to_owned(),
            title: title.to_owned(),
            status,
            detail: detail.to_owned(),
            action: None,
            connection: None,
            policy: None,
            approval_id: None,
            approve_with: None,
        }
    }

    /// The same problem with type `https://gatehouse.dev/problems/{slug}`.
    pub fn with_type(self, slug: &str) -> Problem {
        Problem {
            problem_type: format!("{PROBLEM_TYPE_BASE}{slug}"),
            ..self
        }
    }

    /// The problem as a JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing strings and numbers cannot fail; an empty object is the fallback.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn absent_members_are_left_out() {
        let problem = Problem::new(403, "Forbidden", "denied by policy").with_type("denied");
        let json: serde_json::Value = serde_json::from_slice(&problem.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "https://gatehouse.dev/problems/denied",
                "title": "Forbidden",
                "status": 403,
                "detail": "denied by policy",
            })
        );
    }
}
