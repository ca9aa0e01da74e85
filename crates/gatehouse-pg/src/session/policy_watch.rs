//! Deciding again, when the policy set in force is replaced, what a PostgreSQL session decided
//! only once at its start: `connect` (a session that lost access ends) and, for an unmasked
//! session, `data:unmasked` (one that lost it ends too, and is masked when it connects again:
//! a session's statements, portals and row descriptions were prepared unmasked, so masking
//! cannot start halfway through them). Statements are decided with the new set from their
//! next request on anyway; a session that gains rights keeps what it has until it reconnects.

use crate::PgGateway;
use gatehouse_pipeline::SessionContext;

/// Why the session must end under policy `version`, or `None` while it keeps what it started
/// with.
pub(super) async fn withdrawn(
    gateway: &PgGateway,
    context: &SessionContext,
    unmasked: bool,
    version: String,
) -> Option<String> {
    if let Some(reason) =
        gatehouse_session::connect_withdrawn(&gateway.pipeline, context, &version).await
    {
        return Some(reason);
    }
    if unmasked
        && let Some(masking) = gateway.masking.get(&context.connection.name)
        && !super::may_see_unmasked(gateway, context, masking).await
    {
        return Some(format!(
            "policy version {version} no longer permits `data:unmasked` on connection `{}`; connect again to continue with masked results",
            context.connection.name
        ));
    }
    None
}
