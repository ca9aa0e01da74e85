//! Operator-defined detectors: a name, a regex and an optional check (Luhn, mod-97), compiled
//! from [`CustomDetectorConfig`] with errors that name the detector and the problem.

use crate::MaskError;
use crate::config::{CustomDetectorConfig, Validator};
use crate::detectors::{Find, builtin_named, luhn_valid, mod97_valid};
use crate::scan::{ActiveDetector, Hits};
use regex::Regex;

const MAX_NAME_LENGTH: usize = 32;

struct CustomFinder {
    regex: Regex,
    validator: Validator,
}

impl Find for CustomFinder {
    fn find(&self, text: &str, hits: &mut Hits<'_>) {
        for found in self.regex.find_iter(text) {
            let accepted = match self.validator {
                Validator::Luhn => luhn_valid(found.as_str()),
                Validator::Mod97 => mod97_valid(found.as_str()),
                Validator::Unchecked => true,
            };
            if accepted {
                hits.add(found.start(), found.end());
            }
        }
    }
}

/// Compiles one custom detector; `taken` holds the names of the custom detectors before it.
pub(crate) fn compile(
    config: &CustomDetectorConfig,
    taken: &[&str],
) -> Result<ActiveDetector, MaskError> {
    check_name(&config.name, taken)?;
    let regex = Regex::new(&config.pattern).map_err(|error| MaskError::InvalidPattern {
        name: config.name.clone(),
        reason: error.to_string(),
    })?;
    Ok(ActiveDetector {
        name: config.name.clone(),
        strategy: config.strategy,
        trigger: None,
        finder: Box::new(CustomFinder {
            regex,
            validator: config.validator,
        }),
    })
}

fn check_name(name: &str, taken: &[&str]) -> Result<(), MaskError> {
    let refuse = |reason| {
        Err(MaskError::InvalidDetectorName {
            name: name.to_owned(),
            reason,
        })
    };
    let mut chars = name.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
        return refuse("it does not start with a lowercase letter");
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return refuse("it has characters other than lowercase letters, digits and `_`");
    }
    if name.len() > MAX_NAME_LENGTH {
        return refuse("it is longer than 32 characters");
    }
    if name == "all" || builtin_named(name).is_some() {
        return refuse("`all` and the built-in detector names are reserved");
    }
    if taken.contains(&name) {
        return refuse("another custom detector has that name");
    }
    Ok(())
}
