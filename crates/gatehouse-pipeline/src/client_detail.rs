//! The machine-readable part of what a client is told when gatehouse refuses or holds a
//! request, defined once for every protocol and every reader: one `name: value` per line, in
//! the protocol's detail channel (PostgreSQL's `DETAIL` field). Programs (`gatehouse exec`,
//! the MCP server, scripts) read the names they know with [`field`] and ignore other lines,
//! so prose may sit on lines of its own.
//!
//! Names: `action` (the refused or held action), `policy` (the deciding policy, or
//! `default-deny`), `approval_id`, `expires_at` (RFC 3339), `approve_with` (the command a
//! reviewer runs).

use crate::{Denial, Hold, rfc3339};

pub const ACTION: &str = "action";
pub const POLICY: &str = "policy";
pub const APPROVAL_ID: &str = "approval_id";
pub const EXPIRES_AT: &str = "expires_at";
pub const APPROVE_WITH: &str = "approve_with";

/// `fields` as detail lines; a line break inside a value becomes a space, so every value
/// stays on its line.
pub fn render(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{name}: {}", value.replace(['\r', '\n'], " ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of `name` in `detail`, from its first `name: value` line.
pub fn field<'a>(detail: &'a str, name: &str) -> Option<&'a str> {
    detail.lines().find_map(|line| {
        let (key, value) = line.split_once(": ")?;
        (key == name).then(|| value.trim())
    })
}

impl Denial {
    /// The refusal's detail lines: `action`, `policy`.
    pub fn client_detail(&self) -> String {
        render(&[(ACTION, &self.action), (POLICY, &self.policy_label())])
    }
}

impl Hold {
    /// The hold's detail lines: `action`, `policy`, `approval_id`, `expires_at`,
    /// `approve_with`.
    pub fn client_detail(&self) -> String {
        render(&[
            (ACTION, &self.action),
            (POLICY, &self.approval.need.policy),
            (APPROVAL_ID, &self.approval.id),
            (EXPIRES_AT, &rfc3339(self.approval.expires_unix_ms)),
            (APPROVE_WITH, &self.approve_with),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fields_round_trip_and_prose_lines_are_ignored() {
        let detail = format!(
            "gatehouse could not read this statement, so it was not run\n{}",
            render(&[(ACTION, "sql:delete"), (POLICY, "no-deletes\nforbid")])
        );
        assert_eq!(field(&detail, ACTION), Some("sql:delete"));
        assert_eq!(field(&detail, POLICY), Some("no-deletes forbid"));
        assert_eq!(field(&detail, APPROVAL_ID), None);
    }
}
