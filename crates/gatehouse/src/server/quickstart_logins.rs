//! The quickstart's least-privileged logins. `gatehouse serve` without a config already logs
//! in to the local PostgreSQL as the superuser `postgres`; at every start it also creates (or
//! brings into line) `gatehouse_demo_read` and `gatehouse_demo_write` with the SQL of
//! `gatehouse db-roles demo --apply`, passwords kept in `<data-dir>/logins/` (0600, never
//! printed), so that readers' and writers' sessions are refused by the server itself whatever
//! slips past policy. When that cannot be done, those sessions fail with a reason saying how
//! to fix it: they are never given the superuser instead.

use crate::config::ConnectionConfig;
use crate::config::setup::Setup;
use crate::server::db_roles::{PasswordSetting, Plan, PlannedLogin, READ_LEVEL, WRITE_LEVEL};
use crate::server::login_passwords::{read_or_create, verifier};
use anyhow::{Context, Result, anyhow};

/// Create the quickstart connection's logins on its server. `Err` is the reason sessions of
/// those levels will be refused with.
pub async fn provision(setup: &Setup, connection: &ConnectionConfig) -> Result<(), String> {
    let applied = apply(setup, connection).await;
    match applied {
        Ok(roles) => {
            tracing::info!(
                "quickstart: readers and writers log in to the server as {} (least-privileged; passwords in `{}`), \
                 admins as `{}`",
                roles.join(" and "),
                setup.data_dir.join("logins").display(),
                connection.user
            );
            Ok(())
        }
        Err(error) => {
            let reason = format!(
                "the quickstart could not create the least-privileged server logins of connection `{name}` at start \
                 ({error:#}); run `gatehouse db-roles {name} --apply` once PostgreSQL accepts the `{user}` login, \
                 then restart `gatehouse serve`",
                name = connection.name,
                user = connection.user,
            );
            tracing::warn!(
                "{reason}. Until then, sessions of readers and writers are refused; admins' sessions work"
            );
            Err(reason)
        }
    }
}

/// Write (or reuse) the passwords, then run the logins' SQL as the connection's own login.
async fn apply(setup: &Setup, connection: &ConnectionConfig) -> Result<Vec<String>> {
    let config = &setup.config;
    let planned = |level: &str| -> Result<PlannedLogin> {
        let login = connection
            .login(level)
            .ok_or_else(|| anyhow!("the quickstart has no `{level}` login"))?;
        let role = login
            .user
            .clone()
            .ok_or_else(|| anyhow!("the quickstart's `{level}` login has no user"))?;
        let file = login
            .password_file
            .as_deref()
            .ok_or_else(|| anyhow!("the quickstart's `{level}` login has no password file"))?;
        let (password, _) = read_or_create(&config.resolve(file))?;
        Ok(PlannedLogin {
            role,
            password: PasswordSetting::Always(verifier(&password)),
        })
    };
    let plan = Plan {
        connection: connection.name.clone(),
        read: planned(READ_LEVEL)?,
        write: planned(WRITE_LEVEL)?,
        schemas: None,
    };
    let sql = crate::server::db_roles::script(&plan).map_err(anyhow::Error::msg)?;
    let admin = connection.target_in(&config.base_dir)?;
    let client = crate::server::target_admin::connect(&admin, config.postgres.connect_timeout)
        .await
        .map_err(|failure| anyhow!("{failure}"))?;
    client
        .batch_execute(&sql)
        .await
        .map_err(|error| anyhow!(crate::client::gateway::describe(&error)))
        .context("creating the logins failed")?;
    Ok(vec![
        format!("`{}`", plan.read.role),
        format!("`{}`", plan.write.role),
    ])
}
