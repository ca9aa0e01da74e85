//! Local port forwarding (`ssh -L`, `direct-tcpip` channels): each forward is an
//! `ssh:forward` decision on its destination host and port before the target is asked to
//! connect anywhere; a permitted one is relayed byte for byte and its byte counts are its
//! outcome, a refused one is answered "administratively prohibited".

use crate::decide::{Ended, Verdict, decide};
use crate::handler::Established;
use gatehouse_ssh::request::SshRequest;
use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelOpenFailure};
use std::sync::Arc;

/// Where the client asks the target to connect.
pub(crate) struct Destination {
    pub host: String,
    pub port: u32,
    pub originator_address: String,
    pub originator_port: u32,
}

pub(crate) async fn forward(
    established: Arc<Established>,
    channel: Channel<Msg>,
    reply: ChannelOpenHandle,
    destination: Destination,
) {
    let Ok(port) = u16::try_from(destination.port) else {
        reply.reject(ChannelOpenFailure::ConnectFailed).await;
        return;
    };
    let request = SshRequest::forward(destination.host.clone(), port);
    let allowed = match decide(&established, request).await {
        Verdict::Allowed(allowed) => allowed,
        Verdict::Refused(message) => {
            tracing::info!(%message, "an SSH port forward was refused");
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return;
        }
    };
    let opened = match established.upstream().await {
        Ok(upstream) => upstream
            .channel_open_direct_tcpip(
                destination.host.clone(),
                destination.port,
                destination.originator_address.clone(),
                destination.originator_port,
            )
            .await
            .map_err(|error| error.to_string()),
        Err(error) => Err(error),
    };
    let target = match opened {
        Ok(target) => target,
        Err(error) => {
            allowed.finish(&established, Ended::failed(error));
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            return;
        }
    };
    reply.accept().await;
    let mut client = channel.into_stream();
    let mut target = target.into_stream();
    let ended = match tokio::io::copy_bidirectional(&mut client, &mut target).await {
        Ok((sent, received)) => Ended {
            status: Some("closed".to_owned()),
            sent,
            received,
            ..Ended::default()
        },
        Err(error) => Ended::failed(error.to_string()),
    };
    allowed.finish(&established, ended);
}
