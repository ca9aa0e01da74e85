//! Which server login a session gets: the [`LoginLevels`] of the connection (shared with the
//! other database adapters in gatehouse-session), applied once at connect to the identity's
//! groups as policy sees them (access grants included).

use crate::PgGateway;
use gatehouse_core::{ADMIN_LOGIN_LEVEL, Identity};

/// The server login level of `identity`'s session on `connection`; `admin` (the connection's
/// own login) for connections that map no levels.
pub(crate) async fn choose(gateway: &PgGateway, identity: &Identity, connection: &str) -> String {
    let Some(levels) = gateway.logins.get(connection) else {
        return ADMIN_LOGIN_LEVEL.to_owned();
    };
    let seen = gateway
        .pipeline
        .identity_with_grants(identity, connection)
        .await;
    levels.level_for(&seen.groups).to_owned()
}
