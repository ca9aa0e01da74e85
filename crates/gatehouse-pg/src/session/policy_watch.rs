//! Deciding again, when the policy set or the connections' settings in force are replaced,
//! what a PostgreSQL session decided only once at its start: `connect` (a session that lost
//! access ends), its masking (a session whose connection's masking changed ends and is masked
//! by the new rules when it connects again; so does an unmasked one that lost
//! `data:unmasked`: a session's statements, portals and row descriptions were prepared under
//! the masking it started with, so other masking cannot start halfway through them), and that
//! its connection still exists. Statements are decided with the new policy set from their
//! next request on anyway; a session that gains rights keeps what it has until it reconnects.

use crate::{ConnectionMasking, PgGateway};
use gatehouse_pipeline::SessionContext;
use std::sync::Arc;

/// Why the session must end under policy `version` and the settings in force, or `None`
/// while it keeps what it started with. `at_start` is the connection's masking when the
/// session started and whether the session's results are unmasked.
pub(super) async fn withdrawn(
    gateway: &PgGateway,
    context: &SessionContext,
    (masking_at_start, unmasked): (Option<&Arc<ConnectionMasking>>, bool),
    version: String,
) -> Option<String> {
    let name = &context.connection.name;
    let settings = gateway.connection_settings.current();
    if !settings.connections.contains_key(name) {
        return Some(format!(
            "connection `{name}` was removed from gatehouse's configuration"
        ));
    }
    if let Some(reason) =
        gatehouse_session::connect_withdrawn(&gateway.pipeline, context, &version).await
    {
        return Some(reason);
    }
    let masking_now = settings.masking.get(name);
    let same_masking = match (masking_at_start, masking_now) {
        (Some(at_start), Some(now)) => Arc::ptr_eq(at_start, now),
        (None, None) => true,
        _ => false,
    };
    if !same_masking {
        return Some(format!(
            "the masking rules of connection `{name}` changed; connect again to continue under the new rules"
        ));
    }
    if unmasked
        && let Some(masking) = masking_now
        && !super::may_see_unmasked(gateway, context, masking).await
    {
        return Some(format!(
            "policy version {version} no longer permits `data:unmasked` on connection `{name}`; connect again to continue with masked results"
        ));
    }
    None
}
