//! Which character encoding a session's results arrive in. Masking scans text, so a masked
//! session must receive UTF-8: a client that switched `client_encoding` to, say, `LATIN1`
//! would otherwise get every value with an accented letter in bytes the detectors cannot
//! read. The server reports the encodings in `ParameterStatus` at startup and whenever they
//! change (`SET`, `RESET`, `set_config`, a function's `SET` clause), so following those
//! messages covers every way of changing it.

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
