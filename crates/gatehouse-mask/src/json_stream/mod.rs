//! Masking of JSON as it streams (a Kubernetes or HTTP API response, a watch), with memory
//! bounded by the nesting depth and the longest value held, never by the document's size: a
//! list of 10,000 objects is never held whole. No protocol knowledge: the caller says which
//! paths hold secrets.
//!
//! Only the values replaced change. Everything else — key order, whitespace, escapes, number
//! forms — is written through byte for byte as it arrives, so nothing is re-serialised.
//!
//! # Use
//!
//! ```
//! use gatehouse_mask::{HashKey, JsonMaskRules, JsonReplacement, JsonStreamMasker,
//!     JsonStreamOptions, MaskConfig, Masker, Strategy};
//! use std::sync::Arc;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let masker = Arc::new(Masker::new(&MaskConfig::default(), HashKey::new([42; 32]))?);
//! let rules = Arc::new(
//!     JsonMaskRules::new()
//!         .rule("**.data.*", JsonReplacement::Base64Of("gatehouse:masked".into()))?
//!         .rule("status.token", JsonReplacement::Strategy(Strategy::Redact))?
//!         .scan_unmatched(true),
//! );
//! let mut stream = JsonStreamMasker::new(masker, rules, JsonStreamOptions::default());
//! let mut out = stream.push(br#"{"data": {"password": "hun"#)?;
//! out.extend(stream.push(br#"ter2"}, "note": "mail jane@example.com"}"#)?);
//! out.extend(stream.finish()?);
//! assert_eq!(
//!     String::from_utf8(out)?,
//!     r#"{"data": {"password": "Z2F0ZWhvdXNlOm1hc2tlZA=="}, "note": "mail email:44fae1752e7e"}"#,
//! );
//! assert_eq!(stream.counts().path_rules().get("**.data.*"), Some(&1));
//! assert_eq!(stream.counts().detectors().get("email"), Some(&1));
//! # Ok(())
//! # }
//! ```
//!
//! # Path patterns
//!
//! A pattern names values by the object keys and array positions leading to them from the
//! document's root (each line's own root in [`JsonMode::Lines`]):
//!
//! | segment | matches |
//! |---|---|
//! | `name` (first, or after `.`) | the member with key `name`; any characters but `.`, `[`, `]`, `"`, `\`, `*` and spaces |
//! | `["any key"]` | the member with that key, written as a JSON string (escapes allowed), for keys with dots, slashes, spaces, quotes, or empty |
//! | `*` | any one member of an object |
//! | `[*]` | any one element of an array |
//! | `[3]` | the array element at position 3 (from 0) |
//! | `**` | any number of members and elements, none included |
//!
//! For example `items[*].data.*`, `**.data.*`, `stringData.*`, `status.token`, and
//! `metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]`. Keys compare
//! exactly (case matters) with the document's keys after JSON unescaping, so `"\u0064ata"`
//! is `data`. A key repeated in an object is matched every time it occurs.
//!
//! Rules are tried in the order they were added; the first whose pattern matches a value, or
//! an object or array enclosing it, decides its replacement.
//!
//! # What is replaced
//!
//! - A matched string, number, `true` or `false` becomes the rule's [`JsonReplacement`]: a
//!   JSON string (or `null` for [`Strategy::Null`](crate::Strategy::Null)). A matched `null`
//!   stays `null`: it hides nothing.
//! - A matched object or array keeps its keys, its shape and its `null`s; every other scalar
//!   in it, at any depth, is replaced as above. So `data` and `data.*` mask a Secret alike,
//!   and the object still decodes as a Secret.
//! - Keys are never replaced.
//! - With [`JsonMaskRules::scan_unmatched`], every string and number no rule matches goes
//!   through the [`Masker`](crate::Masker)'s content detectors as
//!   [`Masker::mask_value`](crate::Masker::mask_value) does with a column without rules: a
//!   string with a finding becomes the masked string, a number with a finding becomes a
//!   string; a detector with the `null` strategy makes the value `null`.
//!
//! [`JsonStreamMasker::counts`] reports values replaced per rule (by its pattern as written)
//! and per detector, as [`MaskCounts`](crate::MaskCounts).
//!
//! # Limits and errors
//!
//! The input must be JSON as RFC 8259 has it, in UTF-8: strings with only its escapes,
//! surrogate escapes in pairs, no control characters; numbers in its form; nothing but
//! whitespace after the document ([`JsonMode::Document`]) or before the newline ending a line
//! ([`JsonMode::Lines`]). Anything else, including an input that ends inside a document, is a
//! [`MaskError::MalformedJson`](crate::MaskError::MalformedJson) with its byte offset. Nesting
//! deeper than [`JsonStreamOptions::max_depth`] is
//! [`MaskError::JsonTooDeep`](crate::MaskError::JsonTooDeep); a key, or a value that must be
//! held (scanned by the detectors, or replaced by `hash` or `partial`), longer than
//! [`JsonStreamOptions::max_value_bytes`] is
//! [`MaskError::JsonValueTooLong`](crate::MaskError::JsonValueTooLong). An error is final: the
//! caller ends the stream. What was returned before it was masked as the rules say; nothing
//! is ever passed through unmasked.
//!
//! Memory: the path stack (per open object or array, the rules' positions in its path) and
//! the key or value being held. Values written through, and values replaced by a fixed text,
//! are streamed and never held. [`JsonStreamMasker::peak_held_bytes`] reports the high-water
//! mark.

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
