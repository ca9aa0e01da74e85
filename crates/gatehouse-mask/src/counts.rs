//! How much was masked, for the audit log: numbers of values per detector and per column rule,
//! never the values themselves.

use serde::Serialize;
use std::collections::BTreeMap;

/// Values masked, by detector name and by column rule. A value in which a detector found three
/// things counts once for that detector; a value with an email and a phone number counts once
/// for each. Keys are only allocated the first time they are counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MaskCounts {
    detectors: BTreeMap<String, u64>,
    column_rules: BTreeMap<String, u64>,
}

impl MaskCounts {
    pub fn detectors(&self) -> &BTreeMap<String, u64> {
        &self.detectors
    }

    pub fn column_rules(&self) -> &BTreeMap<String, u64> {
        &self.column_rules
    }

    /// Whether nothing has been masked.
    pub fn is_empty(&self) -> bool {
        self.detectors.is_empty() && self.column_rules.is_empty()
    }

    pub(crate) fn add_detector(&mut self, name: &str) {
        bump(&mut self.detectors, name);
    }

    pub(crate) fn add_column_rule(&mut self, rule: &str) {
        bump(&mut self.column_rules, rule);
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
