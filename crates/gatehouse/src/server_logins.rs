//! The server logins `gatehouse serve` (and `gatehouse agent`) opens sessions with, built from
//! each connection's config.

use crate::config::ConnectionConfig;
use anyhow::Result;
use gatehouse_pg::PgLogin;
use std::path::Path;

/// The connector's logins of a directly served connection, by level.
pub fn connector_logins(
    connection: &ConnectionConfig,
    base_dir: &Path,
) -> Result<Vec<(String, PgLogin)>> {
    Ok(connection
        .logins_in(base_dir)?
        .into_iter()
        .map(|(level, target)| (level, PgLogin::Ready(target)))
        .collect())
}
