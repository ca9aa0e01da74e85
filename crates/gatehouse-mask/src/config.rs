//! The masking configuration as written by an operator (a TOML table such as
//! `[connections.<name>.masking]`), deserialized strictly: unknown keys are errors, so a typo
//! cannot silently turn masking off. [`Masker::new`](crate::Masker::new) checks the rest
//! (detector names, patterns, globs) and says what to fix.

use crate::detectors::{BUILTINS, Builtin, builtin_named, builtin_names};
use crate::{MaskError, Strategy};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What to mask on one connection. See the crate documentation for an example.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskConfig {
    /// Built-in detectors to run: `["all"]` (the default) or a list of names. Custom detectors
    /// always run.
    pub detectors: Vec<String>,
    /// Groups whose members see unmasked data. Carried for the caller, which applies it.
    pub exempt_groups: Vec<String>,
    /// Column rules, first match wins.
    pub columns: Vec<ColumnRuleConfig>,
    /// Strategy overrides per built-in detector name.
    pub strategies: BTreeMap<String, Strategy>,
    /// Operator-defined detectors.
    pub custom: Vec<CustomDetectorConfig>,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            detectors: vec!["all".to_owned()],
            exempt_groups: Vec::new(),
            columns: Vec::new(),
            strategies: BTreeMap::new(),
            custom: Vec::new(),
        }
    }
}

/// A rule masking whole columns chosen by name and/or type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRuleConfig {
    /// `column` or `table.column`, each part a case-insensitive glob (`*`, `?`).
    #[serde(default)]
    pub name: Option<String>,
    /// Type names (globs too); the rule then only applies to columns of one of these types.
    #[serde(default)]
    pub types: Vec<String>,
    pub strategy: Strategy,
    /// What masked identities may still do with the column in a statement besides reading
    /// it masked. Empty (the default): nothing — a statement that filters, joins, sorts or
    /// groups on it is refused.
    #[serde(default)]
    pub allow: Vec<AllowedUse>,
}

/// A use of a masked column a rule can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllowedUse {
    /// Compare it for equality with constants, parameters or other columns (`=`, `<>`,
    /// `IN`, `IS NULL`, `USING`) and group on it (`GROUP BY`, `DISTINCT`, `PARTITION BY`):
    /// no more than a `hash` strategy shows, which rows hold equal values.
    Equality,
}

/// An operator-defined content detector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetectorConfig {
    /// Lowercase letters, digits and `_`, starting with a letter, at most 32 characters.
    pub name: String,
    /// A `regex`-crate pattern; the whole match is the finding.
    pub pattern: String,
    #[serde(default)]
    pub validator: Validator,
    #[serde(default = "redact")]
    pub strategy: Strategy,
}

fn redact() -> Strategy {
    Strategy::Redact
}

/// A check a custom detector's match must also pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validator {
    /// Luhn check digit over the match's digits (other characters ignored).
    Luhn,
    /// ISO 7064 mod-97 == 1 after moving the first four characters to the end (the IBAN
    /// check); spaces ignored, any other non-alphanumeric character fails.
    Mod97,
    /// No check: every match counts.
    #[default]
    #[serde(rename = "none")]
    Unchecked,
}

impl MaskConfig {
    /// The built-in detectors `detectors` selects, in priority order.
    pub(crate) fn enabled_builtins(&self) -> Result<Vec<&'static Builtin>, MaskError> {
        let names = &self.detectors;
        if names.iter().any(|name| name == "all") {
            return Ok(BUILTINS.iter().collect());
        }
        for name in names {
            if builtin_named(name).is_none() {
                return Err(MaskError::UnknownDetector {
                    name: name.clone(),
                    field: "detectors",
                    known: builtin_names(),
                });
            }
        }
        Ok(BUILTINS
            .iter()
            .filter(|builtin| names.iter().any(|name| name == builtin.name))
            .collect())
    }

    /// Every key of `strategies` must name a built-in detector.
    pub(crate) fn check_strategy_names(&self) -> Result<(), MaskError> {
        for name in self.strategies.keys() {
            if builtin_named(name).is_some() {
                continue;
            }
            if self.custom.iter().any(|custom| &custom.name == name) {
                return Err(MaskError::CustomStrategyMisplaced { name: name.clone() });
            }
            return Err(MaskError::UnknownDetector {
                name: name.clone(),
                field: "strategies",
                known: builtin_names(),
            });
        }
        Ok(())
    }
}
