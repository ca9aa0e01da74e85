//! Masking of JSON as it streams (a Kubernetes or HTTP API response, a watch), with memory
//! bounded by the nesting depth and the longest value held, never by the document's size: a
//! list of 10,000 objects is never held whole. No protocol knowledge: the caller says which
//! paths hold secrets. The crate documentation (`# JSON streams`) describes the pattern syntax,
//! what is replaced, and the limits.
//!
//! A pushdown reader (`stream`) takes bytes one at a time (runs of plain string bytes at
//! once), so chunks may end anywhere; strings (`string`) and numbers (`number`) are
//! scanned incrementally too. The path is kept only as the rules' positions in it (`path`),
//! never as keys.

mod number;
mod options;
mod path;
mod pattern;
mod rules;
mod stream;
mod string;

pub use options::{JsonMode, JsonStreamOptions};
pub use rules::{JsonMaskRules, JsonReplacement};
pub use stream::JsonStreamMasker;
