//! Which character encoding a session's text travels in, and the server settings gatehouse
//! reads SQL under. The server reports `client_encoding`, `server_encoding` and
//! `standard_conforming_strings` in `ParameterStatus` at startup and whenever they change
//! (`SET`, `RESET`, `set_config`, a function's `SET` clause), so following those messages
//! covers every way of changing them.
//!
//! - [`TextEncoding`]: client text (queries) is decoded the way the server decodes it, in
//!   whatever ASCII-safe client encoding the session uses. Encodings whose multi-byte
//!   characters can contain ASCII bytes (SJIS, BIG5, GBK, ...) are pinned out: policy refuses
//!   changing to them, and a session the server reports in one ends.
//! - [`check_pinned`]: `standard_conforming_strings` must stay on (gatehouse's parser reads
//!   SQL that way; text that reads differently either way is refused anyway).
//!
//! Masked sessions read result values with [`TextEncoding`] too: masking scans text, so a
//! value is decoded, masked, and written back in the client's encoding.

use gatehouse_sql::{EncodingError, PgEncoding};
use std::borrow::Cow;

/// The client and database encodings of a session, for reading the client's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TextEncoding {
    client: PgEncoding,
    server: PgEncoding,
}

impl Default for TextEncoding {
    fn default() -> Self {
        TextEncoding {
            client: PgEncoding::Utf8,
            server: PgEncoding::Utf8,
        }
    }
}

impl TextEncoding {
    /// The encodings among the startup's `ParameterStatus` values; a refusal when gatehouse
    /// cannot read the session's text.
    pub fn from_parameters(parameters: &[(String, String)]) -> Result<Self, String> {
        let mut encoding = TextEncoding::default();
        for (name, value) in parameters {
            encoding.note(name, value)?;
        }
        Ok(encoding)
    }

    /// Note one reported parameter; a refusal when the session can no longer be read.
    pub fn note(&mut self, name: &str, value: &str) -> Result<(), String> {
        check_pinned(name, value)?;
        let slot = match name {
            "client_encoding" => &mut self.client,
            "server_encoding" => &mut self.server,
            _ => return Ok(()),
        };
        let Some(encoding) = PgEncoding::from_name(value) else {
            return Err(format!(
                "the server reports {name} {value:?}, an encoding gatehouse does not know"
            ));
        };
        if encoding.is_ascii_unsafe() {
            return Err(format!(
                "the session's {name} is {encoding}, whose characters can contain bytes that read as \
                 quotes or backslashes, so gatehouse cannot read its SQL the way the server does; \
                 use UTF8 (for libpq clients: PGCLIENTENCODING=UTF8)"
            ));
        }
        *slot = encoding;
        Ok(())
    }

    /// Client text as the server reads it.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Cow<'a, str>, EncodingError> {
        gatehouse_sql::decode_client_text(bytes, self.client, self.server)
    }

    /// Text the server sent (in the client's encoding), for showing, recording and matching
    /// names: bytes that do not decode, which the server never sends, are replaced.
    pub fn decode_lossy(&self, bytes: &[u8]) -> String {
        match self.decode(bytes) {
            Ok(text) => text.into_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// Gatehouse's own text in the client's encoding.
    pub fn encode<'a>(&self, text: &'a str) -> Cow<'a, [u8]> {
        gatehouse_sql::encode_for_client(text, self.client, self.server)
    }

    /// The client encoding is UTF-8 (nothing to convert).
    pub fn is_utf8(&self) -> bool {
        self.client == PgEncoding::Utf8
            || (self.client == PgEncoding::SqlAscii && self.server == PgEncoding::Utf8)
    }
}

/// A reported server setting that gatehouse reads SQL under: a refusal when it no longer
/// has the value gatehouse assumes.
pub(crate) fn check_pinned(name: &str, value: &str) -> Result<(), String> {
    if name == "standard_conforming_strings" && !value.eq_ignore_ascii_case("on") {
        return Err(format!(
            "the server reports standard_conforming_strings = {value}; gatehouse reads SQL the way \
             the server does with it on, so the session cannot go on safely"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{TextEncoding, check_pinned};

    fn reported(pairs: &[(&str, &str)]) -> Result<TextEncoding, String> {
        let parameters: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        TextEncoding::from_parameters(&parameters)
    }

    #[test]
    fn ascii_safe_encodings_are_followed_and_unsafe_ones_refused() {
        let mut encoding =
            reported(&[("client_encoding", "UTF8"), ("server_encoding", "UTF8")]).unwrap();
        assert!(encoding.is_utf8());
        encoding.note("client_encoding", "LATIN9").unwrap();
        assert!(!encoding.is_utf8());
        assert_eq!(encoding.decode(b"caf\xe9").unwrap(), "café");
        assert_eq!(encoding.encode("café €").as_ref(), b"caf\xe9 \xa4");
        for unsafe_encoding in ["SJIS", "BIG5", "GBK", "GB18030", "UHC", "JOHAB"] {
            let refusal = encoding
                .note("client_encoding", unsafe_encoding)
                .unwrap_err();
            assert!(refusal.contains("PGCLIENTENCODING=UTF8"), "{refusal}");
        }
        assert!(encoding.note("client_encoding", "KLINGON").is_err());
        assert!(reported(&[("client_encoding", "SJIS")]).is_err());
    }

    #[test]
    fn standard_conforming_strings_stays_on() {
        assert!(check_pinned("standard_conforming_strings", "on").is_ok());
        assert!(check_pinned("standard_conforming_strings", "off").is_err());
        assert!(check_pinned("application_name", "off").is_ok());
    }
}
