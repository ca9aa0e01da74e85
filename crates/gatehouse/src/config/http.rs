//! `[http]` (the listener HTTP API clients talk to) and the keys of a `kind = "http"`
//! connection: the target's `url` and `ca_file`; one credential gatehouse injects —
//! `token_file`/`token_env` (bearer), `basic_user` + `password_file`/`password_env`,
//! `header_name` + `header_value_env` (an API-key header), or `client_cert_file` +
//! `client_key_file`; and what shapes answers: `redirect_hosts`, `passthrough_content_types`,
//! `mask_json_paths`, and the request headers policy sees (`policy_headers`).

use crate::config::{
    ConfigSide, ConnectionConfig, humantime_serde_compat, parse_addr, resolve_from,
};
use anyhow::{Context, Result, bail};
use gatehouse_core::{ConnectionKind, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The kind of an HTTP API connection.
pub const HTTP: ConnectionKind = gatehouse_httpapi_gateway::HTTP;

/// The gateway's default host name for naming connections by host
/// (`CONNECTION.gatehouse.localhost`; the generated certificate covers `*.gatehouse.localhost`).
pub const DEFAULT_HTTP_HOST: &str = "gatehouse.localhost";

/// Where the quickstart's HTTP API listener is.
pub const QUICKSTART_HTTP_LISTEN: &str = "127.0.0.1:18443";

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpListenerConfig {
    pub listen: SocketAddr,
    /// The gateway's host name: `CONNECTION.<host>` names a connection by host (the generated
    /// certificate covers `*.gatehouse.localhost`, the default). Path prefixes
    /// (`/c/CONNECTION/...`) always work.
    pub host: String,
    /// Client connections open at once.
    pub max_connections: usize,
    /// Time a client has to finish TLS and send its request headers.
    #[serde(with = "humantime_serde_compat")]
    pub handshake_timeout: Duration,
    /// The largest request body gatehouse reads (whole, to decide on).
    pub max_body_bytes: usize,
    /// JSON request bodies up to this size are read for `context.json_keys`/`json_values` and
    /// GraphQL operations.
    pub json_body_limit: usize,
    /// Bytes of request headers a request may carry.
    pub max_header_bytes: u32,
    /// HTTP/2 streams one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Time a target has to accept a connection.
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// How long open requests (event streams) get to finish at shutdown.
    #[serde(with = "humantime_serde_compat")]
    pub shutdown_grace: Duration,
    /// Hold a request that needs an approval open until a reviewer decides (up to
    /// `[approvals] wait`) instead of answering at once with the approval id.
    pub wait_for_approval: bool,
}

impl Default for HttpListenerConfig {
    fn default() -> Self {
        HttpListenerConfig {
            listen: parse_addr(QUICKSTART_HTTP_LISTEN),
            host: DEFAULT_HTTP_HOST.to_owned(),
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            max_body_bytes: 8 * 1024 * 1024,
            json_body_limit: 64 * 1024,
            max_header_bytes: 64 * 1024,
            max_concurrent_streams: 250,
            connect_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            wait_for_approval: false,
        }
    }
}

impl HttpListenerConfig {
    /// The HTTP listener's limits.
    pub fn limits(&self) -> gatehouse_http::listener::HttpLimits {
        gatehouse_http::listener::HttpLimits {
            protocol: "http",
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout,
            max_header_bytes: self.max_header_bytes,
            max_concurrent_streams: self.max_concurrent_streams,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

impl ConnectionConfig {
    /// An HTTP connection names its target, the CA that verifies it (for https), and at most
    /// one credential — in the gateway's config, or for one served by agents in the agents'
    /// own (the gateway's then names the agents and how answers are shaped, nothing of the
    /// target); the PostgreSQL and Kubernetes-only keys mean nothing for it.
    pub(crate) fn validate_http(&self, side: ConfigSide) -> Result<()> {
        let name = &self.name;
        let foreign = [
            ("host", !self.host.is_empty()),
            ("database", !self.database.is_empty()),
            ("user", !self.user.is_empty()),
            ("logins", !self.logins.is_empty()),
            ("default_level", self.default_level.is_some()),
            ("masking", self.masking.is_some()),
            ("record_results", self.record_results),
            ("kubeconfig", self.kubeconfig.is_some()),
            ("context", self.context.is_some()),
            ("impersonate", self.impersonate.is_some()),
        ];
        if let Some((field, _)) = foreign.iter().find(|(_, set)| *set) {
            bail!(
                "connection `{name}` is `kind = \"http\"`: `{field}` is not an HTTP connection key; an HTTP connection has `url`, `ca_file` and one credential (`token_file`, `token_env`, `basic_user` + `password_file`/`password_env`, `header_name` + `header_value_env`, or `client_cert_file` + `client_key_file`)"
            );
        }
        match side {
            ConfigSide::GatewayAgents => return self.validate_http_agents(),
            ConfigSide::Agent => {
                let gateways = [
                    ("redirect_hosts", !self.redirect_hosts.is_empty()),
                    (
                        "passthrough_content_types",
                        !self.passthrough_content_types.is_empty(),
                    ),
                    ("mask_json_paths", !self.mask_json_paths.is_empty()),
                    ("policy_headers", !self.policy_headers.is_empty()),
                ];
                if let Some((field, _)) = gateways.iter().find(|(_, set)| *set) {
                    bail!(
                        "connection `{name}`: `{field}` belongs in the gateway's config (the gateway decides, masks and checks redirects; the agent only adds the credential)"
                    );
                }
            }
            ConfigSide::GatewayDirect => {}
        }
        let Some(url) = &self.url else {
            bail!(
                "connection `{name}` needs `url`, the target's base URL (`https://api.internal:8443`)"
            );
        };
        if self.ca_file.is_none() && url.starts_with("https:") {
            bail!(
                "connection `{name}` needs `ca_file`, the CA that signed the target's certificate"
            );
        }
        let credentials = [
            self.token_file.is_some(),
            self.token_env.is_some(),
            self.basic_user.is_some(),
            self.header_name.is_some(),
            self.client_cert_file.is_some() || self.client_key_file.is_some(),
        ];
        if credentials.iter().filter(|set| **set).count() > 1 {
            bail!(
                "connection `{name}` names more than one credential; keep one of `token_file`, `token_env`, `basic_user`, `header_name`, `client_cert_file`"
            );
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            bail!("connection `{name}`: `client_cert_file` and `client_key_file` go together");
        }
        let password = self.password_file.is_some() || self.password_env.is_some();
        if self.basic_user.is_some() != password {
            bail!("connection `{name}`: `basic_user` goes with `password_file` or `password_env`");
        }
        if self.password_file.is_some() && self.password_env.is_some() {
            bail!("connection `{name}` sets both `password_env` and `password_file`; keep one");
        }
        if self.header_name.is_some() != self.header_value_env.is_some() {
            bail!("connection `{name}`: `header_name` goes with `header_value_env`");
        }
        if let Some(header) = &self.header_name {
            hyper::header::HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                anyhow::anyhow!(
                    "connection `{name}`: `header_name` `{header}` is not a header name"
                )
            })?;
        }
        Ok(())
    }

    /// An HTTP connection served by agents: the target's address, CA and credential are the
    /// agents' business.
    fn validate_http_agents(&self) -> Result<()> {
        self.validate_agent_names()?;
        let target = [
            ("url", self.url.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("token_file", self.token_file.is_some()),
            ("token_env", self.token_env.is_some()),
            ("basic_user", self.basic_user.is_some()),
            ("password_file", self.password_file.is_some()),
            ("password_env", self.password_env.is_some()),
            ("header_name", self.header_name.is_some()),
            ("header_value_env", self.header_value_env.is_some()),
            ("client_cert_file", self.client_cert_file.is_some()),
            ("client_key_file", self.client_key_file.is_some()),
        ];
        match target.iter().find(|(_, set)| *set) {
            Some((field, _)) => bail!(
                "connection `{}` is served by agents, so `{field}` belongs in the agents' own config, not the gateway's \
                 (the gateway never holds an agent-served target's address or credential)",
                self.name
            ),
            None => Ok(()),
        }
    }

    /// The HTTP keys mean nothing for another kind; naming one is a mistake to report.
    pub(crate) fn validate_not_http(&self) -> Result<()> {
        let http_only = [
            ("basic_user", self.basic_user.is_some()),
            ("header_name", self.header_name.is_some()),
            ("header_value_env", self.header_value_env.is_some()),
            ("redirect_hosts", !self.redirect_hosts.is_empty()),
            (
                "passthrough_content_types",
                !self.passthrough_content_types.is_empty(),
            ),
            ("mask_json_paths", !self.mask_json_paths.is_empty()),
            ("policy_headers", !self.policy_headers.is_empty()),
        ];
        match http_only.iter().find(|(_, set)| *set) {
            Some((field, _)) => bail!(
                "connection `{}` is `kind = \"{}\"`: `{field}` is an HTTP connection key",
                self.name,
                self.kind.as_str()
            ),
            None => Ok(()),
        }
    }

    /// The adapter's view of a connection served by `agents`: the gateway's shaping of answers,
    /// nothing of the target.
    pub fn http_target_through_agents(
        &self,
        agents: Arc<dyn gatehouse_session::TargetConnector>,
    ) -> Result<gatehouse_httpapi_gateway::HttpTarget> {
        let upstream = gatehouse_http::agents::through_agents(HTTP.as_str(), &self.name, agents);
        self.shaped_target(upstream, gatehouse_httpapi_gateway::HttpCredential::AtAgent)
    }

    /// The target with the answer shaping this connection's keys ask for.
    fn shaped_target(
        &self,
        upstream: gatehouse_http::upstream::Upstream,
        credential: gatehouse_httpapi_gateway::HttpCredential,
    ) -> Result<gatehouse_httpapi_gateway::HttpTarget> {
        let json_rules =
            gatehouse_httpapi_gateway::HttpTarget::json_rules(&self.name, &self.mask_json_paths)?;
        let lower = |values: &[String]| values.iter().map(|v| v.to_ascii_lowercase()).collect();
        Ok(gatehouse_httpapi_gateway::HttpTarget {
            info: Arc::new(self.info()),
            upstream,
            credential,
            json_rules,
            passthrough: lower(&self.passthrough_content_types),
            redirect_hosts: lower(&self.redirect_hosts),
            policy_headers: lower(&self.policy_headers),
        })
    }

    /// The adapter's view of this connection (at the gateway, or at the agent serving it).
    pub fn http_target(
        &self,
        base_dir: &Path,
        connect_timeout: Duration,
    ) -> Result<gatehouse_httpapi_gateway::HttpTarget> {
        use gatehouse_httpapi_gateway::HttpCredential;
        let name = &self.name;
        let read = |path: &Path, what: &str| {
            let path = resolve_from(base_dir, path);
            std::fs::read(&path).with_context(|| {
                format!(
                    "connection `{name}`: cannot read {what} `{}`",
                    path.display()
                )
            })
        };
        let env = |var: &str, key: &str| {
            std::env::var(var).with_context(|| {
                format!("connection `{name}`: environment variable `{var}` ({key}) is not set")
            })
        };
        let upstream = self.upstream_with_tls(base_dir, connect_timeout)?;
        let credential = if let Some(file) = &self.token_file {
            HttpCredential::BearerFile(resolve_from(base_dir, file))
        } else if let Some(var) = &self.token_env {
            HttpCredential::Bearer(SecretString::new(env(var, "token_env")?.trim()))
        } else if let Some(user) = &self.basic_user {
            let password = match (&self.password_file, &self.password_env) {
                (Some(file), _) => String::from_utf8(read(file, "password_file")?)
                    .with_context(|| format!("connection `{name}`: password_file is not UTF-8"))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                (None, Some(var)) => env(var, "password_env")?,
                (None, None) => String::new(),
            };
            HttpCredential::Basic {
                user: user.clone(),
                password: SecretString::new(password),
            }
        } else if let (Some(header), Some(var)) = (&self.header_name, &self.header_value_env) {
            HttpCredential::Header {
                name: hyper::header::HeaderName::from_bytes(header.as_bytes())
                    .with_context(|| format!("connection `{name}`: header_name"))?,
                value: SecretString::new(env(var, "header_value_env")?.trim()),
            }
        } else {
            HttpCredential::ClientCertificate
        };
        self.shaped_target(upstream, credential)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::config::Config;
    use std::path::Path;

    fn refusal(connection: &str) -> String {
        let text = format!("[[connections]]\nname = \"api\"\nkind = \"http\"\n{connection}");
        match Config::parse(&text, Path::new("/etc/gatehouse/gatehouse.toml")) {
            Ok(_) => String::new(),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn an_http_connection_names_its_target_and_at_most_one_credential() {
        assert_eq!(refusal("url = \"http://127.0.0.1:15672\"\n"), "");
        assert_eq!(
            refusal(
                "url = \"https://api.internal\"\nca_file = \"ca.pem\"\nheader_name = \"X-API-Key\"\nheader_value_env = \"KEY\"\n"
            ),
            ""
        );
        assert!(refusal("token_file = \"t\"\n").contains("needs `url`"));
        assert!(refusal("url = \"https://api.internal\"\n").contains("needs `ca_file`"));
        assert!(
            refusal("url = \"http://127.0.0.1:1\"\ntoken_file = \"t\"\nbasic_user = \"u\"\npassword_env = \"P\"\n")
                .contains("more than one credential")
        );
        assert!(
            refusal("url = \"http://127.0.0.1:1\"\nbasic_user = \"u\"\n")
                .contains("goes with `password_file`")
        );
        assert!(
            refusal("url = \"http://127.0.0.1:1\"\nheader_name = \"X-Key\"\n")
                .contains("goes with `header_value_env`")
        );
        assert!(
            refusal("url = \"http://127.0.0.1:1\"\nheader_name = \"bad header\"\nheader_value_env = \"K\"\n")
                .contains("is not a header name")
        );
        assert!(
            refusal("url = \"http://127.0.0.1:1\"\ndatabase = \"x\"\n")
                .contains("not an HTTP connection key")
        );
    }

    #[test]
    fn an_http_connection_served_by_agents_holds_nothing_of_the_target() {
        assert_eq!(
            refusal("agents = [\"dc1\"]\nmask_json_paths = [\"**.password\"]\n"),
            ""
        );
        let refused = refusal("agents = [\"dc1\"]\nurl = \"http://127.0.0.1:1\"\n");
        assert!(
            refused.contains("served by agents") && refused.contains("`url`"),
            "{refused}"
        );
        assert!(refusal("agents = [\"dc1\"]\npassword_env = \"P\"\n").contains("`password_env`"));
    }

    #[test]
    fn http_keys_on_another_kind_are_refused() {
        let text = "[[connections]]\nname = \"db\"\nkind = \"postgres\"\nhost = \"h\"\ndatabase = \"d\"\nuser = \"u\"\nredirect_hosts = [\"x\"]\n";
        let error =
            Config::parse(text, Path::new("/etc/gatehouse/gatehouse.toml")).expect_err("refused");
        assert!(
            format!("{error:#}").contains("`redirect_hosts` is an HTTP connection key"),
            "{error:#}"
        );
    }
}
