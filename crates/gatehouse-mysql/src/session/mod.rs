//! One client session after its login: the `connect` decision, opening the server session
//! with the login level the identity maps to, whether results are masked, then the relay
//! (`relay`) until the client or the server leaves or gatehouse ends it (shutdown,
//! revocation, expiry, a policy that withdrew it); every ending is audited with its reason.
//!
//! MySQL's classic protocol is strictly one command, then its whole response, so the relay
//! is one loop: read a command, decide it, forward it, relay its response to the end.

mod commands;
pub(crate) mod outcomes;
mod prepared;
mod relay;
pub(crate) mod responses;
pub(crate) mod row_caps;
pub(crate) mod state;
mod statements;
mod tracking;

use crate::handshake::{Accepted, check_collation};
use crate::packets::PacketStream;
use crate::query::run_query;
use crate::refusal::{self, err_payload};
use crate::targets::{ServerDetails, open_request};
use crate::{MysqlError, MysqlGateway};
use gatehouse_core::{ADMIN_LOGIN_LEVEL, Action, Identity};
use gatehouse_mask::Masker;
use gatehouse_mysql_wire::capabilities::Capabilities;
use gatehouse_mysql_wire::response::OkPacket;
use gatehouse_pipeline::{Decision, SessionContext};
use gatehouse_session::{EndedBy, Endings};
use relay::Relay;
use state::{SessionState, version_number};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// How a session ended, for the audit log.
pub(crate) enum Ending {
    ClientQuit,
    ClientClosed,
    Ended(EndedBy),
}

/// Run a logged-in client's session to its end.
pub(crate) async fn run(
    gateway: &MysqlGateway,
    accepted: Accepted,
    peer: Option<IpAddr>,
    terminate: watch::Receiver<bool>,
) -> Result<(), MysqlError> {
    let Accepted {
        mut client,
        identity,
        credential_id,
        expires_at_unix,
        connection,
        capabilities,
        collation,
        next_sequence,
    } = accepted;
    let policy_changes = gateway.pipeline.policy_changes();
    let login_level = choose_level(gateway, &identity, &connection.name).await;
    let mut context = SessionContext::new(
        gatehouse_session::new_session_id(),
        identity,
        connection,
        login_level,
        peer,
    );
    if let Err(message) = admit(gateway, &mut context).await {
        client
            .say_last(
                next_sequence,
                &err_payload(refusal::ACCESS_DENIED, &message),
            )
            .await;
        return Ok(());
    }
    let opened = open_server(gateway, &context, capabilities, collation).await;
    let (server, details, state) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            let message = format!(
                "gatehouse: could not open connection `{}`: {error}",
                context.connection.name
            );
            client
                .say_last(next_sequence, &err_payload(refusal::INTERNAL, &message))
                .await;
            record_disconnect(
                gateway,
                &context,
                &format!("the connection could not be opened: {error}"),
            )
            .await;
            return Err(error);
        }
    };
    let masker = gateway.masking.get(&context.connection.name).cloned();
    let masked = match masker.clone() {
        Some(masker) if !may_see_unmasked(gateway, &context, &masker).await => Some(masker),
        _ => None,
    };
    let live = gateway.live.register(
        &context.session_id,
        &context.identity.subject,
        &context.identity.acting_for,
        &credential_id,
    );
    let ok = OkPacket {
        affected_rows: 0,
        last_insert_id: 0,
        status: details.status,
        warnings: 0,
        info: Vec::new(),
        session_state: Vec::new(),
    };
    let greeted = match client
        .write(next_sequence, &ok.encode(0x00, capabilities))
        .await
    {
        Ok(_) => client.flush().await,
        Err(error) => Err(error),
    };
    tracing::info!(session = %context.session_id, subject = %context.identity.subject, connection = %context.connection.name, "MySQL session started");
    let unmasked_at_start = masker.is_some() && masked.is_none();
    let mut relay = Relay::new(
        gateway,
        &context,
        client,
        server,
        (capabilities, details.capabilities),
        state,
        masked,
    );
    let result = match greeted {
        Err(error) => Err(error),
        Ok(()) => {
            let mut endings = Endings::new(terminate, live, expires_at_unix, policy_changes);
            let watched = |version: String| {
                still_allowed(
                    gateway,
                    &context,
                    masker.clone(),
                    unmasked_at_start,
                    version,
                )
            };
            tokio::select! {
                ending = relay.run() => ending,
                ended = endings.wait(watched) => Ok(Ending::Ended(ended)),
            }
        }
    };
    relay.finish(&result).await;
    let reason = ending_reason(&result, &credential_id);
    record_disconnect(gateway, &context, &reason).await;
    tracing::info!(session = %context.session_id, %reason, "MySQL session ended");
    result.map(|_| ())
}

/// The login level of `identity`'s session: by its groups as policy sees them now, or the
/// connection's own login where no levels are mapped.
async fn choose_level(gateway: &MysqlGateway, identity: &Identity, connection: &str) -> String {
    let Some(levels) = gateway.login_levels.get(connection) else {
        return ADMIN_LOGIN_LEVEL.to_owned();
    };
    let seen = gateway
        .pipeline
        .identity_with_grants(identity, connection)
        .await;
    levels.level_for(&seen.groups).to_owned()
}

/// Decide `connect`; allowed starts the recording, otherwise the refusal to send.
async fn admit(gateway: &MysqlGateway, context: &mut SessionContext) -> Result<(), String> {
    match gateway.pipeline.decide(context, &[Action::Connect]).await {
        Ok(Decision::Allow(_connect_permit)) => {
            let record_results = gateway.record_results.contains(&context.connection.name);
            context.recorder = gateway.pipeline.start_recording(context, record_results);
            Ok(())
        }
        Ok(Decision::Hold(hold)) => Err(format!(
            "gatehouse: {} (approval {}); connect again once it is approved",
            hold.message, hold.approval.id
        )),
        Ok(Decision::Deny(denial)) => {
            Err(format!("gatehouse: permission denied: {}", denial.message))
        }
        Err(error) => Err(format!("gatehouse: {error}")),
    }
}

/// Open the server session for the client's capabilities and collation, and read what the
/// session's statements are lexed by (its `sql_mode` and version).
async fn open_server(
    gateway: &MysqlGateway,
    context: &SessionContext,
    capabilities: Capabilities,
    collation: u8,
) -> Result<(PacketStream, ServerDetails, SessionState), MysqlError> {
    let request = open_request(&context.login_level, capabilities, collation);
    let opened = gateway
        .connector
        .open(&context.connection.name, &request)
        .await
        .map_err(|e| MysqlError::Upstream(e.to_string()))?;
    let details = ServerDetails::from_json(&opened.details).ok_or_else(|| {
        MysqlError::Protocol("the server session came without the server's details".into())
    })?;
    for (flag, name) in [
        (Capabilities::DEPRECATE_EOF, "DEPRECATE_EOF"),
        (Capabilities::PROTOCOL_41, "PROTOCOL_41"),
    ] {
        if capabilities.contains(flag) != details.capabilities.contains(flag) {
            return Err(MysqlError::Upstream(format!(
                "the client and the server disagree on {name}, which gatehouse does not translate"
            )));
        }
    }
    let mut server = PacketStream::new(opened.stream, gateway.limits.max_message, "server");
    server.push_received(&opened.leftover);
    if details.capabilities.contains(Capabilities::SESSION_TRACK) {
        run_query(&mut server, details.capabilities, tracking::TRACK_SESSION).await?;
    }
    let rows = run_query(
        &mut server,
        details.capabilities,
        "SELECT @@sql_mode, DATABASE()",
    )
    .await?;
    let value = |index: usize| {
        rows.first()
            .and_then(|row| row.get(index))
            .and_then(|value| value.as_deref())
            .map(|value| String::from_utf8_lossy(value).into_owned())
    };
    let sql_mode = value(0).unwrap_or_default();
    let database = value(1);
    if gatehouse_mysql_sql::SqlMode::from_server_value(&sql_mode).oracle {
        return Err(MysqlError::Refused(
            "the server's sql_mode is ORACLE, whose grammar gatehouse does not read".into(),
        ));
    }
    let charset =
        check_collation(collation).map_err(|(_, message)| MysqlError::Refused(message))?;
    let mut state = SessionState::new(
        charset,
        sql_mode,
        version_number(&details.server_version),
        capabilities.contains(Capabilities::MULTI_STATEMENTS),
    );
    state.database = database;
    Ok((server, details, state))
}

/// Whether `context`'s identity may see `masker`'s connection unmasked now.
async fn may_see_unmasked(
    gateway: &MysqlGateway,
    context: &SessionContext,
    masker: &Masker,
) -> bool {
    let in_exempt_group = masker
        .exempt_groups()
        .iter()
        .any(|group| context.identity.groups.contains(group));
    match gateway
        .pipeline
        .decide(context, &[Action::ViewUnmasked])
        .await
    {
        Ok(Decision::Allow(_)) => true,
        Ok(Decision::Deny(denial)) => in_exempt_group && denial.policies.is_empty(),
        Ok(Decision::Hold(_)) | Err(_) => false,
    }
}

/// On a policy replacement: why the session may no longer run as it started, if so.
async fn still_allowed(
    gateway: &MysqlGateway,
    context: &SessionContext,
    masker: Option<Arc<Masker>>,
    unmasked: bool,
    version: String,
) -> Option<String> {
    if let Some(reason) =
        gatehouse_session::connect_withdrawn(&gateway.pipeline, context, &version).await
    {
        return Some(reason);
    }
    if unmasked
        && let Some(masker) = masker
        && !may_see_unmasked(gateway, context, &masker).await
    {
        return Some(format!(
            "policy version {version} no longer permits `data:unmasked` on connection `{}`; connect again to continue with masked results",
            context.connection.name
        ));
    }
    None
}

/// Why the session ended, as the audit log says it.
fn ending_reason(result: &Result<Ending, MysqlError>, credential_id: &str) -> String {
    match result {
        Ok(Ending::ClientQuit) => "client quit (COM_QUIT)".to_owned(),
        Ok(Ending::ClientClosed) => "client closed the connection".to_owned(),
        Ok(Ending::Ended(EndedBy::ShutDown)) => "gatehouse shut down".to_owned(),
        Ok(Ending::Ended(EndedBy::Revoked(reason) | EndedBy::PolicyWithdrawn(reason))) => {
            format!("ended by gatehouse: {reason}")
        }
        Ok(Ending::Ended(EndedBy::CredentialExpired)) => {
            format!("ended by gatehouse: the credential {credential_id} expired")
        }
        Err(error) => format!("session failed: {error}"),
    }
}

async fn record_disconnect(gateway: &MysqlGateway, context: &SessionContext, reason: &str) {
    if let Err(error) = gateway.pipeline.record_disconnect(context, reason).await {
        tracing::error!(session = %context.session_id, %error, "disconnect could not be recorded");
    }
}
