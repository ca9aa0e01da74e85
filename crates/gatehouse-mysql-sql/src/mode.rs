//! Reading `@@sql_mode` into the flags that change how MariaDB reads text.
//!
//! The server reports its mode already expanded, but a client may write a combination mode
//! (`SET sql_mode = 'ANSI'`), so combination modes are expanded here exactly as MariaDB
//! 10.11 expands them (checked against the server with `SET sql_mode = 'X'; SELECT
//! @@sql_mode`):
//!
//! - `ANSI` → `REAL_AS_FLOAT, PIPES_AS_CONCAT, ANSI_QUOTES, IGNORE_SPACE` (+ `ANSI`)
//! - `ORACLE` → `PIPES_AS_CONCAT, ANSI_QUOTES, IGNORE_SPACE, NO_KEY_OPTIONS,
//!   NO_TABLE_OPTIONS, NO_FIELD_OPTIONS, NO_AUTO_CREATE_USER, SIMULTANEOUS_ASSIGNMENT`
//! - `MSSQL`, `DB2`, `POSTGRESQL` → `PIPES_AS_CONCAT, ANSI_QUOTES, IGNORE_SPACE,
//!   NO_KEY_OPTIONS, NO_TABLE_OPTIONS, NO_FIELD_OPTIONS`
//! - `MAXDB` → the same and `NO_AUTO_CREATE_USER`
//! - `TRADITIONAL`, `MYSQL323`, `MYSQL40` imply nothing that changes reading.

use crate::SqlMode;

impl SqlMode {
    /// The mode a server reports as the value of `@@sql_mode` (a comma-separated list of
    /// flags, any case, combination modes such as `ANSI` included). Flags that do not change
    /// how text is read are ignored.
    pub fn from_server_value(value: &str) -> SqlMode {
        let mut mode = SqlMode::default();
        for flag in value.split(',') {
            match flag.trim().to_ascii_uppercase().as_str() {
                "ANSI_QUOTES" => mode.ansi_quotes = true,
                "NO_BACKSLASH_ESCAPES" => mode.no_backslash_escapes = true,
                "PIPES_AS_CONCAT" => mode.pipes_as_concat = true,
                "IGNORE_SPACE" => mode.ignore_space = true,
                "ANSI" | "MSSQL" | "DB2" | "POSTGRESQL" | "MAXDB" => {
                    mode.ansi_quotes = true;
                    mode.pipes_as_concat = true;
                    mode.ignore_space = true;
                }
                "ORACLE" => {
                    mode.ansi_quotes = true;
                    mode.pipes_as_concat = true;
                    mode.ignore_space = true;
                    mode.oracle = true;
                }
                _ => {}
            }
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_combinations() {
        let mode = SqlMode::from_server_value("strict_trans_tables, No_Backslash_Escapes");
        assert!(mode.no_backslash_escapes && !mode.ansi_quotes);
        let ansi = SqlMode::from_server_value("ANSI");
        assert!(ansi.ansi_quotes && ansi.pipes_as_concat && ansi.ignore_space && !ansi.oracle);
        assert!(SqlMode::from_server_value("oracle").oracle);
        assert!(SqlMode::from_server_value("MSSQL").ansi_quotes);
        assert_eq!(SqlMode::from_server_value(""), SqlMode::default());
        assert!(!SqlMode::from_server_value("TRADITIONAL").ansi_quotes);
    }
}
