//! What to put in place of a sensitive value, and the TOML/JSON shape a strategy is written in.
//!
//! A strategy is written as one of the strings `"redact"`, `"hash"`, `"null"`, or as the
//! one-key table `{ partial = N }` (keep the last `N` letters and digits). The same shape is used
//! when a strategy is serialized (for example in [`Finding`](crate::Finding)).

use serde::{Deserialize, Serialize};

/// How a detected value, or a whole column, is masked.
///
/// See the crate documentation for what each one produces and how long the result can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StrategyRepr", into = "StrategyRepr")]
pub enum Strategy {
    /// Replace with a marker: `[REDACTED:<detector>]`, or `[REDACTED]` for a column rule.
    Redact,
    /// Replace every letter and digit with `*` except the last `keep_last` of them (at most half
    /// of them stay visible); everything else (spaces, `-`, `@`, `.`) is kept in place.
    Partial { keep_last: usize },
    /// Replace with a keyed, deterministic token `<label>:<12 hex digits>` (HMAC-SHA256).
    Hash,
    /// The whole value becomes SQL `NULL` ([`Masked::Null`](crate::Masked::Null)).
    Null,
}

/// The written form: unit variants are plain strings, `partial` is a one-key table.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StrategyRepr {
    Redact,
    Partial(usize),
    Hash,
    Null,
}

impl From<StrategyRepr> for Strategy {
    fn from(repr: StrategyRepr) -> Self {
        match repr {
            StrategyRepr::Redact => Strategy::Redact,
            StrategyRepr::Partial(keep_last) => Strategy::Partial { keep_last },
            StrategyRepr::Hash => Strategy::Hash,
            StrategyRepr::Null => Strategy::Null,
        }
    }
}

impl From<Strategy> for StrategyRepr {
    fn from(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Redact => StrategyRepr::Redact,
            Strategy::Partial { keep_last } => StrategyRepr::Partial(keep_last),
            Strategy::Hash => StrategyRepr::Hash,
            Strategy::Null => StrategyRepr::Null,
        }
    }
}
