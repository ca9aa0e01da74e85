//! What `explain` reports: each thing the detectors would mask in a text, where it is, and what
//! it would become, for `gatehouse mask test --text` and for people tuning a configuration.

use crate::Strategy;
use serde::Serialize;

/// One detected span of an explained text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub detector: String,
    /// Byte offsets into the explained text (`start..end`).
    pub start: usize,
    pub end: usize,
    pub strategy: Strategy,
    /// What the span becomes; `None` for [`Strategy::Null`], which turns the whole value into
    /// SQL `NULL`.
    pub replacement: Option<String>,
}
