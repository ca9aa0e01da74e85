//! Tables that are the server's own state rather than data: reaching them is `Admin`, as
//! the PostgreSQL classifier treats `pg_authid` and friends.
//!
//! - Writing any table of the `mysql` database changes privileges or server configuration
//!   (the next `FLUSH PRIVILEGES` loads it).
//! - Reading `mysql.user`, `mysql.global_priv` or `mysql.password_reuse_check_history`
//!   shows password hashes; reading `information_schema.processlist` shows other sessions'
//!   statements, as `SHOW PROCESSLIST` does.
//!
//! Only qualified names are recognised: after `USE mysql`, an unqualified `user` is not.

use gatehouse_core::SqlKind;

use crate::facts::Facts;

/// Tables whose rows show what a policy on data does not cover.
const SECRET_READS: &[&str] = &[
    "information_schema.processlist",
    "mysql.global_priv",
    "mysql.password_reuse_check_history",
    "mysql.user",
];

/// Raises `facts` for the server catalogues it reads or writes.
pub fn check(facts: &mut Facts) {
    if let Some(table) = facts.writes.iter().find(|t| t.starts_with("mysql.")) {
        let reason =
            format!("writes {table}: the mysql database holds privileges and server configuration");
        facts.raise(SqlKind::Admin, reason);
    }
    if let Some(table) = facts
        .reads
        .iter()
        .find(|t| SECRET_READS.contains(&t.as_str()))
    {
        let reason =
            format!("reads {table}, which shows password hashes or other sessions' statements");
        facts.raise(SqlKind::Admin, reason);
    }
}
