//! The SSH listener `gatehouse serve` opens when a connection is `kind = "ssh"`: gatehouse's
//! host key and user certificate authority (created in the data directory on first start),
//! each connection's target with its pinned host key and gatehouse's login there (for a
//! connection served by agents, the agent hub opens the target and the agent signs the login),
//! and the certificates' revocation check against the store.

use crate::config::setup::Setup;
use crate::config::ssh::SSH;
use crate::server::http_listener::ListenerParts;
use anyhow::{Context, Result};
use gatehouse_pipeline::{AuthError, BoxFuture};
use gatehouse_ssh_gateway::{CertificateLogins, CredentialStatus, SshGateway, SshTargets};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The bound SSH listener and what serves it.
pub struct SshListener {
    pub address: SocketAddr,
    listener: TcpListener,
    gateway: Arc<SshGateway>,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

impl SshListener {
    pub async fn serve(self) {
        gatehouse_ssh_gateway::serve(self.gateway, self.listener, self.shutdown).await;
    }
}

/// The SSH user CA of this data directory (created when missing).
pub fn user_authority(setup: &Setup) -> Result<russh::keys::PrivateKey> {
    let path = setup.config.ssh.user_ca_path(&setup.data_dir);
    gatehouse_ssh_gateway::keys::load_or_create(&path, "gatehouse user CA")
        .with_context(|| "the SSH user certificate authority")
}

/// gatehouse's SSH host key of this data directory (created when missing).
pub fn host_key(setup: &Setup) -> Result<russh::keys::PrivateKey> {
    let path = setup.config.ssh.host_key_path(&setup.data_dir);
    gatehouse_ssh_gateway::keys::load_or_create(&path, "gatehouse host key")
        .with_context(|| "the SSH host key")
}

/// The certificate logins of this gateway: its user CA, checked against `store`.
pub fn certificate_logins(
    setup: &Setup,
    store: &gatehouse_store::Store,
) -> Result<CertificateLogins> {
    Ok(CertificateLogins::new(
        user_authority(setup)?,
        Arc::new(StoreCredentialStatus {
            store: store.clone(),
        }),
    ))
}

/// What the admin API's `/v1/ssh` endpoints need to issue certificates and tell clients how to
/// reach the SSH listener: the same user CA and host key the listener uses, where it is bound,
/// its connections, and the pipeline whose policy in force says which ones a caller may use.
pub struct SshIssuer {
    pub logins: CertificateLogins,
    pub host_key: russh::keys::PublicKey,
    pub listen: SocketAddr,
    pub connections: Vec<gatehouse_core::ConnectionInfo>,
    pub pipeline: gatehouse_pipeline::Pipeline,
    /// `[ssh] certificate_validity`: the longest a certificate lasts.
    pub longest: std::time::Duration,
}

impl SshIssuer {
    /// The issuer of the SSH listener bound at `listen` (after [`prepare`] created the keys).
    pub fn new(
        setup: &Setup,
        store: &gatehouse_store::Store,
        pipeline: gatehouse_pipeline::Pipeline,
        listen: SocketAddr,
    ) -> Result<SshIssuer> {
        Ok(SshIssuer {
            logins: certificate_logins(setup, store)?,
            host_key: host_key(setup)?.public_key().clone(),
            listen,
            connections: setup
                .config
                .connections
                .iter()
                .filter(|c| c.kind == SSH)
                .map(|c| c.info())
                .collect(),
            pipeline,
            longest: setup.config.ssh.certificate_validity,
        })
    }
}

/// The listener, bound, when some connection is an SSH one; `None` otherwise.
pub async fn prepare(setup: &Setup, parts: &ListenerParts<'_>) -> Result<Option<SshListener>> {
    let config = &setup.config;
    let connections: Vec<_> = config
        .connections
        .iter()
        .filter(|c| c.kind == SSH)
        .collect();
    if connections.is_empty() {
        return Ok(None);
    }
    let opener = Arc::new(SshTargets {
        addresses: connections
            .iter()
            .filter(|c| c.agents.is_empty())
            .map(|c| (c.name.clone(), (c.host.clone(), c.port())))
            .collect(),
        connect_timeout: config.ssh.connect_timeout,
    });
    let mut targets = HashMap::new();
    for connection in &connections {
        let login_time = config.ssh.connect_timeout;
        let target = match parts.agents_serving(connection)? {
            None => connection.ssh_target(&config.base_dir, opener.clone(), login_time)?,
            Some(hub) => connection.ssh_target_through_agents(hub, login_time),
        };
        targets.insert(connection.name.clone(), Arc::new(target));
    }
    let masker = setup
        .masker(&gatehouse_mask::MaskConfig::default())
        .context("the masking of command output")?;
    let services = parts.session_services();
    let gateway = SshGateway {
        masker: Arc::new(masker),
        pipeline: services.pipeline,
        authenticator: services.authenticator,
        targets,
        live: services.live,
        host_key: host_key(setup)?,
        certificates: Some(certificate_logins(setup, parts.store)?),
        limits: config.ssh.limits(),
    };
    let listener = TcpListener::bind(config.ssh.listen)
        .await
        .with_context(|| format!("cannot listen for SSH clients on {}", config.ssh.listen))?;
    Ok(Some(SshListener {
        address: listener.local_addr()?,
        listener,
        gateway: Arc::new(gateway),
        shutdown: services.shutdown,
    }))
}

/// Whether a certificate's credential and identity still stand, as the store says.
struct StoreCredentialStatus {
    store: gatehouse_store::Store,
}

impl CredentialStatus for StoreCredentialStatus {
    fn check<'a>(
        &'a self,
        credential_id: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<(), AuthError>> {
        Box::pin(async move {
            let unavailable =
                |error: gatehouse_store::StoreError| AuthError::StoreUnavailable(error.to_string());
            if self
                .store
                .is_token_revoked(credential_id)
                .await
                .map_err(unavailable)?
            {
                return Err(AuthError::Revoked);
            }
            let keys = self.store.list_keys().await.map_err(unavailable)?;
            if keys
                .iter()
                .any(|key| key.id == credential_id && key.revoked_at.is_some())
            {
                return Err(AuthError::Revoked);
            }
            let identity = gatehouse_core::Identity::new(
                subject,
                gatehouse_core::IdentityKind::Human,
                Vec::new(),
            );
            match self
                .store
                .revoked_subject_of(&identity)
                .await
                .map_err(unavailable)?
            {
                Some(revoked) => Err(AuthError::IdentityRevoked(revoked)),
                None => Ok(()),
            }
        })
    }
}
