//! How a JSON stream is framed and the limits that bound what masking it may hold.

/// How the input is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonMode {
    /// One JSON document (a response body); anything but whitespace after it is an error.
    #[default]
    Document,
    /// Newline-delimited documents (a Kubernetes watch: one event per line). Each document's
    /// paths start at its own root. Blank lines are allowed and so is a document spanning
    /// lines; a document followed by anything but whitespace before the next newline is an
    /// error, and so is an input that ends inside a document.
    Lines,
}

/// Framing and limits of one [`JsonStreamMasker`](crate::JsonStreamMasker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStreamOptions {
    pub mode: JsonMode,
    /// The longest string or number, in bytes as written, the masker may have to hold: every
    /// key (matched against the rules when it ends), every value the detectors scan, every value
    /// a `hash` or `partial` rule replaces. Values passed through or replaced by a fixed text
    /// are never held and may be any length. Default: 1 MiB.
    pub max_value_bytes: usize,
    /// The deepest nesting of objects and arrays. Default: 128.
    pub max_depth: usize,
}

impl Default for JsonStreamOptions {
    fn default() -> Self {
        JsonStreamOptions {
            mode: JsonMode::Document,
            max_value_bytes: 1024 * 1024,
            max_depth: 128,
        }
    }
}
