//! A port-forward decided port by port. The request that opens a port-forward is decided
//! first, as every request is; then each port it forwards is decided on its own, as the same
//! `k8s:portforward` action with `port` in the context, through the same pipeline (audited
//! like any decision): every port a WebSocket request names in its `ports` parameter before
//! the request is forwarded, and every port a SPDY port-forward opens a stream to when the
//! stream is opened (`spdy_tap.rs`). A port is decided once per connection; a hold is a
//! refusal here, since a stream cannot wait for a reviewer.

use crate::answer::Refusal;
use crate::gateway::KubeGateway;
use crate::request::KubeRequest;
use gatehouse_core::Action;
use gatehouse_pipeline::SessionContext;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Whether a stream may forward to a port: what the SPDY tap asks before it lets a
/// port-forward's stream open.
pub trait PortGate: Send + Sync {
    fn allows(&self, port: u16) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// The ports a port-forward's streams ask for, decided as they come.
pub struct PortDecisions {
    gateway: Arc<KubeGateway>,
    context: SessionContext,
    request: KubeRequest,
    decided: tokio::sync::Mutex<HashMap<u16, bool>>,
}

impl PortDecisions {
    pub fn new(gateway: Arc<KubeGateway>, context: SessionContext, request: KubeRequest) -> Self {
        PortDecisions {
            gateway,
            context,
            request,
            decided: Default::default(),
        }
    }

    /// Whether policy lets a stream forward to `port`.
    async fn decide(&self, port: u16) -> bool {
        let mut decided = self.decided.lock().await;
        if let Some(allowed) = decided.get(&port) {
            return *allowed;
        }
        let allowed = decide(&self.gateway, &self.context, &self.request, port, None)
            .await
            .is_ok();
        if !allowed {
            tracing::info!(session = %self.context.session_id, port, "port-forward stream refused by policy");
        }
        decided.insert(port, allowed);
        allowed
    }
}

impl PortGate for PortDecisions {
    fn allows(&self, port: u16) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(self.decide(port))
    }
}

/// Decide `request` for `port` alone (waiting up to `wait` for a review when held).
pub async fn decide(
    gateway: &KubeGateway,
    context: &SessionContext,
    request: &KubeRequest,
    port: u16,
    wait: Option<Duration>,
) -> Result<(), Refusal> {
    let action = Action::of(request.for_port(port));
    crate::decide::permit(&gateway.pipeline, context, action, wait)
        .await
        .map(drop)
}

/// The ports a WebSocket port-forward names in its query (`ports=80&ports=443` or
/// `ports=80,443`); `Err` names a value that is not a port.
pub fn query_ports(query: &[(String, String)]) -> Result<Vec<u16>, String> {
    let mut ports = Vec::new();
    for (_, value) in query.iter().filter(|(key, _)| key == "ports") {
        for word in value.split(',') {
            match word.trim().parse::<u16>() {
                Ok(port) if port > 0 => ports.push(port),
                _ => return Err(format!("`{word}` in `ports` is not a port number")),
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn ports_come_from_every_value_and_comma_list() {
        let ports = query_ports(&query(&[
            ("ports", "8080,80"),
            ("ports", "443"),
            ("ports", "80"),
        ]));
        assert_eq!(ports, Ok(vec![80, 443, 8080]));
        assert_eq!(query_ports(&query(&[("other", "1")])), Ok(Vec::new()));
    }

    #[test]
    fn a_value_that_is_not_a_port_is_refused() {
        for bad in ["0", "65536", "http", "", "80,,81"] {
            assert!(query_ports(&query(&[("ports", bad)])).is_err(), "{bad:?}");
        }
    }
}
