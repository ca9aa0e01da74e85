//! What the session's server is in, as far as reading the next statement goes: the client
//! character set (what `COM_QUERY` text is decoded in), the `sql_mode` and server version
//! (how it is lexed), the current database, whether multi-statements are on, and the
//! statements prepared in SQL by name (what an `EXECUTE` runs). Changed only by statements
//! and commands the server confirmed.

use gatehouse_core::SqlStatement;
use gatehouse_mysql_sql::{Lexing, SessionChange, SqlMode};
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub(crate) struct SessionState {
    pub charset: String,
    /// The server's `@@sql_mode`, as text.
    pub sql_mode: String,
    pub server_version: u32,
    pub database: Option<String>,
    pub multi_statements: bool,
    /// `PREPARE name FROM ...` statements, by lowercased name.
    pub prepared_by_name: HashMap<String, SqlStatement>,
}

impl SessionState {
    pub fn new(
        charset: &str,
        sql_mode: String,
        server_version: u32,
        multi_statements: bool,
    ) -> Self {
        SessionState {
            charset: charset.to_owned(),
            sql_mode,
            server_version,
            database: None,
            multi_statements,
            prepared_by_name: HashMap::new(),
        }
    }

    pub fn lexing(&self) -> Lexing {
        Lexing {
            mode: SqlMode::from_server_value(&self.sql_mode),
            server_version: self.server_version,
        }
    }

    /// Follow a change the server carried out; a refusal when gatehouse can no longer read the
    /// session's statements as the server does.
    pub fn apply(
        &mut self,
        change: &SessionChange,
        statement: &SqlStatement,
    ) -> Result<(), String> {
        match change {
            SessionChange::UseDatabase(name) => self.database = Some(name.clone()),
            SessionChange::ClientCharset(name) => {
                let name = name.to_ascii_lowercase();
                if gatehouse_mysql_sql::charset_is_refused(&name) {
                    return Err(format!(
                        "the session switched to character set {name}, whose text gatehouse cannot read as the server does"
                    ));
                }
                self.charset = if name == "utf8" {
                    "utf8mb3".to_owned()
                } else {
                    name
                };
            }
            SessionChange::SqlMode(mode) => {
                if SqlMode::from_server_value(mode).oracle {
                    return Err(
                        "the session switched to sql_mode ORACLE, whose grammar gatehouse does not read"
                            .to_owned(),
                    );
                }
                self.sql_mode = mode.clone();
            }
            SessionChange::Prepare { name } => {
                self.prepared_by_name
                    .insert(name.to_ascii_lowercase(), statement.clone());
            }
            SessionChange::Deallocate { name } => {
                self.prepared_by_name.remove(&name.to_ascii_lowercase());
            }
            // The server reports the mode it ends up with (session tracking).
            SessionChange::Execute { .. } | SessionChange::SqlModeFromServer => {}
        }
        Ok(())
    }

    /// After `COM_RESET_CONNECTION`: the server is back to the login's character set and its
    /// default `sql_mode`, and forgot the statements prepared in SQL (the database stays).
    pub fn reset(&mut self, login_charset: &str, sql_mode: String) {
        self.charset = login_charset.to_owned();
        self.sql_mode = sql_mode;
        self.prepared_by_name.clear();
    }
}

/// MariaDB's number for a server version string (`10.11.19-MariaDB` → 101119), as
/// executable comments compare it; 0 when unreadable.
pub(crate) fn version_number(version: &str) -> u32 {
    let version = version.strip_prefix("5.5.5-").unwrap_or(version);
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|part| part.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    major * 10_000 + minor * 100 + patch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> SqlStatement {
        crate::session::statements::unknown_statement("SET NAMES x".into(), "test".into())
    }

    #[test]
    fn a_refused_character_set_or_an_oracle_mode_cannot_be_followed() {
        let mut state = SessionState::new("utf8mb4", String::new(), 101119, false);
        let change = SessionChange::ClientCharset("BIG5".into());
        assert!(state.apply(&change, &statement()).is_err());
        assert_eq!(state.charset, "utf8mb4");
        let change = SessionChange::ClientCharset("utf8".into());
        assert!(state.apply(&change, &statement()).is_ok());
        assert_eq!(state.charset, "utf8mb3");
        let change = SessionChange::SqlMode("ORACLE".into());
        assert!(state.apply(&change, &statement()).is_err());
        let change = SessionChange::Prepare { name: "S1".into() };
        assert!(state.apply(&change, &statement()).is_ok());
        assert!(state.prepared_by_name.contains_key("s1"));
        state.reset("latin1", "ANSI".into());
        assert!(state.prepared_by_name.is_empty());
        assert_eq!(
            (state.charset.as_str(), state.sql_mode.as_str()),
            ("latin1", "ANSI")
        );
    }

    #[test]
    fn server_versions_are_numbered_as_executable_comments_compare_them() {
        assert_eq!(version_number("10.11.19-MariaDB-0+deb12u1"), 101119);
        assert_eq!(version_number("5.5.5-10.6.3-MariaDB"), 100603);
        assert_eq!(version_number("8.0.36"), 80036);
        assert_eq!(version_number("garbage"), 0);
    }
}
