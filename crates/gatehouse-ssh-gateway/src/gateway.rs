//! The SSH listener: one russh server session per client connection, admitted by the
//! handler (`handler`), then kept until the client leaves or something ends it — shutdown,
//! a revocation, a replaced policy that withdrew `connect`, or the session's maximum length —
//! in which case every open channel is told why before the connection is closed.

use crate::handler::{ClientHandler, Established};
use crate::target::SshTarget;
use gatehouse_pipeline::{Authenticator, Pipeline};
use gatehouse_session::{EndedBy, Endings, ListenerLimits, LiveSessions, Slot};
use russh::keys::PrivateKey;
use russh::server::Config;
use russh::{MethodKind, MethodSet};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

/// What the adapter's sessions share.
pub struct SshGateway {
    pub pipeline: Pipeline,
    pub authenticator: Arc<dyn Authenticator>,
    /// The connections clients may name as their login name.
    pub targets: HashMap<String, Arc<SshTarget>>,
    pub live: Arc<LiveSessions>,
    /// gatehouse's host key, which clients pin.
    pub host_key: PrivateKey,
    /// Certificates `gatehouse ssh-cert` issued, when the user CA is configured.
    pub certificates: Option<crate::certificates::CertificateLogins>,
    pub limits: SshLimits,
    /// What masks command output for identities without `data:unmasked`.
    pub masker: Arc<gatehouse_mask::Masker>,
}

/// Bounds on the SSH listener.
#[derive(Debug, Clone)]
pub struct SshLimits {
    pub max_sessions: usize,
    /// How long a session may last, whatever its token's expiry (never past a revocation).
    pub max_session_length: Duration,
    /// How long a client may take from connecting to being logged in.
    pub login_time: Duration,
    pub shutdown_grace: Duration,
}

impl Default for SshLimits {
    fn default() -> Self {
        SshLimits {
            max_sessions: 256,
            max_session_length: Duration::from_secs(8 * 3600),
            login_time: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serve SSH clients on `listener` until `shutdown`.
pub async fn serve(
    gateway: Arc<SshGateway>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) {
    let config = Arc::new(server_config(
        gateway.host_key.clone(),
        gateway.certificates.is_some(),
    ));
    let limits = ListenerLimits {
        protocol: "ssh",
        max_sessions: gateway.limits.max_sessions,
        shutdown_grace: gateway.limits.shutdown_grace,
    };
    gatehouse_session::serve(
        listener,
        limits,
        shutdown,
        move |client, peer, slot, terminate| {
            connection(
                gateway.clone(),
                config.clone(),
                client,
                peer,
                slot,
                terminate,
            )
        },
    )
    .await;
}

/// The SSH server's settings: gatehouse's host key, the login methods it offers (public
/// keys only when certificate logins are on), and bounds on logging in.
pub(crate) fn server_config(host_key: PrivateKey, certificates: bool) -> Config {
    let methods = if certificates {
        MethodSet::from(
            &[
                MethodKind::PublicKey,
                MethodKind::KeyboardInteractive,
                MethodKind::Password,
            ][..],
        )
    } else {
        MethodSet::from(&[MethodKind::KeyboardInteractive, MethodKind::Password][..])
    };
    Config {
        server_id: russh::SshId::Standard("SSH-2.0-gatehouse".into()),
        methods,
        auth_rejection_time: Duration::from_millis(300),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![host_key],
        max_auth_attempts: 6,
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        nodelay: true,
        ..Config::default()
    }
}

async fn connection(
    gateway: Arc<SshGateway>,
    config: Arc<Config>,
    client: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    terminate: watch::Receiver<bool>,
) {
    let Slot::Session(_permit) = slot else {
        tracing::warn!(%peer, "SSH client refused: the listener has no free session slot");
        return;
    };
    let policy_changes = gateway.pipeline.policy_changes();
    let (announce, established) = oneshot::channel();
    let handler = ClientHandler::new(gateway.clone(), peer, announce);
    let Ok(running) = russh::server::run_stream(config, client, handler).await else {
        return;
    };
    let handle = running.handle();
    tokio::pin!(running);
    let established: Arc<Established> = tokio::select! {
        _ = &mut running => return,
        established = established => match established {
            Ok(established) => established,
            Err(_) => {
                let _ = (&mut running).await;
                return;
            }
        },
        _ = tokio::time::sleep(gateway.limits.login_time) => {
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "gatehouse: no login in time".into(),
                    "en".into(),
                )
                .await;
            return;
        }
    };
    let context = established.context.clone();
    let registration = gateway.live.register(
        &context.session_id,
        &context.identity.subject,
        &context.identity.acting_for,
        &established.accepted.credential_id,
    );
    let deadline = gatehouse_pipeline::now_unix_ms() / 1000
        + i64::try_from(gateway.limits.max_session_length.as_secs()).unwrap_or(i64::MAX / 2);
    let mut endings = Endings::new(terminate, registration, Some(deadline), policy_changes);
    let pipeline = gateway.pipeline.clone();
    let ended = tokio::select! {
        _ = &mut running => None,
        ended = endings.wait(|version| {
            let pipeline = pipeline.clone();
            let context = context.clone();
            async move { gatehouse_session::connect_withdrawn(&pipeline, &context, &version).await }
        }) => Some(ended),
    };
    let reason = match ended {
        None => "client closed the connection".to_owned(),
        Some(ended) => {
            let reason = match ended {
                EndedBy::ShutDown => "gatehouse shut down".to_owned(),
                EndedBy::CredentialExpired => format!(
                    "the session reached its maximum length ({})",
                    humanize(gateway.limits.max_session_length)
                ),
                EndedBy::Revoked(reason) | EndedBy::PolicyWithdrawn(reason) => reason,
            };
            established.farewell(&reason).await;
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    format!("gatehouse: session ended: {reason}"),
                    "en".into(),
                )
                .await;
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut running).await;
            reason
        }
    };
    established.close_upstream().await;
    let _ = gateway
        .pipeline
        .record_disconnect(&established.context, &reason)
        .await;
}

fn humanize(length: Duration) -> String {
    let seconds = length.as_secs();
    if seconds.is_multiple_of(3600) {
        format!("{}h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}
