//! One client session after authentication: the `connect` decision, opening the server
//! session, and the relay in both directions until either side ends.
//!
//! The relay is two loops run concurrently: `inbound` (client → server) decodes and decides,
//! `outbound` (server → client) relays responses. Only `outbound` writes to the client once
//! the session is running, so responses can never be reordered: when a request is refused,
//! `inbound` sends the server a harmless request that is certain to fail at that exact point
//! (a "refusal marker"), and `outbound` replaces the server's error for it with gatehouse's
//! refusal. The server's own error handling (discard until Sync, transaction state) then
//! stays exactly PostgreSQL's.

mod hold;
mod inbound;
mod mask_responses;
mod outbound;
mod policy_watch;
mod refusals;
mod results;
mod server_model;
mod statement_context;
mod transaction_scope;

use crate::connector::{BackendKey, UpstreamSession};
use crate::encoding::TextEncoding;
use crate::handshake::Accepted;
use crate::startup_settings::StartupSetting;
use crate::wire::tags::{frontend, transaction_status};
use crate::wire::{self, FrameReader, Severity};
use crate::{ConnectionMasking, PgError, PgGateway};
use gatehouse_core::Action;
use gatehouse_pipeline::{Decision, SessionContext};
use gatehouse_session::{EndedBy, Endings, WokenOnly};
use mask_responses::ResponseMasker;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

pub(crate) use refusals::Shared;

/// How long a session that failed keeps reading (and discarding) client input after sending
/// its error, so that the client reads the error rather than a reset.
const LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// How a session ended, for the audit log.
enum Ending {
    ClientTerminated,
    ClientClosed,
    /// The server closed the connection; `explained`: after sending the client a FATAL
    /// error that says why.
    ServerClosed {
        explained: bool,
    },
    /// Ended from outside: shutdown, revocation, expiry, a policy that withdrew it.
    Ended(EndedBy),
}

/// Run an accepted client's session to its end: admit it (`connect`), open its server
/// session, greet the client, relay until either side or gatehouse ends it, and record why.
pub(crate) async fn run(
    gateway: &PgGateway,
    accepted: Accepted,
    peer: Option<IpAddr>,
    terminate: watch::Receiver<bool>,
) -> Result<(), PgError> {
    let Accepted {
        stream,
        leftover,
        identity,
        credential,
        connection,
        settings,
    } = accepted;
    // Subscribed before the first decision, so a replacement after it is never missed.
    let policy_changes = gateway.pipeline.policy_changes();
    let login_level = crate::logins::choose(gateway, &identity, &connection.name).await;
    let mut context = SessionContext::new(
        gatehouse_session::new_session_id(),
        identity,
        connection,
        login_level,
        peer,
    );
    let mut client = FrameReader::from_parts(
        stream,
        leftover,
        gateway.settings.max_client_message,
        "client",
    );
    if !admit(gateway, &mut client, &mut context).await? {
        return Ok(());
    }
    let Some((upstream, text_encoding)) =
        open_server(gateway, &mut client, &context, settings).await?
    else {
        return Ok(());
    };
    let UpstreamSession {
        stream: server_stream,
        parameters,
        key,
        leftover: server_leftover,
    } = upstream;
    let connection_masking = gateway
        .connection_settings
        .current()
        .masking
        .get(&context.connection.name)
        .cloned();
    let masking = session_masking(gateway, &context, connection_masking.clone())
        .await
        .map(|masking| SessionMasking {
            masking,
            encoding: text_encoding,
        });
    let live = gateway.live.register(
        &context.session_id,
        &context.identity.subject,
        &context.identity.acting_for,
        &credential.id,
    );
    let registered = key.map(|k| gateway.cancels.register(&context.connection.name, k));
    let client_key = registered.as_ref().map(|(key, _)| *key);
    let interrupted = match registered {
        Some((_, interrupted)) => interrupted,
        // No cancel key was handed out, so no cancel request can arrive.
        None => watch::channel(0).1,
    };
    let greeting = greeting(&parameters, client_key);
    let sent = match client.get_mut().write_all(&greeting).await {
        Ok(()) => client.get_mut().flush().await,
        Err(error) => Err(error),
    };
    tracing::info!(
        session = %context.session_id,
        subject = %context.identity.subject,
        connection = %context.connection.name,
        "session started"
    );
    metrics::gauge!("gatehouse_pg_sessions_active").increment(1.0);

    let result = match sent {
        Ok(()) => {
            relay(
                gateway,
                &context,
                (connection_masking, masking, text_encoding),
                client,
                (server_stream, server_leftover),
                interrupted,
                Endings::new(terminate, live, credential.expires_at_unix, policy_changes),
            )
            .await
        }
        Err(error) => Err(PgError::Io(error)),
    };
    metrics::gauge!("gatehouse_pg_sessions_active").decrement(1.0);
    close(
        gateway,
        &context,
        &result,
        (key, client_key),
        &credential.id,
    )
    .await;
    result.map(|_| ())
}

/// Decide `connect`: allowed starts the session's recording (`true`); held or denied tells
/// the client why (`false`); a failure to decide ends the session with an error.
async fn admit(
    gateway: &PgGateway,
    client: &mut FrameReader<Box<dyn crate::Stream>>,
    context: &mut SessionContext,
) -> Result<bool, PgError> {
    match gateway.pipeline.decide(context, &[Action::Connect]).await {
        Ok(Decision::Allow(_connect_permit)) => {
            let record_results = gateway
                .connection_settings
                .current()
                .record_results
                .contains(&context.connection.name);
            context.recorder = gateway.pipeline.start_recording(context, record_results);
            Ok(true)
        }
        Ok(Decision::Hold(hold)) => {
            // Held connects do not wait: the client connects again once it is approved.
            let message = format!("gatehouse: {}", hold.message);
            send_fatal(
                client,
                "42501",
                &message,
                Some("connect again once it is approved"),
            )
            .await;
            Ok(false)
        }
        Ok(Decision::Deny(denial)) => {
            let message = format!("gatehouse: permission denied: {}", denial.message);
            let detail = denial.client_detail();
            send_fatal(client, "42501", &message, Some(&detail)).await;
            Ok(false)
        }
        Err(error) => {
            send_fatal(client, "58000", &format!("gatehouse: {error}"), None).await;
            Err(PgError::Upstream(error.to_string()))
        }
    }
}

/// Decide the client's startup settings, open the server session with the settings passed
/// through, and read its text encoding. `None` when a setting was refused (the client was
/// told); an error when the server session could not be opened or read (the client was told
/// too). Every refusal is recorded as the session's disconnect.
async fn open_server(
    gateway: &PgGateway,
    client: &mut FrameReader<Box<dyn crate::Stream>>,
    context: &SessionContext,
    settings: Vec<StartupSetting>,
) -> Result<Option<(UpstreamSession, TextEncoding)>, PgError> {
    if let Err((sqlstate, message, detail)) =
        decide_startup_settings(gateway, context, &settings).await
    {
        send_fatal(client, sqlstate, &message, detail.as_deref()).await;
        record_disconnect(gateway, context, &message).await;
        return Ok(None);
    }
    let passthrough: Vec<(String, String)> = settings
        .into_iter()
        .map(|setting| (setting.name, setting.value))
        .collect();
    let upstream = match gateway
        .connector
        .open(&context.connection.name, &context.login_level, &passthrough)
        .await
    {
        Ok(upstream) => upstream,
        Err(error) => {
            let message = format!(
                "gatehouse could not open connection `{}`: {error}",
                context.connection.name
            );
            send_fatal(client, error.sqlstate(), &message, None).await;
            let reason = format!("the connection could not be opened: {error}");
            record_disconnect(gateway, context, &reason).await;
            return Err(error);
        }
    };
    match TextEncoding::from_parameters(&upstream.parameters) {
        Ok(encoding) => Ok(Some((upstream, encoding))),
        Err(refusal) => {
            send_fatal(client, "0A000", &format!("gatehouse: {refusal}"), None).await;
            let reason = format!("the session's SQL could not be read: {refusal}");
            record_disconnect(gateway, context, &reason).await;
            Err(PgError::Unreadable(refusal))
        }
    }
}

/// What the client gets once its session is open: authentication done, the server's
/// parameters, the cancel key gatehouse hands out (never the server's), ready.
fn greeting(parameters: &[(String, String)], client_key: Option<BackendKey>) -> bytes::BytesMut {
    let mut greeting = bytes::BytesMut::new();
    greeting.extend_from_slice(&wire::authentication(0, &[]));
    for (name, value) in parameters {
        greeting.extend_from_slice(&wire::parameter_status(name, value));
    }
    if let Some(BackendKey { process_id, secret }) = client_key {
        greeting.extend_from_slice(&wire::backend_key_data(process_id, secret));
    }
    greeting.extend_from_slice(&wire::ready_for_query(transaction_status::IDLE));
    greeting
}

/// After the relay: cancel what still runs on the server when gatehouse ended the session,
/// forget the session's cancel key, and record why it ended. `keys` are the server's and the
/// one handed to the client.
async fn close(
    gateway: &PgGateway,
    context: &SessionContext,
    result: &Result<Ending, PgError>,
    (server_key, client_key): (Option<BackendKey>, Option<BackendKey>),
    credential_id: &str,
) {
    if matches!(
        result,
        Ok(Ending::Ended(
            EndedBy::Revoked(_) | EndedBy::CredentialExpired | EndedBy::PolicyWithdrawn(_)
        ))
    ) && let Some(backend) = server_key
    {
        // A statement still running must not finish on a credential that is no longer good.
        if let Err(error) = gateway
            .connector
            .cancel(&context.connection.name, backend)
            .await
        {
            tracing::warn!(session = %context.session_id, %error, "the running statement of an ended session could not be cancelled");
        }
    }
    if let Some(key) = client_key {
        gateway.cancels.unregister(key);
    }
    let reason = ending_reason(result, credential_id);
    record_disconnect(gateway, context, &reason).await;
    tracing::info!(session = %context.session_id, %reason, "session ended");
}

/// Why the session ended, as the audit log says it.
fn ending_reason(result: &Result<Ending, PgError>, credential_id: &str) -> String {
    match result {
        Ok(Ending::ClientTerminated) => "client terminated the session".to_owned(),
        Ok(Ending::ClientClosed) => "client closed the connection".to_owned(),
        Ok(Ending::ServerClosed { .. }) => "server closed the connection".to_owned(),
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

/// Record the session's disconnect; a failure is logged (the session is over either way).
async fn record_disconnect(gateway: &PgGateway, context: &SessionContext, reason: &str) {
    if let Err(error) = gateway.pipeline.record_disconnect(context, reason).await {
        tracing::error!(session = %context.session_id, %error, "disconnect could not be recorded");
    }
}

/// Decide the settings the client asked for at startup that need a decision of their own, as
/// the `SET` statements they are; the error to end the session with when one is refused.
async fn decide_startup_settings(
    gateway: &PgGateway,
    context: &SessionContext,
    settings: &[StartupSetting],
) -> Result<(), (&'static str, String, Option<String>)> {
    let decided: Vec<&StartupSetting> = settings.iter().filter(|s| s.needs_decision()).collect();
    if decided.is_empty() {
        return Ok(());
    }
    let actions: Vec<Action> = decided
        .iter()
        .map(|setting| Action::of(setting.statement.clone()))
        .collect();
    let named = |action: &str| {
        decided
            .iter()
            .find(|s| s.statement.kind.action_name() == action)
            .map(|s| format!("startup parameter `{}={}`", s.name, s.value))
            .unwrap_or_else(|| "a startup parameter".to_owned())
    };
    match gateway.pipeline.decide(context, &actions).await {
        Ok(Decision::Allow(_permit)) => Ok(()),
        Ok(Decision::Deny(denial)) => Err((
            "42501",
            format!(
                "gatehouse: permission denied: {} is decided as `{}`: {}",
                named(&denial.action),
                denial.action,
                denial.message
            ),
            Some(format!(
                "{}\nconnect without it, or set it with SET once connected",
                denial.client_detail()
            )),
        )),
        Ok(Decision::Hold(hold)) => Err((
            "42501",
            format!(
                "gatehouse: {} needs approval: {}",
                named(&hold.action),
                hold.message
            ),
            Some("connect without it, or run the SET once connected and approved".to_owned()),
        )),
        Err(error) => Err(("58000", format!("gatehouse: {error}"), None)),
    }
}

/// A masked session's masking, and the encoding its results arrive in at the start (the
/// masker follows the server's reports from there).
struct SessionMasking {
    masking: Arc<ConnectionMasking>,
    encoding: TextEncoding,
}

impl SessionMasking {
    fn response_masker(&self) -> ResponseMasker<'_> {
        ResponseMasker::new(&self.masking, self.encoding)
    }
}

/// The masking this session's results get: the connection's (`connection_masking`), unless
/// the identity may see the data unmasked — policy permits `data:unmasked`, or the identity
/// is in one of the masking's `exempt_groups` and no policy forbids it. Any failure to decide
/// means masked.
async fn session_masking(
    gateway: &PgGateway,
    context: &SessionContext,
    connection_masking: Option<Arc<ConnectionMasking>>,
) -> Option<Arc<ConnectionMasking>> {
    let masking = connection_masking?;
    let exempt = may_see_unmasked(gateway, context, &masking).await;
    (!exempt).then_some(masking)
}

/// Whether `context`'s identity may see `masking`'s connection unmasked now.
async fn may_see_unmasked(
    gateway: &PgGateway,
    context: &SessionContext,
    masking: &ConnectionMasking,
) -> bool {
    let in_exempt_group = masking
        .masker
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
        // Seeing data unmasked is not something to wait for: masked until approved.
        Ok(Decision::Hold(_)) => false,
        Err(_) => false,
    }
}

async fn relay(
    gateway: &PgGateway,
    context: &SessionContext,
    (connection_masking, masking, text_encoding): (
        Option<Arc<ConnectionMasking>>,
        Option<SessionMasking>,
        TextEncoding,
    ),
    client: FrameReader<Box<dyn crate::Stream>>,
    (server, server_leftover): (Box<dyn crate::Stream>, bytes::BytesMut),
    interrupted: watch::Receiver<u64>,
    mut endings: Endings<'_>,
) -> Result<Ending, PgError> {
    let started_with = masking.as_ref().map(|session| session.masking.clone());
    let (client_io, client_buffer) = client.into_parts();
    let (client_read, mut client_write) = tokio::io::split(client_io);
    let (server_read, mut server_write) = tokio::io::split(server);
    let client_reader = FrameReader::from_parts(
        client_read,
        client_buffer,
        gateway.settings.max_client_message,
        "client",
    );
    let server_reader = FrameReader::from_parts(
        server_read,
        server_leftover,
        gateway.settings.max_server_message,
        "server",
    );
    let shared = Shared::default();
    shared.set_text_encoding(text_encoding);
    let mut inbound = inbound::Inbound::new(
        gateway,
        context,
        client_reader,
        &shared,
        started_with.clone(),
        interrupted,
    );
    let mut answers = outbound::OutboundState::new(context);
    // Each direction is polled only when its own socket or signal woke the task, not on
    // every wake-up of the other.
    let outcome = tokio::select! {
        ending = WokenOnly::new(inbound.run(&mut server_write)) => ending,
        ending = WokenOnly::new(outbound::run(server_reader, &mut client_write, &shared, &gateway.pipeline, context, masking.as_ref().map(SessionMasking::response_masker), &mut answers)) => ending,
        ended = endings.wait(|version| policy_watch::withdrawn(gateway, context, (connection_masking.as_ref(), started_with.is_none()), version)) => Ok(Ending::Ended(ended)),
    };
    let farewell = match &outcome {
        Ok(Ending::Ended(EndedBy::ShutDown)) => Some(wire::error_response(
            Severity::Fatal,
            "57P01",
            "terminating connection because gatehouse is shutting down",
            None,
            None,
        )),
        Ok(Ending::Ended(EndedBy::Revoked(reason))) => Some(wire::error_response(
            Severity::Fatal,
            "57P01",
            &format!("terminating connection: {reason}"),
            None,
            Some("ask an administrator why; `gatehouse identities list` shows revoked identities"),
        )),
        Ok(Ending::Ended(EndedBy::PolicyWithdrawn(reason))) => Some(wire::error_response(
            Severity::Fatal,
            "57P01",
            &format!("terminating connection: {reason}"),
            None,
            Some(
                "the gateway's policy was reloaded; `gatehouse policy check` shows what it decides for you now",
            ),
        )),
        Ok(Ending::Ended(EndedBy::CredentialExpired)) => Some(wire::error_response(
            Severity::Fatal,
            "28000",
            &format!(
                "terminating connection: the credential of `{}` expired",
                context.identity.subject
            ),
            None,
            Some(
                "get a fresh token (`gatehouse token`, or `gatehouse connect` which refreshes it) and connect again",
            ),
        )),
        Ok(Ending::ServerClosed { explained: false }) => Some(wire::error_response(
            Severity::Fatal,
            "08006",
            &format!(
                "the server of connection `{}` closed the connection",
                context.connection.name
            ),
            None,
            None,
        )),
        Ok(_) => None,
        Err(error) => Some(wire::error_response(
            Severity::Fatal,
            error.sqlstate(),
            &format!("gatehouse ended the session: {error}"),
            None,
            None,
        )),
    };
    if let Some(farewell) = farewell {
        let _ = client_write.write_all(&farewell).await;
    }
    let _ = client_write.shutdown().await;
    if outcome.is_err() {
        let limit = gateway.settings.max_client_message.saturating_mul(2);
        let _ = tokio::time::timeout(LINGER, inbound.discard_client_input(limit)).await;
    }
    let _ = server_write
        .write_all(&wire::raw_message(frontend::TERMINATE, &[]))
        .await;
    let _ = server_write.shutdown().await;
    // Statements forwarded but never answered still get an outcome event.
    for finished in answers.model.abandon(&shared.sent) {
        answers.results.settle(finished, None);
    }
    outbound::record(&gateway.pipeline, context, &mut answers.results);
    outcome
}

async fn send_fatal(
    client: &mut FrameReader<Box<dyn crate::Stream>>,
    sqlstate: &str,
    message: &str,
    detail: Option<&str>,
) {
    let error = wire::error_response(Severity::Fatal, sqlstate, message, detail, None);
    let _ = client.get_mut().write_all(&error).await;
    let _ = client.get_mut().flush().await;
}
