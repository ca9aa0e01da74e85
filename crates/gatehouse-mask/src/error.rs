//! The one error type of the crate: everything that can be wrong with a masking configuration
//! or a hash key, each message saying what to change.

/// Why a [`MaskConfig`](crate::MaskConfig) or [`HashKey`](crate::HashKey) was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MaskError {
    #[error(
        "unknown detector `{name}` in `{field}`; the built-in detectors are: {known} \
         ([[custom]] detectors always run and set their strategy in their own entry)"
    )]
    UnknownDetector {
        name: String,
        field: &'static str,
        known: String,
    },
    #[error("detector `{name}`: invalid pattern: {reason}")]
    InvalidPattern { name: String, reason: String },
    #[error(
        "custom detector name `{name}` is not usable: {reason}; use lowercase letters, digits \
         and `_`, starting with a letter, and a name no built-in detector has"
    )]
    InvalidDetectorName { name: String, reason: &'static str },
    #[error(
        "strategy for custom detector `{name}` belongs in its [[custom]] entry \
         (`strategy = ...`), not in [strategies]"
    )]
    CustomStrategyMisplaced { name: String },
    #[error("column rule {rule}: invalid glob `{glob}`: {reason}")]
    InvalidGlob {
        rule: usize,
        glob: String,
        reason: &'static str,
    },
    #[error("column rule {rule} has neither `name` nor `types`; give at least one of them")]
    EmptyColumnRule { rule: usize },
    #[error("hash key must be exactly 64 hexadecimal characters (32 bytes)")]
    InvalidHashKey,
}
