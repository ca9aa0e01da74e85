//! Who is asking: the authenticated principal every decision and audit event names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a principal is a person or a program; policies may treat them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityKind {
    Human,
    Machine,
}

impl IdentityKind {
    /// The lowercase name used in config, policies and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Human => "human",
            IdentityKind::Machine => "machine",
        }
    }
}

impl fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for IdentityKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(IdentityKind::Human),
            "machine" => Ok(IdentityKind::Machine),
            other => Err(format!(
                "unknown identity kind `{other}`: use `human` or `machine`"
            )),
        }
    }
}

/// An authenticated principal: the result of step 1 (authenticate) of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Stable subject name, e.g. `ana` or `ci-deploy`.
    pub subject: String,
    pub kind: IdentityKind,
    /// Groups the subject is a member of; policies grant to groups.
    pub groups: Vec<String>,
    /// Delegation chain when a program acts for someone else (outermost first).
    pub acting_for: Vec<String>,
}

impl Identity {
    /// An identity with no delegation chain.
    pub fn new(subject: impl Into<String>, kind: IdentityKind, groups: Vec<String>) -> Self {
        Identity {
            subject: subject.into(),
            kind,
            groups,
            acting_for: Vec::new(),
        }
    }
}
