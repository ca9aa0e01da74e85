//! One client connection as russh sees it: logging in (the login name is the connection, the
//! password or keyboard-interactive answer is the gatehouse token, or a certificate from
//! `gatehouse ssh-cert`), `connect` decided, then channels: session channels go to their own
//! task (`channel`), local port forwards (`direct-tcpip`) are decided and relayed
//! (`forward`). Handler callbacks never wait on policy or the target: that work runs in the
//! channels' tasks, so one slow decision never stalls the connection.

use crate::gateway::SshGateway;
use crate::target::{SshTarget, Upstream};
use gatehouse_core::{Action, SecretString};
use gatehouse_pipeline::{AuthError, Authenticated, Decision, SessionContext};
use russh::keys::Certificate;
use russh::server::{Auth, ChannelOpenHandle, Handle, Msg, Response, Session};
use russh::{Channel, ChannelId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{OnceCell, oneshot};

/// The keyboard-interactive prompt.
const TOKEN_PROMPT: &str = "gatehouse token: ";

/// An admitted client connection: who, to which connection, and gatehouse's login to its
/// target (made once, when the first channel needs it).
pub(crate) struct Established {
    pub context: SessionContext,
    pub accepted: Authenticated,
    pub target: Arc<SshTarget>,
    pub gateway: Arc<SshGateway>,
    pub handle: Handle,
    /// Whether policy lets the session see command output unmasked.
    pub unmasked: bool,
    /// Whether policy permitted the client's agent to be offered to the target.
    pub agent_forwarding: Arc<std::sync::atomic::AtomicBool>,
    upstream: OnceCell<Result<Arc<Upstream>, String>>,
    /// Open session channels, and whether each has a terminal (for line endings).
    channels: Mutex<HashMap<ChannelId, bool>>,
}

impl Established {
    /// gatehouse's logged-in connection to the target, or why there is none.
    pub async fn upstream(&self) -> Result<Arc<Upstream>, String> {
        self.upstream
            .get_or_init(|| async {
                let agent = crate::target_side::AgentRelay {
                    client: self.handle.clone(),
                    permitted: self.agent_forwarding.clone(),
                };
                self.target.login(agent).await.map(Arc::new).map_err(|error| {
                    tracing::warn!(connection = %self.target.info.name, %error, "SSH target login failed");
                    error.to_string()
                })
            })
            .await
            .clone()
    }

    pub fn channel_opened(&self, channel: ChannelId) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.insert(channel, false);
        }
    }

    pub fn channel_has_terminal(&self, channel: ChannelId) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.insert(channel, true);
        }
    }

    pub fn channel_closed(&self, channel: ChannelId) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.remove(&channel);
        }
    }

    /// Tell every open channel why the session ends.
    pub async fn farewell(&self, reason: &str) {
        let channels: Vec<(ChannelId, bool)> = self
            .channels
            .lock()
            .map(|channels| channels.iter().map(|(id, pty)| (*id, *pty)).collect())
            .unwrap_or_default();
        for (channel, terminal) in channels {
            let line = if terminal {
                format!("\r\ngatehouse: session ended: {reason}\r\n")
            } else {
                format!("gatehouse: session ended: {reason}\n")
            };
            let _ = self
                .handle
                .extended_data(channel, crate::channel::STDERR, bytes::Bytes::from(line))
                .await;
            let _ = self.handle.exit_status_request(channel, 255).await;
            let _ = self.handle.eof(channel).await;
            let _ = self.handle.close(channel).await;
        }
    }

    /// Log out of the target, if gatehouse logged in.
    pub async fn close_upstream(&self) {
        if let Some(Ok(upstream)) = self.upstream.get() {
            let _ = upstream
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }
}

/// What the login step established, until russh says the login succeeded.
struct Admitted {
    context: SessionContext,
    accepted: Authenticated,
    target: Arc<SshTarget>,
    unmasked: bool,
}

/// The russh handler of one client connection.
pub(crate) struct ClientHandler {
    gateway: Arc<SshGateway>,
    peer: SocketAddr,
    admitted: Option<Admitted>,
    established: Option<Arc<Established>>,
    announce: Option<oneshot::Sender<Arc<Established>>>,
}

impl ClientHandler {
    pub fn new(
        gateway: Arc<SshGateway>,
        peer: SocketAddr,
        announce: oneshot::Sender<Arc<Established>>,
    ) -> Self {
        ClientHandler {
            gateway,
            peer,
            admitted: None,
            established: None,
            announce: Some(announce),
        }
    }

    /// Admit `user` (the connection) with what the credential check said, deciding `connect`.
    async fn admit(&mut self, user: &str, accepted: Result<Authenticated, AuthError>) -> Auth {
        let pipeline = &self.gateway.pipeline;
        let Some(target) = self.gateway.targets.get(user).cloned() else {
            let _ = pipeline
                .record_auth_failure(
                    Some(self.peer.ip()),
                    Some(user),
                    format!("no SSH connection named `{user}` (the login name is the connection)"),
                )
                .await;
            return Auth::reject();
        };
        let accepted = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                let _ = pipeline
                    .record_auth_failure(Some(self.peer.ip()), Some(user), error.to_string())
                    .await;
                return Auth::reject();
            }
        };
        let identity = pipeline
            .identity_with_grants(&accepted.identity, &target.info.name)
            .await;
        let mut context = SessionContext::new(
            gatehouse_session::new_session_id(),
            identity,
            target.info.clone(),
            gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
            Some(self.peer.ip()),
        );
        match pipeline.decide(&context, &[Action::Connect]).await {
            Ok(Decision::Allow(_)) => {
                let unmasked =
                    gatehouse_session::token_sessions::may_see_unmasked(pipeline, &context).await;
                context.recorder = pipeline.start_recording(&context, false);
                self.admitted = Some(Admitted {
                    context,
                    accepted,
                    target,
                    unmasked,
                });
                Auth::Accept
            }
            Ok(Decision::Deny(_) | Decision::Hold(_)) => Auth::reject(),
            Err(error) => {
                tracing::warn!(%error, "an SSH login could not be decided; refused");
                Auth::reject()
            }
        }
    }

    async fn admit_token(&mut self, user: &str, token: &str) -> Auth {
        let presented = SecretString::new(token.trim());
        let accepted = self
            .gateway
            .authenticator
            .authenticate_credential(&presented)
            .await;
        self.admit(user, accepted).await
    }
}

impl russh::server::Handler for ClientHandler {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(self.admit_token(user, password).await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: Cow::Borrowed("gatehouse"),
                instructions: Cow::Borrowed(
                    "Answer with a gatehouse token (`gatehouse token` prints yours).",
                ),
                prompts: Cow::Owned(vec![(Cow::Borrowed(TOKEN_PROMPT), false)]),
            });
        };
        let answer = response
            .next()
            .map(|answer| String::from_utf8_lossy(&answer).into_owned())
            .unwrap_or_default();
        Ok(self.admit_token(user, &answer).await)
    }

    async fn auth_publickey(
        &mut self,
        _user: &str,
        _key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        // Plain keys name nobody to gatehouse: only its certificates do.
        Ok(Auth::reject())
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        let accepted = match &self.gateway.certificates {
            Some(logins) => logins.admit(certificate).await,
            None => Err(AuthError::Unknown),
        };
        Ok(self.admit(user, accepted).await)
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        if let Some(admitted) = self.admitted.take() {
            let established = Arc::new(Established {
                context: admitted.context,
                accepted: admitted.accepted,
                target: admitted.target,
                gateway: self.gateway.clone(),
                handle: session.handle(),
                unmasked: admitted.unmasked,
                agent_forwarding: Arc::default(),
                upstream: OnceCell::new(),
                channels: Mutex::new(HashMap::new()),
            });
            if let Some(announce) = self.announce.take() {
                let _ = announce.send(established.clone());
            }
            self.established = Some(established);
        }
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(established) = self.established.clone() else {
            return Ok(());
        };
        reply.accept().await;
        established.channel_opened(channel.id());
        tokio::spawn(crate::channel::SessionChannel::run(established, channel));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(established) = self.established.clone() else {
            return Ok(());
        };
        tokio::spawn(crate::forward::forward(
            established,
            channel,
            reply,
            crate::forward::Destination {
                host: host_to_connect.to_owned(),
                port: port_to_connect,
                originator_address: originator_address.to_owned(),
                originator_port,
            },
        ));
        Ok(())
    }
}
