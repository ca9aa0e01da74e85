//! The connect subresources, `pods/NAME/exec`, `attach` and `portforward`: which transport the
//! client asks for (`Upgrade: websocket` with a subprotocol, or `Upgrade: SPDY/3.1` with
//! `X-Stream-Protocol-Version`), the protocol both sides speak, the `101 Switching Protocols`
//! that says so, and the session run on the upgraded connection once hyper hands it over. A
//! request that asks for no upgrade gets the API's 400.

mod negotiate;
mod session;

use crate::catalogue::Resource;
use crate::remotecommand::Options;
use crate::respond::{Call, Response};
use crate::sessions::{Recorder, StreamKind, StreamSession, Transport};
use crate::shared::Shared;
use crate::status::ApiError;
use hyper::Method;
use negotiate::{negotiate, switching};
use session::Run;
use std::sync::Arc;

/// Answer a connect request on pod `name`.
pub fn answer(
    shared: &Arc<Shared>,
    call: &Call,
    resource: &'static Resource,
    namespace: &str,
    name: &str,
    sub: &str,
) -> Result<Response, ApiError> {
    if *call.method != Method::GET && *call.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let pod = shared
        .store()
        .get(resource, namespace, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(resource, name))?;
    let kind = match sub {
        "exec" => StreamKind::Exec,
        "attach" => StreamKind::Attach,
        _ => StreamKind::PortForward,
    };
    let options = match kind {
        StreamKind::PortForward => None,
        _ => Some(Options::parse(&call.query, &pod, kind == StreamKind::Exec)?),
    };
    let (transport, protocol) = negotiate(shared.websockets, call.headers, kind)?;
    let ports = ports(call);
    if kind == StreamKind::PortForward && transport == Transport::WebSocket && ports.is_empty() {
        // The channels are laid out from the query's ports, so there must be some.
        return Err(ApiError::bad_request(
            "query parameter \"ports\" is required",
        ));
    }
    let mut session = StreamSession::new(kind, namespace, name, transport);
    session.protocol.clone_from(&protocol);
    if let Some(options) = &options {
        session.container = Some(options.container.clone());
        session.command.clone_from(&options.command);
        session.tty = options.tty;
    }
    session.ports.clone_from(&ports);
    let dir = shared
        .pods()
        .dir(namespace, name)
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    let upgrade = call.take_upgrade().ok_or_else(|| {
        ApiError::bad_request("the connection cannot be upgraded (HTTP/1.1 is required)")
    })?;
    let response = switching(call.headers, transport, &protocol)?;
    let recorder = Recorder::open(shared, session);
    let run = Run {
        shared: shared.clone(),
        namespace: namespace.to_owned(),
        pod: name.to_owned(),
        kind,
        transport,
        protocol,
        options,
        dir,
        ports,
        recorder,
    };
    tokio::spawn(run.on(upgrade));
    Ok(response)
}

/// The ports a port-forward names in its query (`ports`, or kubelet's `port`), each value
/// possibly a comma-separated list.
fn ports(call: &Call) -> Vec<u16> {
    call.query
        .all("ports")
        .chain(call.query.all("port"))
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}
