//! Entry points for the fuzz targets in `fuzz/` (hidden from the docs; not an API). It exists
//! so that the fuzz crate can drive the MCP server and the loading of the gateway's
//! configuration, which are private to this crate, through their real code: the MCP server
//! over any byte stream (as `gatehouse mcp` serves it on standard input and output), one tool
//! call through the server's dispatch, and a configuration file's text through parsing,
//! validation and masking compilation as `gatehouse serve` does at start.

use crate::config::setup::Setup;
use crate::config::{Config, ProviderKind};
use crate::mcp::{Agent, Base, GatehouseMcp};
use rmcp::ServiceExt;
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// The token the fuzzed agent presents (no store here, so it is never checked).
const AGENT_TOKEN: &str = "ghk_fuzz_agent";

/// An MCP server for one agent, with the quickstart configuration, no store (tools that need
/// one answer with a tool error) and a gateway address where nothing listens, so `query`
/// fails fast at the connect.
pub struct McpServer {
    base: Arc<Base>,
}

impl McpServer {
    /// A server whose data directory is `dir` (the gateway's generated certificate is written
    /// there, for `query` to verify the gateway with) and whose gateway is `gateway`.
    pub fn new(dir: &Path, gateway: SocketAddr) -> Result<McpServer, String> {
        let (ca_file, _, _) = crate::server::tls::ensure_certificate(dir, None)
            .map_err(|error| format!("{error:#}"))?;
        let setup = Setup {
            config: Config::quickstart(dir),
            data_dir: dir.to_path_buf(),
            quickstart: true,
        };
        Ok(McpServer {
            base: Arc::new(Base {
                setup: Arc::new(setup),
                store: None,
                gateway: gateway.to_string(),
                ca_file,
                audit: None,
            }),
        })
    }

    fn agent(&self) -> Agent {
        Agent {
            base: Arc::clone(&self.base),
            token: AGENT_TOKEN.to_owned(),
        }
    }

    /// Serve one MCP session on `stream` (newline-delimited JSON-RPC, as on standard input
    /// and output) until the client closes it. An error is a session that did not start or
    /// ended abnormally.
    pub async fn serve<S>(&self, stream: S) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let service = GatehouseMcp::stdio(self.agent())
            .serve(stream)
            .await
            .map_err(|error| format!("the MCP session could not start: {error}"))?;
        service
            .waiting()
            .await
            .map(|_| ())
            .map_err(|error| format!("the MCP session ended abnormally: {error}"))
    }

    /// Call tool `name` with `arguments` as a `tools/call` does once the call is recorded:
    /// the tool's result, or the message of its tool error.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Map<String, Value>,
    ) -> Result<Value, String> {
        GatehouseMcp::dispatch(&self.agent(), name, arguments)
            .await
            .map_err(|error| error.0)
    }
}

/// What a configuration that loaded holds, in plain types, for the target to check against
/// what loading promises.
#[derive(Debug, PartialEq, Eq)]
pub struct LoadedConfig {
    /// The data directory it names, resolved from the file's directory.
    pub data_dir: Option<PathBuf>,
    /// The PostgreSQL listener and whether it may run without TLS (and off loopback).
    pub postgres_listen: SocketAddr,
    pub allow_plaintext: bool,
    pub allow_plaintext_on_network: bool,
    /// Whether the listener settings require TLS.
    pub require_tls: bool,
    pub tls_cert_file: bool,
    pub tls_key_file: bool,
    pub token_ttl: Duration,
    pub exchanges_per_minute: u32,
    pub connections: Vec<LoadedConnection>,
    /// Connections whose masking compiled, in configuration order.
    pub masked: Vec<String>,
    pub identity_providers: Vec<LoadedProvider>,
}

/// One `[[connections]]` entry of a loaded configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct LoadedConnection {
    pub name: String,
    /// The name policy sees (from the connection's policy view).
    pub policy_name: String,
    pub agents: Vec<String>,
    pub host: String,
    pub database: String,
    pub user: String,
    pub password_env: bool,
    pub password_file: bool,
    pub ca_file: bool,
    pub masking: bool,
}

/// One `[[identity_providers]]` entry of a loaded configuration.
#[derive(Debug, PartialEq, Eq)]
pub struct LoadedProvider {
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_file: bool,
    pub jwks_uri: bool,
    /// `(claim, value, group)` of each group rule.
    pub group_rules: Vec<(String, String, String)>,
    pub leeway: Duration,
    pub human: bool,
    pub client_id: Option<String>,
    pub login_scopes: Vec<String>,
    pub scopes_set: bool,
}

/// Load `text` as the gateway's configuration file `dir/gatehouse.toml`, as `gatehouse serve`
/// does before it opens anything: parse, validate, compile each connection's masking (keyed
/// with `dir/mask.key`, whatever data directory the text names). The error is the message
/// the gateway would stop with.
pub fn load_config(text: &str, dir: &Path) -> Result<LoadedConfig, String> {
    let config =
        Config::parse(text, &dir.join("gatehouse.toml")).map_err(|error| format!("{error:#}"))?;
    let setup = Setup {
        config,
        data_dir: dir.to_path_buf(),
        quickstart: false,
    };
    let maskings = setup.maskings().map_err(|error| format!("{error:#}"))?;
    let config = &setup.config;
    let settings = config.pg_settings();
    Ok(LoadedConfig {
        data_dir: config.data_dir.as_deref().map(|path| config.resolve(path)),
        postgres_listen: config.postgres.listen,
        allow_plaintext: config.postgres.allow_plaintext,
        allow_plaintext_on_network: config.postgres.allow_plaintext_on_network,
        require_tls: settings.require_tls,
        tls_cert_file: config.tls.cert_file.is_some(),
        tls_key_file: config.tls.key_file.is_some(),
        token_ttl: config.tokens.ttl,
        exchanges_per_minute: config.tokens.exchanges_per_minute,
        connections: config
            .connections
            .iter()
            .map(|connection| LoadedConnection {
                name: connection.name.clone(),
                policy_name: connection.info().name,
                agents: connection.agents.clone(),
                host: connection.host.clone(),
                database: connection.database.clone(),
                user: connection.user.clone(),
                password_env: connection.password_env.is_some(),
                password_file: connection.password_file.is_some(),
                ca_file: connection.ca_file.is_some(),
                masking: connection.masking.is_some(),
            })
            .collect(),
        masked: config
            .connections
            .iter()
            .filter(|connection| maskings.contains_key(&connection.name))
            .map(|connection| connection.name.clone())
            .collect(),
        identity_providers: config
            .identity_providers
            .iter()
            .map(|provider| LoadedProvider {
                name: provider.name.clone(),
                issuer: provider.issuer.clone(),
                audiences: provider.audiences.clone(),
                jwks_file: provider.jwks_file.is_some(),
                jwks_uri: provider.jwks_uri.is_some(),
                group_rules: provider
                    .group_rules
                    .iter()
                    .map(|rule| (rule.claim.clone(), rule.value.clone(), rule.group.clone()))
                    .collect(),
                leeway: provider.leeway,
                human: provider.kind == ProviderKind::Human,
                client_id: provider.client_id.clone(),
                login_scopes: provider.login_scopes(),
                scopes_set: provider.scopes.is_some(),
            })
            .collect(),
    })
}
