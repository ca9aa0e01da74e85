//! The one error type of the crate: everything that can be wrong with a masking configuration,
//! a hash key or a JSON path pattern, each message saying what to change, and why a JSON stream
//! being masked had to be ended.

/// Why a [`MaskConfig`](crate::MaskConfig), [`HashKey`](crate::HashKey) or JSON path pattern was
/// refused, or why a [`JsonStreamMasker`](crate::JsonStreamMasker) stopped.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
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
    #[error("JSON path pattern `{pattern}`: {reason}")]
    InvalidJsonPattern {
        pattern: String,
        reason: &'static str,
    },
    #[error("malformed JSON at byte {offset}: {reason}; the stream cannot be masked")]
    MalformedJson { offset: u64, reason: &'static str },
    #[error(
        "JSON value at byte {offset} is longer than the {limit} bytes a value may have to be \
         masked; the stream cannot be masked"
    )]
    JsonValueTooLong { offset: u64, limit: usize },
    #[error(
        "JSON at byte {offset} nests deeper than {limit} objects and arrays; the stream cannot be \
         masked"
    )]
    JsonTooDeep { offset: u64, limit: usize },
    #[error("a line of the text is not UTF-8, so it cannot be masked")]
    LineNotText,
    #[error("a line of the text is longer than {0} bytes, more than gatehouse holds to mask it")]
    LineTooLong(usize),
}
