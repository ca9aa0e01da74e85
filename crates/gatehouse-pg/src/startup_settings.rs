//! Startup parameters as the settings they are. A client may set any server setting when it
//! connects — as a startup parameter (`statement_timeout=5s`, which node-postgres and pools
//! send) or inside `options` (`-c search_path=app`, `--work-mem=64MB`) — and PostgreSQL
//! applies them before the first query. gatehouse reads each as the `SET` statement it is
//! equivalent to, so policy decides it like any other `SET` (`sql:session` for ordinary
//! settings; `role`, `session_authorization`, pinned parsing settings, superuser-only settings
//! are what the classifier makes them), and passes the allowed ones to the server as startup
//! parameters.
//!
//! `options` is split as PostgreSQL splits it (`pg_split_opts`: whitespace separates, a
//! backslash makes the next character literal) and only its setting switches (`-c name=value`,
//! `-cname=value`, `--name=value`) are accepted; the server's other command-line switches
//! (`-F` turns off fsync, `-d` sets debug output, ...) are refused.

use gatehouse_core::SqlStatement;

/// Parameters with a meaning of their own in the startup packet, never settings.
const NOT_SETTINGS: &[&str] = &["user", "database"];

/// Parameters that are settings PostgreSQL reads at startup but that drivers send on every
/// connection; when the classifier finds nothing special in them (an ordinary `SET`), they
/// pass without a decision of their own, as the connection's decision covers them.
const ROUTINE: &[&str] = &[
    "application_name",
    "client_encoding",
    "datestyle",
    "timezone",
    "intervalstyle",
    "extra_float_digits",
];

/// One setting a client asked for at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartupSetting {
    /// The setting's name as the client wrote it (sent to the server as is).
    pub name: String,
    pub value: String,
    /// The `SET` statement it amounts to, classified.
    pub statement: SqlStatement,
}

impl StartupSetting {
    /// Whether policy must decide this setting (anything but a routine, ordinary setting).
    pub fn needs_decision(&self) -> bool {
        let routine = ROUTINE.contains(&self.name.to_ascii_lowercase().as_str());
        !(routine && self.statement.kind == gatehouse_core::SqlKind::Session)
    }
}

/// The settings among a startup message's parameters (`options` expanded), classified by
/// `classify` as `SET` statements; an error message for the client when they cannot be read.
pub(crate) fn startup_settings(
    params: &[(String, String)],
    classify: impl Fn(&str) -> Vec<SqlStatement>,
) -> Result<Vec<StartupSetting>, String> {
    let mut settings = Vec::new();
    for (name, value) in params {
        if NOT_SETTINGS.contains(&name.as_str()) || name.starts_with("_pq_.") {
            continue;
        }
        if name == "replication" {
            return Err(
                "startup parameter `replication` is not allowed through gatehouse: replication connections bypass SQL"
                    .to_owned(),
            );
        }
        if name == "options" {
            settings.extend(parse_options(value)?);
        } else {
            settings.push((name.clone(), value.clone()));
        }
    }
    settings
        .into_iter()
        .map(|(name, value)| {
            let sql = set_statement(&name, &value);
            match classify(&sql).as_slice() {
                [statement] => Ok(StartupSetting {
                    name,
                    value,
                    statement: statement.clone(),
                }),
                _ => Err(format!(
                    "startup parameter `{name}` cannot be read as a setting"
                )),
            }
        })
        .collect()
}

/// `SET "name" TO E'value'`: the name quoted as an identifier, the value as an escape string
/// (which reads the same whatever `standard_conforming_strings` is).
fn set_statement(name: &str, value: &str) -> String {
    let name = name.replace('"', "\"\"");
    let value = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("SET \"{name}\" TO E'{value}'")
}

/// The `(name, value)` settings of an `options` startup parameter.
fn parse_options(options: &str) -> Result<Vec<(String, String)>, String> {
    let words = split_options(options);
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let assignment = if let Some(long) = word.strip_prefix("--") {
            long.to_owned()
        } else if word == "-c" {
            words
                .next()
                .ok_or_else(|| "startup option `-c` needs a `name=value` after it".to_owned())?
        } else if let Some(attached) = word.strip_prefix("-c") {
            attached.to_owned()
        } else {
            return Err(format!(
                "startup option `{word}` is not allowed through gatehouse: only settings (`-c name=value` or `--name=value`) are, and policy decides each like a SET"
            ));
        };
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(format!(
                "startup option `{assignment}` needs a value: write `-c {assignment}=value`"
            ));
        };
        // PostgreSQL reads `-` in a long option's name as `_` (--work-mem is work_mem).
        settings.push((name.replace('-', "_"), value.to_owned()));
    }
    Ok(settings)
}

/// Split `options` into words as PostgreSQL does: whitespace separates, a backslash makes
/// the next character part of the word.
fn split_options(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            c if c.is_ascii_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use gatehouse_core::SqlKind;

    fn classify(sql: &str) -> Vec<SqlStatement> {
        gatehouse_sql::classify(sql)
            .into_iter()
            .map(|c| c.statement)
            .collect()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn options_are_split_like_postgresql_does() {
        assert_eq!(
            split_options(r"-c search_path=a\ b  --work-mem=64MB -cx=\\y"),
            ["-c", "search_path=a b", "--work-mem=64MB", r"-cx=\y"]
        );
        assert_eq!(
            parse_options(r"-c search_path=a\ b  --work-mem=64MB -cx=\\y").unwrap(),
            [
                ("search_path".to_owned(), "a b".to_owned()),
                ("work_mem".to_owned(), "64MB".to_owned()),
                ("x".to_owned(), r"\y".to_owned()),
            ]
        );
    }

    #[test]
    fn switches_other_than_settings_are_refused() {
        for options in ["-F", "-d 5", "-c", "-c nameonly", "-B 100"] {
            assert!(parse_options(options).is_err(), "{options}");
        }
    }

    #[test]
    fn settings_are_classified_as_the_set_they_are() {
        let settings = startup_settings(
            &params(&[
                ("user", "ana"),
                ("database", "demo"),
                ("statement_timeout", "5s"),
                ("application_name", "psql"),
                (
                    "options",
                    "-c role=postgres -c standard_conforming_strings=off",
                ),
            ]),
            classify,
        )
        .unwrap();
        let kinds: Vec<(&str, SqlKind, bool)> = settings
            .iter()
            .map(|s| (s.name.as_str(), s.statement.kind, s.needs_decision()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("statement_timeout", SqlKind::Session, true),
                ("application_name", SqlKind::Session, false),
                ("role", SqlKind::Admin, true),
                ("standard_conforming_strings", SqlKind::Unknown, true),
            ]
        );
    }

    #[test]
    fn values_cannot_break_out_of_their_literal() {
        let settings = startup_settings(
            &params(&[("application_name", r"x'; DROP TABLE t; --\")]),
            classify,
        )
        .unwrap();
        assert_eq!(settings.len(), 1);
        assert_eq!(settings[0].statement.kind, SqlKind::Session);
        assert!(startup_settings(&params(&[("replication", "database")]), classify).is_err());
    }
}
