//! The agent an MCP session serves: its token, where its gateway is, and the local store it
//! reads approvals from. The token is checked again at every tool call, so a revoked or
//! expired key stops working mid-session.

use crate::config::setup::Setup;
use gatehouse_core::{Identity, SecretString};
use gatehouse_pipeline::Authenticator;
use gatehouse_store::{AuditLog, Store};
use std::path::PathBuf;
use std::sync::Arc;

/// A tool call that did not work, with a message the agent can act on.
#[derive(Debug)]
pub(crate) struct ToolError(pub(crate) String);

impl ToolError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ToolError(message.into())
    }
}

/// What every agent of one server shares: configuration, store, and how to reach the gateway.
pub(crate) struct Base {
    pub(crate) setup: Arc<Setup>,
    /// The gateway's store, when its data directory is here (approvals, grants, identities).
    pub(crate) store: Option<Store>,
    /// The gateway's PostgreSQL address, `HOST:PORT`.
    pub(crate) gateway: String,
    /// The certificate (or its CA) to verify the gateway with.
    pub(crate) ca_file: PathBuf,
    /// The gateway's audit log, where every tool call is recorded before it runs (with the
    /// store; without it only `query` works, and the gateway records its SQL).
    pub(crate) audit: Option<AuditLog>,
}

impl Base {
    /// The base of the `/mcp` route of a gateway listening for PostgreSQL on `listening`
    /// (dialled on loopback when it listens on every address), serving certificate `cert`.
    pub(crate) fn in_gateway(
        setup: Arc<Setup>,
        store: Store,
        audit: AuditLog,
        listening: std::net::SocketAddr,
        cert: PathBuf,
    ) -> Arc<Base> {
        let mut dial = listening;
        if dial.ip().is_unspecified() {
            dial.set_ip(if dial.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        Arc::new(Base {
            setup,
            store: Some(store),
            gateway: dial.to_string(),
            ca_file: cert,
            audit: Some(audit),
        })
    }
}

/// One agent: the shared base and the agent's own token.
pub(crate) struct Agent {
    pub(crate) base: Arc<Base>,
    pub(crate) token: String,
}

impl Agent {
    /// Who the token belongs to now; refused tokens (revoked, expired, unknown) end the call.
    pub(crate) async fn identity(&self) -> Result<Identity, ToolError> {
        self.store()?
            .authenticate(&SecretString::new(self.token.clone()))
            .await
            .map_err(|error| {
                ToolError::new(format!(
                    "the agent's gatehouse token was refused ({error}); it may be revoked or expired. \
                     Ask an administrator for a new key (`gatehouse keys create`) and restart the MCP server with it"
                ))
            })
    }

    /// The gateway's store; tools other than `query` need the gateway's data directory.
    pub(crate) fn store(&self) -> Result<&Store, ToolError> {
        self.base.store.as_ref().ok_or_else(|| {
            ToolError::new(format!(
                "this tool needs the gateway's data directory, and `{}` holds no gatehouse store: restart the MCP \
                 server with --data-dir (and --config) of the gateway, or run it on the gateway's host. query works without it",
                self.base.setup.data_dir.display()
            ))
        })
    }

    /// Whether the configuration has a connection named `name`.
    pub(crate) fn knows(&self, name: &str) -> Result<(), ToolError> {
        if self
            .base
            .setup
            .config
            .connections
            .iter()
            .any(|c| c.name == name)
        {
            return Ok(());
        }
        let names: Vec<&str> = self
            .base
            .setup
            .config
            .connections
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        Err(ToolError::new(format!(
            "there is no connection `{name}`; known connections: [{}] (list_connections shows those you may use)",
            names.join(", ")
        )))
    }
}
