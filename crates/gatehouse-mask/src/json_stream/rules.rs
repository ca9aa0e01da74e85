//! Which JSON values are replaced and by what: path patterns paired with replacements, compiled
//! once and shared by every stream masked with them.

use super::pattern::{self, Segment};
use super::string::push_json_string;
use crate::{MaskError, Masker, Strategy};
use base64::Engine;

/// What a value matched by a rule becomes (always a JSON string, or `null`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonReplacement {
    /// This text, as a JSON string.
    Text(String),
    /// The standard base64 (padded) of this text, as a JSON string: Kubernetes Secret `data`
    /// stays valid base64 and decodes to the text.
    Base64Of(String),
    /// A strategy applied to the value's text (a string's decoded content, a number as
    /// written, `true`/`false`) as a whole-column rule applies it: `[REDACTED]`,
    /// `masked:<12 hex>`, the partly hidden text, or `null`.
    Strategy(Strategy),
}

/// Path rules and whether the content detectors also run, for
/// [`JsonStreamMasker`](crate::JsonStreamMasker). Rules are tried in the order they were added;
/// the first whose pattern matches a value, or an object or array holding it, decides.
#[derive(Debug, Clone, Default)]
pub struct JsonMaskRules {
    rules: Vec<Rule>,
    scan_unmatched: bool,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    /// The pattern as written, which counts are kept by.
    pub(super) label: String,
    pub(super) segments: Vec<Segment>,
    pub(super) replace: Replace,
}

/// A replacement ready to write.
#[derive(Debug, Clone)]
pub(super) enum Replace {
    /// The same JSON text for every value.
    Fixed(Vec<u8>),
    /// Computed from the value under a strategy that reads it.
    FromValue(Strategy),
}

impl JsonMaskRules {
    /// No rules, detectors off: a stream passes through unchanged (but checked).
    pub fn new() -> Self {
        JsonMaskRules::default()
    }

    /// Adds a rule replacing the values `pattern` matches (see the module documentation for
    /// the syntax); a pattern that does not parse is refused with what is wrong with it.
    pub fn rule(mut self, pattern: &str, replacement: JsonReplacement) -> Result<Self, MaskError> {
        let segments = pattern::parse(pattern).map_err(|reason| MaskError::InvalidJsonPattern {
            pattern: pattern.to_owned(),
            reason,
        })?;
        let fixed = |text: &str| {
            let mut json = Vec::new();
            push_json_string(&mut json, text);
            Replace::Fixed(json)
        };
        let replace = match replacement {
            JsonReplacement::Text(text) => fixed(&text),
            JsonReplacement::Base64Of(text) => {
                fixed(&base64::engine::general_purpose::STANDARD.encode(text))
            }
            JsonReplacement::Strategy(Strategy::Null) => Replace::Fixed(b"null".to_vec()),
            JsonReplacement::Strategy(strategy) => Replace::FromValue(strategy),
        };
        self.rules.push(Rule {
            label: pattern.to_owned(),
            segments,
            replace,
        });
        Ok(self)
    }

    /// Whether the masker's content detectors also scan every string and number no rule
    /// matches (default: no).
    pub fn scan_unmatched(mut self, scan: bool) -> Self {
        self.scan_unmatched = scan;
        self
    }

    pub(super) fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub(super) fn scans_unmatched(&self) -> bool {
        self.scan_unmatched
    }
}

impl Replace {
    /// Whether writing the replacement needs the value's text, which must then be held.
    /// `redact` does not: its marker is the same for every value.
    pub(super) fn reads_value(&self) -> bool {
        matches!(
            self,
            Replace::FromValue(Strategy::Hash | Strategy::Partial { .. })
        )
    }

    /// Appends the replacement of `value` (empty when not [`Replace::reads_value`]).
    pub(super) fn write(&self, masker: &Masker, value: &str, out: &mut Vec<u8>) {
        match self {
            Replace::Fixed(json) => out.extend_from_slice(json),
            Replace::FromValue(strategy) => {
                push_json_string(out, &masker.replace_whole_text(*strategy, value));
            }
        }
    }
}
