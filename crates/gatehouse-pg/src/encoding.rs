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
//! - [`WireEncoding`]: masking scans text, so a masked session's results must arrive in
//!   UTF-8: a client that switched `client_encoding` to, say, `LATIN1` would otherwise get
//!   every value with an accented letter in bytes the detectors cannot read.

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

/// The encodings the server last reported for this session.
#[derive(Debug, Clone, Default)]
pub(crate) struct WireEncoding {
    client: Option<String>,
    server: Option<String>,
}

impl WireEncoding {
    /// The encodings among the `ParameterStatus` values of the startup.
    pub fn from_parameters(parameters: &[(String, String)]) -> Self {
        let mut encoding = WireEncoding::default();
        for (name, value) in parameters {
            encoding.note(name, value);
        }
        encoding
    }

    /// Note one reported parameter (others are ignored).
    pub fn note(&mut self, name: &str, value: &str) {
        match name {
            "client_encoding" => self.client = Some(value.to_owned()),
            "server_encoding" => self.server = Some(value.to_owned()),
            _ => {}
        }
    }

    /// Whether results arrive as UTF-8 (or as bytes with no conversion from a database that
    /// declares none, `SQL_ASCII`, whose values are checked one by one); otherwise what the
    /// client is told. An encoding the server never reported is not assumed to be UTF-8.
    pub fn check_utf8(&self) -> Result<(), String> {
        let client = self.client.as_deref().unwrap_or("(not reported)");
        let arriving = match canonical(client).as_str() {
            "UTF8" | "UNICODE" => return Ok(()),
            "SQLASCII" => self.server.as_deref().unwrap_or("(not reported)"),
            _ => client,
        };
        if matches!(
            canonical(arriving).as_str(),
            "UTF8" | "UNICODE" | "SQLASCII"
        ) {
            return Ok(());
        }
        Err(format!(
            "this connection's results are masked, which needs them in UTF-8, but the session's \
             encoding is {arriving}; connect with client_encoding UTF8 (for psql and libpq: \
             PGCLIENTENCODING=UTF8) and do not change it"
        ))
    }
}

/// An encoding name as PostgreSQL compares them: case and `-`/`_` do not matter.
fn canonical(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::WireEncoding;

    fn encoding(client: &str, server: &str) -> WireEncoding {
        WireEncoding::from_parameters(&[
            ("client_encoding".to_owned(), client.to_owned()),
            ("server_encoding".to_owned(), server.to_owned()),
        ])
    }

    #[test]
    fn utf8_under_any_spelling_is_accepted() {
        for name in ["UTF8", "utf-8", "Unicode"] {
            assert!(encoding(name, "UTF8").check_utf8().is_ok(), "{name}");
        }
    }

    #[test]
    fn sql_ascii_client_takes_the_database_encoding() {
        assert!(encoding("SQL_ASCII", "UTF8").check_utf8().is_ok());
        assert!(encoding("SQL_ASCII", "SQL_ASCII").check_utf8().is_ok());
        let refusal = encoding("SQL_ASCII", "LATIN1")
            .check_utf8()
            .expect_err("LATIN1 database");
        assert!(refusal.contains("LATIN1"), "{refusal}");
    }

    #[test]
    fn other_client_encodings_are_refused_with_what_to_do() {
        for name in ["LATIN1", "WIN1252", "SJIS", "EUC_JP"] {
            let refusal = encoding(name, "UTF8").check_utf8().expect_err(name);
            assert!(refusal.contains(name), "{refusal}");
            assert!(refusal.contains("PGCLIENTENCODING=UTF8"), "{refusal}");
        }
    }

    #[test]
    fn a_later_report_replaces_the_earlier_one() {
        let mut tracked = encoding("UTF8", "UTF8");
        tracked.note("client_encoding", "LATIN1");
        assert!(tracked.check_utf8().is_err());
        tracked.note("client_encoding", "UTF8");
        tracked.note("application_name", "psql");
        assert!(tracked.check_utf8().is_ok());
    }

    #[test]
    fn an_unreported_encoding_is_not_assumed() {
        assert!(WireEncoding::default().check_utf8().is_err());
    }
}
