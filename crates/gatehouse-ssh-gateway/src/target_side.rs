//! What gatehouse's client connection to a target accepts from the target: exactly the pinned
//! host key, and no channel the target opens back towards gatehouse — forwarded ports, X11,
//! sessions — except agent-forwarding channels once policy permitted `ssh:agent_forward` in
//! the client's session, which are relayed to the client's own agent. (A channel accepted and
//! never read would also stall the connection: russh hands each one its messages in order.)

use crate::keys::{HostKeyPin, public_key_line};
use russh::client::{ChannelOpenHandle, Msg, Session};
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use russh::{Channel, ChannelOpenFailure, client};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Where the target's agent-forwarding channels go: the client's connection, once permitted.
#[derive(Clone)]
pub(crate) struct AgentRelay {
    pub client: russh::server::Handle,
    pub permitted: Arc<AtomicBool>,
}

/// The client handler of gatehouse's connection to a target.
pub(crate) struct TargetSide {
    pub pinned: HostKeyPin,
    /// Any other host key the target presented, for the error.
    pub seen: Arc<Mutex<Option<String>>>,
    pub agent: AgentRelay,
}

impl client::Handler for TargetSide {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match presented {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data().clone(),
            PublicKeyOrCertificate::Certificate(certificate) => certificate.public_key().clone(),
        };
        if self.pinned.matches(&key) {
            return Ok(true);
        }
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(format!(
                "{} ({})",
                public_key_line(&PublicKey::from(key.clone())),
                key.fingerprint(russh::keys::HashAlg::Sha256)
            ));
        }
        Ok(false)
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if !self.agent.permitted.load(Ordering::Acquire) {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        let client = self.agent.client.clone();
        tokio::spawn(async move {
            match client.channel_open_agent().await {
                Ok(to_agent) => {
                    reply.accept().await;
                    let mut target = channel.into_stream();
                    let mut agent = to_agent.into_stream();
                    let _ = tokio::io::copy_bidirectional(&mut target, &mut agent).await;
                }
                Err(_) => reply.reject(ChannelOpenFailure::ConnectFailed).await,
            }
        });
        Ok(())
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _connected_address: &str,
        _connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }
}

/// Refuse a channel the target opened towards gatehouse.
async fn refuse(reply: ChannelOpenHandle) -> Result<(), russh::Error> {
    reply
        .reject(ChannelOpenFailure::AdministrativelyProhibited)
        .await;
    Ok(())
}
