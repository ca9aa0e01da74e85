//! The three outcomes of deciding a request, as the audit log, recordings and reports name
//! them. The pipeline's own `Decision` carries more (the permit that forwarding needs, the
//! denial's message, the approval a hold waits for); this is only which of the three it was.

use serde::{Deserialize, Serialize};

/// Which way a request was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    Allow,
    Deny,
    /// Waiting for an approval before it may run.
    Hold,
}

impl DecisionKind {
    /// The lowercase name used in JSON, the audit log and timelines.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Allow => "allow",
            DecisionKind::Deny => "deny",
            DecisionKind::Hold => "hold",
        }
    }
}
