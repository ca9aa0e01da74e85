//! A connection's target as gatehouse logs in to it: the stream to its SSH port (opened by
//! the shared connector, at the gateway or at an agent), the host key it must present (pinned:
//! an unknown or changed key refuses the session), and gatehouse's own login there — the
//! target's credential never reaches the client.

use crate::SshGatewayError;
use crate::agent_login::{AgentSaid, AgentSigner};
use crate::keys::HostKeyPin;
use crate::target_side::{AgentRelay, TargetSide};
use gatehouse_core::{ConnectionInfo, SecretString};
use gatehouse_pipeline::BoxFuture;
use gatehouse_session::{ConnectError, OpenRequest, Opened, TargetConnector};
use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How gatehouse proves itself to the target.
pub enum TargetCredential {
    PrivateKey(Arc<PrivateKey>),
    Password(SecretString),
}

/// Who gatehouse logs in as on the target, and with what.
pub enum TargetLogin {
    /// The gateway's config names the login, holds its credential and pins the host key.
    Held {
        /// The login gatehouse uses on the target (whose privileges bound every session).
        user: String,
        credential: TargetCredential,
        /// The host key the target must present.
        host_key: HostKeyPin,
    },
    /// The agents serving the connection hold the private key and, in their config, the user
    /// and the host key to pin: they say the public parts when they open the target, and sign
    /// the login's userauth request when asked (`agent_login`). The gateway holds nothing of
    /// the target.
    AtAgent,
}

/// One `kind = "ssh"` connection's target.
pub struct SshTarget {
    pub info: Arc<ConnectionInfo>,
    pub login: TargetLogin,
    /// Opens the byte stream to the target's SSH port (the agent hub for `AtAgent`).
    pub opener: Arc<dyn TargetConnector>,
    /// How long reaching and logging in to the target may take.
    pub login_time: Duration,
}

/// gatehouse's logged-in SSH connection to a target; channels are opened on it per client
/// channel.
pub(crate) type Upstream = client::Handle<TargetSide>;

impl SshTarget {
    /// Open the target's SSH port, check its host key, and log in; agent-forwarding channels
    /// the target opens back go to `agent` once policy permitted them.
    pub(crate) async fn login(&self, agent: AgentRelay) -> Result<Upstream, SshGatewayError> {
        tokio::time::timeout(self.login_time, self.login_now(agent))
            .await
            .map_err(|_| {
                SshGatewayError::Unreachable(format!("no SSH login within {:?}", self.login_time))
            })?
    }

    async fn login_now(&self, agent: AgentRelay) -> Result<Upstream, SshGatewayError> {
        let request = OpenRequest {
            kind: gatehouse_ssh::SSH.as_str().to_owned(),
            login_level: gatehouse_core::ADMIN_LOGIN_LEVEL.to_owned(),
            details: serde_json::json!({}),
        };
        let opened = self
            .opener
            .open(&self.info.name, &request)
            .await
            .map_err(|error| SshGatewayError::Unreachable(error.to_string()))?;
        let (user, host_key, agent_key) = match &self.login {
            TargetLogin::Held { user, host_key, .. } => (user.clone(), host_key.clone(), None),
            TargetLogin::AtAgent => {
                let said = AgentSaid::from_details(&opened.details)?;
                (said.user, said.host_key, Some(said.public_key))
            }
        };
        let seen = Arc::new(Mutex::new(None));
        let checker = TargetSide {
            pinned: host_key.clone(),
            seen: seen.clone(),
            agent,
        };
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            ..client::Config::default()
        });
        let mut handle = match client::connect_stream(config, opened.stream, checker).await {
            Ok(handle) => handle,
            Err(error) => {
                let presented = seen.lock().ok().and_then(|seen| seen.clone());
                return Err(match presented {
                    Some(seen) => SshGatewayError::HostKeyMismatch {
                        pinned: host_key.to_string(),
                        seen,
                    },
                    None => SshGatewayError::Ssh(error),
                });
            }
        };
        let result = match (&self.login, agent_key) {
            (
                TargetLogin::Held {
                    credential: TargetCredential::PrivateKey(key),
                    ..
                },
                _,
            ) => {
                let hash = handle.best_supported_rsa_hash().await?.flatten();
                handle
                    .authenticate_publickey(
                        user.clone(),
                        PrivateKeyWithHashAlg::new(key.clone(), hash),
                    )
                    .await?
            }
            (
                TargetLogin::Held {
                    credential: TargetCredential::Password(password),
                    ..
                },
                _,
            ) => {
                handle
                    .authenticate_password(user.clone(), password.expose())
                    .await?
            }
            (TargetLogin::AtAgent, Some(public_key)) => {
                let mut signer = AgentSigner {
                    opener: self.opener.as_ref(),
                    connection: &self.info.name,
                    public_key: &public_key,
                };
                handle
                    .authenticate_publickey_with(
                        user.clone(),
                        public_key.clone(),
                        None,
                        &mut signer,
                    )
                    .await?
            }
            (TargetLogin::AtAgent, None) => {
                return Err(SshGatewayError::AgentLogin(
                    "the agent named no public key".to_owned(),
                ));
            }
        };
        if !result.success() {
            return Err(SshGatewayError::TargetLogin { user });
        }
        Ok(handle)
    }
}

/// The built-in opener of `ssh` targets: a TCP connection to each connection's host and port.
/// The gateway uses it for the connections it dials itself; an agent for those it serves.
pub struct SshTargets {
    pub addresses: HashMap<String, (String, u16)>,
    pub connect_timeout: Duration,
}

impl TargetConnector for SshTargets {
    fn kinds(&self) -> Vec<String> {
        vec![gatehouse_ssh::SSH.as_str().to_owned()]
    }

    fn open<'a>(
        &'a self,
        connection: &'a str,
        request: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<Opened, ConnectError>> {
        Box::pin(async move {
            let (host, port) = self
                .addresses
                .get(connection)
                .filter(|_| request.kind == gatehouse_ssh::SSH.as_str())
                .ok_or_else(|| {
                    ConnectError::Unavailable(format!("no SSH target `{connection}` here"))
                })?;
            let stream = tokio::time::timeout(
                self.connect_timeout,
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await
            .map_err(|_| {
                ConnectError::Unavailable(format!(
                    "{host}:{port} did not answer within {:?}",
                    self.connect_timeout
                ))
            })?
            .map_err(|error| ConnectError::Unavailable(format!("{host}:{port}: {error}")))?;
            let _ = stream.set_nodelay(true);
            Ok(Opened {
                stream: Box::new(stream),
                details: serde_json::json!({}),
                leftover: Vec::new(),
            })
        })
    }

    fn signal<'a>(
        &'a self,
        _: &'a str,
        _: &'a OpenRequest,
    ) -> BoxFuture<'a, Result<(), ConnectError>> {
        Box::pin(async {
            Err(ConnectError::Unavailable(
                "SSH targets take no out-of-band signals".into(),
            ))
        })
    }
}
