//! The server logins `gatehouse serve` (and `gatehouse agent`) opens sessions with, built from
//! each connection's config, and the check at start that none of those given to identities
//! outside the admin level is a superuser or may bypass privileges: with such a login the
//! server no longer refuses what a fooled classifier lets through. The check only warns, and
//! a server that cannot be reached only postpones it to the operator.

use crate::config::ConnectionConfig;
use crate::server::target_admin::ConnectFailure;
use anyhow::Result;
use gatehouse_core::ADMIN_LOGIN_LEVEL;
use gatehouse_pg::{PgLogin, PgTarget};
use std::path::Path;
use std::time::Duration;

/// Built-in roles whose members write, read server files or signal other sessions whatever
/// their own privileges say.
const POWERFUL_ROLES: [&str; 5] = [
    "pg_write_all_data",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
    "pg_signal_backend",
];

/// The connector's logins of a directly served connection. With `unavailable`, only its own
/// login (level `admin`) is usable and every other level fails with that reason: never
/// another login in its place.
pub fn connector_logins(
    connection: &ConnectionConfig,
    base_dir: &Path,
    unavailable: Option<&str>,
) -> Result<Vec<(String, PgLogin)>> {
    let Some(reason) = unavailable else {
        return Ok(connection
            .logins_in(base_dir)?
            .into_iter()
            .map(|(level, target)| (level, PgLogin::Ready(target)))
            .collect());
    };
    let mut logins = vec![(
        ADMIN_LOGIN_LEVEL.to_owned(),
        PgLogin::Ready(connection.target_in(base_dir)?),
    )];
    for login in connection.logins.iter().filter(|l| l.user.is_some()) {
        logins.push((
            login.level.clone(),
            PgLogin::Unavailable {
                reason: reason.to_owned(),
            },
        ));
    }
    Ok(logins)
}

/// The logins of `connection` that identities outside the admin level get, with whom they
/// are for: every non-admin level, and the connection's own login when identities no entry
/// names fall back to it (or when it maps no levels at all).
pub fn exposed_logins(
    connection: &ConnectionConfig,
    logins: &[(String, PgLogin)],
) -> Vec<(String, PgTarget, String)> {
    let default_level = connection
        .default_level
        .as_deref()
        .unwrap_or(ADMIN_LOGIN_LEVEL);
    logins
        .iter()
        .filter_map(|(level, login)| {
            let PgLogin::Ready(target) = login else {
                return None;
            };
            let mut who: Vec<String> = connection
                .login(level)
                .map(|entry| entry.groups.iter().map(|g| format!("`{g}`")).collect())
                .unwrap_or_default();
            if level == ADMIN_LOGIN_LEVEL {
                if connection.logins.is_empty() {
                    return Some((level.clone(), target.clone(), "every identity".to_owned()));
                }
                if default_level != ADMIN_LOGIN_LEVEL {
                    return None;
                }
                who.clear();
            }
            if level == default_level {
                who.push("identities no [[connections.logins]] entry names".to_owned());
            }
            let who = if who.is_empty() {
                "nobody yet".to_owned()
            } else {
                format!("groups {}", who.join(", "))
            };
            Some((level.clone(), target.clone(), who))
        })
        .collect()
}

/// Log in as each of `logins` and warn about any that may do more than a least-privileged
/// login should, or that cannot log in. Never fails: the gateway runs either way.
pub async fn check(connection: String, logins: Vec<(String, PgTarget, String)>, timeout: Duration) {
    for (level, target, who) in logins {
        let client = match crate::server::target_admin::connect(&target, timeout).await {
            Ok(client) => client,
            Err(ConnectFailure::Unreachable(reason)) => {
                tracing::warn!(
                    "connection `{connection}`: its server logins were not checked ({reason}); \
                     they are checked again at the next start"
                );
                return;
            }
            Err(ConnectFailure::Refused(reason)) => {
                tracing::warn!(
                    "connection `{connection}`: server login level `{level}` (role `{}`) cannot log in: {reason}; \
                     sessions of that level fail until it can (`gatehouse db-roles {connection}` creates the logins)",
                    target.user
                );
                continue;
            }
        };
        match powers(&client).await {
            Ok(powers) if powers.is_empty() => {
                tracing::info!(
                    "connection `{connection}`: server login level `{level}` (role `{}`) has no privilege-bypassing attributes",
                    target.user
                );
            }
            Ok(powers) => tracing::warn!(
                "connection `{connection}`: server login level `{level}` (role `{}`, for {who}) {}: \
                 the server will not refuse what policy wrongly lets through for them. Give that level a \
                 least-privileged login (`gatehouse db-roles {connection}`)",
                target.user,
                powers.join(", ")
            ),
            Err(error) => tracing::warn!(
                "connection `{connection}`: could not read what server login level `{level}` may do: {error}"
            ),
        }
    }
}

/// What the logged-in role may do beyond its privileges, in words.
async fn powers(client: &tokio_postgres::Client) -> Result<Vec<String>, tokio_postgres::Error> {
    let roles: Vec<String> = POWERFUL_ROLES.iter().map(|r| (*r).to_owned()).collect();
    let row = client
        .query_one(
            "SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication, \
                    ARRAY(SELECT b.rolname::text FROM pg_catalog.pg_roles b \
                          WHERE NOT r.rolsuper AND b.rolname = ANY($1) \
                            AND pg_catalog.pg_has_role(r.oid, b.oid, 'USAGE') \
                          ORDER BY 1) \
             FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
            &[&roles],
        )
        .await?;
    let mut powers = Vec::new();
    for (index, words) in [
        "is a superuser",
        "bypasses row-level security (BYPASSRLS)",
        "can create roles (CREATEROLE)",
        "can create databases (CREATEDB)",
        "can start replication (REPLICATION)",
    ]
    .into_iter()
    .enumerate()
    {
        if row.try_get::<_, bool>(index)? {
            powers.push(words.to_owned());
        }
    }
    let members: Vec<String> = row.try_get(5)?;
    if !members.is_empty() {
        powers.push(format!("is a member of {}", members.join(", ")));
    }
    Ok(powers)
}
