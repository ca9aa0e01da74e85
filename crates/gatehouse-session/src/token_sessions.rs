//! Sessions on a client connection that carries many requests, each with its own bearer token
//! (HTTP/1.1 keep-alive, HTTP/2 — Kubernetes and HTTP API clients). Each token presented for
//! a connection opens one session: `connect` and `data:unmasked` are decided once, and
//! revocation, the token's expiry, shutdown or a replaced policy that withdraws either ends it
//! by cutting the whole client connection (an open watch or event stream stops at once).
//! A connection presents the same token request after request, so the token last accepted is
//! remembered (by its SHA-256) until it expires.

use crate::{EndedBy, Endings, LiveSessions};
use gatehouse_core::{Action, ConnectionInfo, SecretString};
use gatehouse_pipeline::{Authenticated, Authenticator, Decision, Pipeline, SessionContext};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// What every token session of a listener needs.
#[derive(Clone)]
pub struct SessionServices {
    pub pipeline: Pipeline,
    pub authenticator: Arc<dyn Authenticator>,
    pub live: Arc<LiveSessions>,
    /// Turns true when gatehouse shuts down.
    pub shutdown: watch::Receiver<bool>,
}

/// Ends the client connection the sessions live on.
pub type CutConnection = Arc<dyn Fn() + Send + Sync>;

/// One client connection's token sessions.
pub struct TokenSessions {
    services: SessionServices,
    peer: IpAddr,
    cut: CutConnection,
    /// Sessions by (credential id, connection name).
    sessions: tokio::sync::Mutex<HashMap<(String, String), Arc<TokenSession>>>,
    /// The last token accepted on this connection (its SHA-256) and what it was accepted as.
    accepted: Mutex<Option<([u8; 32], Authenticated)>>,
}

/// One token's session on one connection.
pub struct TokenSession {
    pub context: SessionContext,
    /// Whether the identity may see data unmasked.
    pub unmasked: bool,
    /// Why the session ended, once it has.
    ended: Arc<Mutex<Option<String>>>,
    watcher: tokio::task::JoinHandle<()>,
}

/// Why a session was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRefused {
    /// Policy does not let the identity connect (or holds it): the sentence to show.
    Denied(String),
    /// `connect` could not be decided.
    Undecided(String),
}

impl TokenSessions {
    pub fn new(services: SessionServices, peer: IpAddr, cut: CutConnection) -> Self {
        TokenSessions {
            services,
            peer,
            cut,
            sessions: Default::default(),
            accepted: Default::default(),
        }
    }

    /// What the presented bearer token was accepted as; `None` (a 401, the failure audited
    /// naming `connection` when known) for no token or one that is not accepted.
    pub async fn authenticate(
        &self,
        presented: Option<SecretString>,
        connection: Option<&str>,
    ) -> Option<Authenticated> {
        let pipeline = &self.services.pipeline;
        let Some(presented) = presented else {
            let _ = pipeline
                .record_auth_failure(Some(self.peer), connection, "no bearer token".to_owned())
                .await;
            return None;
        };
        let digest: [u8; 32] = Sha256::digest(presented.expose().as_bytes()).into();
        if let Some(accepted) = self.recently_accepted(&digest) {
            return Some(accepted);
        }
        match self
            .services
            .authenticator
            .authenticate_credential(&presented)
            .await
        {
            Ok(accepted) => {
                *self.accepted.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((digest, accepted.clone()));
                Some(accepted)
            }
            Err(error) => {
                let _ = pipeline
                    .record_auth_failure(Some(self.peer), connection, error.to_string())
                    .await;
                None
            }
        }
    }

    /// The credential this connection's last token was accepted as, if `digest` is that
    /// token's and it has not expired. What would refuse it later — revocation, expiry — ends
    /// its session and cuts this connection.
    fn recently_accepted(&self, digest: &[u8; 32]) -> Option<Authenticated> {
        let accepted = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        let (known, credential) = accepted.as_ref()?;
        let unexpired = credential
            .expires_at_unix
            .is_none_or(|expiry| expiry > gatehouse_pipeline::now_unix_ms() / 1000);
        (known == digest && unexpired).then(|| credential.clone())
    }

    /// This token's session on `connection`, opened (with its `connect` decision) on first
    /// use.
    pub async fn session(
        &self,
        accepted: &Authenticated,
        connection: &Arc<ConnectionInfo>,
    ) -> Result<Arc<TokenSession>, SessionRefused> {
        let key = (accepted.credential_id.clone(), connection.name.clone());
        let mut sessions = self.sessions.lock().await;
        if let Some(session) = sessions.get(&key) {
            return Ok(session.clone());
        }
        let pipeline = &self.services.pipeline;
        let policy_changes = pipeline.policy_changes();
        let mut context = SessionContext::new(
            crate::new_session_id(),
            accepted.identity.clone(),
            connection.clone(),
            String::new(),
            Some(self.peer),
        );
        match pipeline.decide(&context, &[Action::Connect]).await {
            Ok(Decision::Allow(_)) => {}
            Ok(Decision::Deny(denial)) => return Err(SessionRefused::Denied(denial.message)),
            Ok(Decision::Hold(hold)) => return Err(SessionRefused::Denied(hold.message)),
            Err(error) => return Err(SessionRefused::Undecided(error.to_string())),
        }
        context.recorder = pipeline.start_recording(&context, false);
        let unmasked = may_see_unmasked(pipeline, &context).await;
        let ended = Arc::new(Mutex::new(None));
        let watcher = tokio::spawn(watch_session(
            self.services.clone(),
            context.clone(),
            accepted.clone(),
            unmasked,
            policy_changes,
            ended.clone(),
            self.cut.clone(),
        ));
        let session = Arc::new(TokenSession {
            context,
            unmasked,
            ended,
            watcher,
        });
        sessions.insert(key, session.clone());
        Ok(session)
    }

    /// The client connection closed: stop watching its sessions and record their ends.
    pub async fn close(&self) {
        let sessions: Vec<_> = self.sessions.lock().await.drain().map(|(_, s)| s).collect();
        for session in sessions {
            session.watcher.abort();
            let reason = session
                .ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_else(|| "client closed the connection".to_owned());
            let _ = self
                .services
                .pipeline
                .record_disconnect(&session.context, &reason)
                .await;
        }
    }
}

/// Whether policy lets this session see data unmasked; any failure to decide means masked,
/// and waiting for an approval is not offered.
pub async fn may_see_unmasked(pipeline: &Pipeline, context: &SessionContext) -> bool {
    matches!(
        pipeline.decide(context, &[Action::ViewUnmasked]).await,
        Ok(Decision::Allow(_))
    )
}

/// Wait for what ends the session, then say why and cut the connection.
async fn watch_session(
    services: SessionServices,
    context: SessionContext,
    accepted: Authenticated,
    unmasked: bool,
    policy_changes: watch::Receiver<String>,
    ended: Arc<Mutex<Option<String>>>,
    cut: CutConnection,
) {
    let registration = services.live.register(
        &context.session_id,
        &context.identity.subject,
        &context.identity.acting_for,
        &accepted.credential_id,
    );
    let mut endings = Endings::new(
        services.shutdown.clone(),
        registration,
        accepted.expires_at_unix,
        policy_changes,
    );
    let pipeline = services.pipeline.clone();
    let reason = match endings
        .wait(|version| {
            let pipeline = pipeline.clone();
            let context = context.clone();
            async move {
                if let Some(reason) = crate::connect_withdrawn(&pipeline, &context, &version).await
                {
                    return Some(reason);
                }
                (unmasked && !may_see_unmasked(&pipeline, &context).await).then(|| {
                    format!("policy version {version} no longer permits `data:unmasked`; send the request again to continue with masked data")
                })
            }
        })
        .await
    {
        EndedBy::ShutDown => "gatehouse shut down".to_owned(),
        EndedBy::CredentialExpired => "the token expired".to_owned(),
        EndedBy::Revoked(reason) | EndedBy::PolicyWithdrawn(reason) => reason,
    };
    tracing::info!(session = %context.session_id, connection = %context.connection.name, %reason, "session ended: client connection cut");
    *ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
    cut();
}
