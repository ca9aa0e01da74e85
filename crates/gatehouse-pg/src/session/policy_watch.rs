//! Deciding again, when the policy set in force is replaced, what a session decided only once
//! at its start: `connect` (a session that lost access ends) and, for an unmasked session,
//! `data:unmasked` (one that lost it ends too, and is masked when it connects again: a
//! session's statements, portals and row descriptions were prepared unmasked, so masking
//! cannot start halfway through them). Statements are decided with the new set from their
//! next request on anyway; a session that gains rights keeps what it has until it reconnects.

use crate::PgGateway;
use gatehouse_core::Action;
use gatehouse_pipeline::{Decision, SessionContext};
use tokio::sync::watch;

/// Resolve with the reason the session must end once a replaced policy set no longer gives it
/// what it started with; never while it does.
pub(super) async fn wait_for_withdrawal(
    gateway: &PgGateway,
    context: &SessionContext,
    unmasked: bool,
    changes: &mut watch::Receiver<String>,
) -> String {
    loop {
        if changes.changed().await.is_err() {
            // Nobody can replace the policy any more.
            std::future::pending::<()>().await;
        }
        let version = changes.borrow_and_update().clone();
        if let Some(reason) = withdrawn(gateway, context, unmasked, &version).await {
            return reason;
        }
    }
}

async fn withdrawn(
    gateway: &PgGateway,
    context: &SessionContext,
    unmasked: bool,
    version: &str,
) -> Option<String> {
    match gateway.pipeline.decide(context, &[Action::Connect]).await {
        Ok(Decision::Allow(_)) => {}
        Ok(Decision::Deny(denial)) => {
            return Some(format!(
                "policy version {version} no longer permits this session: {}",
                denial.message
            ));
        }
        Ok(Decision::Hold(hold)) => {
            return Some(format!(
                "policy version {version} makes this session need an approval: {}",
                hold.message
            ));
        }
        Err(error) => {
            return Some(format!(
                "policy version {version} is in force but this session's access could not be decided again ({error}); gatehouse fails closed"
            ));
        }
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
