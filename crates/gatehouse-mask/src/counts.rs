//! How much was masked, for the audit log: numbers of values per detector, per column rule and
//! per JSON path rule, never the values themselves.

use serde::Serialize;
use std::collections::BTreeMap;

/// Values masked, by detector name, by column rule and by JSON path rule (its pattern as
/// written; left out of the serialized form when empty). A value in which a detector found three
/// things counts once for that detector; a value with an email and a phone number counts once
/// for each. Keys are only allocated the first time they are counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MaskCounts {
    detectors: BTreeMap<String, u64>,
    column_rules: BTreeMap<String, u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    path_rules: BTreeMap<String, u64>,
}

impl MaskCounts {
    pub fn detectors(&self) -> &BTreeMap<String, u64> {
        &self.detectors
    }

    pub fn column_rules(&self) -> &BTreeMap<String, u64> {
        &self.column_rules
    }

    pub fn path_rules(&self) -> &BTreeMap<String, u64> {
        &self.path_rules
    }

    /// Whether nothing has been masked.
    pub fn is_empty(&self) -> bool {
        self.detectors.is_empty() && self.column_rules.is_empty() && self.path_rules.is_empty()
    }

    pub(crate) fn add_detector(&mut self, name: &str) {
        bump(&mut self.detectors, name);
    }

    pub(crate) fn add_column_rule(&mut self, rule: &str) {
        bump(&mut self.column_rules, rule);
    }

    pub(crate) fn add_path_rule(&mut self, pattern: &str) {
        bump(&mut self.path_rules, pattern);
    }
}

fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(count) => *count += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}
