//! What masking a value returns: the input borrowed when nothing was found, a new value, or
//! the instruction to send SQL `NULL` instead.

use std::borrow::Cow;

/// A masked text value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Masked<'a> {
    /// Nothing to mask: the input, borrowed.
    Unchanged(&'a str),
    /// The masked value.
    Replaced(String),
    /// Send SQL `NULL` instead of the value.
    Null,
}

impl<'a> Masked<'a> {
    /// The value to send, `None` meaning SQL `NULL`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Masked::Unchanged(text) => Some(text),
            Masked::Replaced(text) => Some(text),
            Masked::Null => None,
        }
    }

    /// The value to send, borrowing when unchanged; `None` meaning SQL `NULL`.
    pub fn into_cow(self) -> Option<Cow<'a, str>> {
        match self {
            Masked::Unchanged(text) => Some(Cow::Borrowed(text)),
            Masked::Replaced(text) => Some(Cow::Owned(text)),
            Masked::Null => None,
        }
    }
}

/// A masked value given as bytes (see [`Masker::mask_bytes`](crate::Masker::mask_bytes)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskedBytes<'a> {
    Unchanged(&'a [u8]),
    Replaced(String),
    Null,
}

impl MaskedBytes<'_> {
    /// The value to send, `None` meaning SQL `NULL`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            MaskedBytes::Unchanged(bytes) => Some(bytes),
            MaskedBytes::Replaced(text) => Some(text.as_bytes()),
            MaskedBytes::Null => None,
        }
    }
}
