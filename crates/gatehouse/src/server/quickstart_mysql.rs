//! The quickstart's least-privileged MariaDB accounts. `gatehouse serve` without a config
//! logs in to the local MariaDB as `root` for admins only; at every start it also creates (or
//! brings into line) one account per access level of `demo-mysql` — readers may only
//! `SELECT`, writers may also change rows, both only in the connection's database — with
//! passwords kept in `<data-dir>/logins/` (0600, never printed), so the server itself refuses
//! what slips past policy. The statements carry only the password's `mysql_native_password`
//! hash, never the password. When MariaDB cannot be reached the quickstart starts anyway and
//! says why; sessions of those levels then fail to log in: they are never given `root`.

use crate::config::ConnectionConfig;
use crate::config::setup::Setup;
use crate::server::db_roles::{READ_LEVEL, WRITE_LEVEL};
use crate::server::login_passwords::read_or_create;
use anyhow::{Context, Result, anyhow};
use gatehouse_core::SecretString;

/// The quickstart's account name for `level` of `connection` (`gatehouse_demo_mysql_read`).
pub fn account_name(connection: &str, level: &str) -> String {
    format!("gatehouse_{}_{level}", connection.replace('-', "_"))
}

/// Create the quickstart connection's accounts on its server; a failure is logged with what to
/// do, and the gateway starts anyway.
pub async fn provision(setup: &Setup, connection: &ConnectionConfig) {
    match apply(setup, connection).await {
        Ok(accounts) => tracing::info!(
            "quickstart: readers and writers of `{}` log in to MariaDB as {} (least-privileged; passwords in `{}`), admins as `{}`",
            connection.name,
            accounts.join(" and "),
            setup.data_dir.join("logins").display(),
            connection.user
        ),
        Err(error) => tracing::warn!(
            "quickstart: the least-privileged MariaDB accounts of connection `{name}` could not be created ({error:#}); \
             sessions to `{name}` fail until MariaDB accepts `{user}` on {host}:{port} and gatehouse restarts",
            name = connection.name,
            user = connection.user,
            host = connection.host,
            port = connection.port(),
        ),
    }
}

async fn apply(setup: &Setup, connection: &ConnectionConfig) -> Result<Vec<String>> {
    let config = &setup.config;
    let database = quote_identifier(&connection.database);
    let mut statements = Vec::new();
    let mut accounts = Vec::new();
    for (level, privileges) in [
        (READ_LEVEL, "SELECT"),
        (WRITE_LEVEL, "SELECT, INSERT, UPDATE, DELETE"),
    ] {
        let login = connection
            .login(level)
            .ok_or_else(|| anyhow!("the quickstart has no `{level}` login"))?;
        let user = login
            .user
            .as_deref()
            .ok_or_else(|| anyhow!("the quickstart's `{level}` login has no user"))?;
        let file = login
            .password_file
            .as_deref()
            .ok_or_else(|| anyhow!("the quickstart's `{level}` login has no password file"))?;
        let (password, _) = read_or_create(&config.resolve(file))?;
        let account = format!("{}@'%'", quote_string(user));
        let hash = quote_string(&native_password_hash(&password));
        statements.extend([
            format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY PASSWORD {hash}"),
            format!("ALTER USER {account} IDENTIFIED BY PASSWORD {hash}"),
            format!("REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}"),
            format!("GRANT {privileges} ON {database}.* TO {account}"),
        ]);
        accounts.push(format!("`{user}`"));
    }
    let admin = crate::server::mysql::admin_login(setup, connection)?;
    gatehouse_mysql::run_statements(&admin, &statements, config.mysql.connect_timeout)
        .await
        .context("creating the accounts failed")?;
    Ok(accounts)
}

/// What MariaDB stores for a `mysql_native_password` account: `*` and the upper-case hex of
/// SHA1(SHA1(password)).
fn native_password_hash(password: &SecretString) -> String {
    let sha1 = |bytes: &[u8]| ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
    let twice = sha1(sha1(password.expose().as_bytes()).as_ref());
    format!("*{}", hex::encode_upper(twice.as_ref()))
}

/// `text` as a MariaDB string literal (quotes and backslashes escaped).
fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// `name` as a MariaDB identifier.
fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_hash_is_mariadbs_password_function() {
        // SELECT PASSWORD('secret') on MariaDB 10.11.
        assert_eq!(
            native_password_hash(&SecretString::new("secret")),
            "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"
        );
    }

    #[test]
    fn names_and_strings_cannot_break_out_of_their_quotes() {
        assert_eq!(quote_string("a'b\\"), "'a''b\\\\'");
        assert_eq!(quote_identifier("a`b"), "`a``b`");
        assert_eq!(
            account_name("demo-mysql", "read"),
            "gatehouse_demo_mysql_read"
        );
    }
}
