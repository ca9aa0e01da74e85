//! `[kubernetes]` (the listener kubectl talks to) and the keys of a `kind = "kubernetes"`
//! connection: the API server's `url` and `ca_file`, the credential gatehouse presents
//! (`token_file`, `token_env`, or `client_cert_file` + `client_key_file`) — or instead of all
//! of those a `kubeconfig` and its `context` — in the gateway's config, or in the agent's for a
//! connection that names `agents` — and optional `[connections.impersonate]` (the gateway's).
//! The same key names serve the HTTP API connections to come.

use crate::config::{
    ConfigSide, ConnectionConfig, humantime_serde_compat, parse_addr, resolve_from,
};
use anyhow::{Context, Result, bail};
use gatehouse_core::ConnectionKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The kind of a Kubernetes connection.
pub const KUBERNETES: ConnectionKind = gatehouse_k8s_gateway::KUBERNETES;

/// Where the quickstart's Kubernetes listener is.
pub const QUICKSTART_KUBERNETES_LISTEN: &str = "127.0.0.1:16443";

/// `[kubernetes]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesListenerConfig {
    pub listen: SocketAddr,
    /// Client connections open at once.
    pub max_connections: usize,
    /// Time a client has to finish TLS and send its request headers.
    #[serde(with = "humantime_serde_compat")]
    pub handshake_timeout: Duration,
    /// The largest request body gatehouse reads to decide on (kube-apiserver's is 3 MiB).
    pub max_body_bytes: usize,
    /// Bytes of request headers a request may carry.
    pub max_header_bytes: u32,
    /// HTTP/2 streams one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Time the API server has to accept a connection.
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    /// How long open requests (watches, logs) get to finish at shutdown.
    #[serde(with = "humantime_serde_compat")]
    pub shutdown_grace: Duration,
    /// Hold a request that needs an approval open until a reviewer decides (up to
    /// `[approvals] wait`) instead of answering at once with the approval id.
    pub wait_for_approval: bool,
}

impl Default for KubernetesListenerConfig {
    fn default() -> Self {
        KubernetesListenerConfig {
            listen: parse_addr(QUICKSTART_KUBERNETES_LISTEN),
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            max_body_bytes: 3 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_concurrent_streams: 250,
            connect_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            wait_for_approval: false,
        }
    }
}

impl KubernetesListenerConfig {
    /// The HTTP listener's limits.
    pub fn limits(&self) -> gatehouse_http::listener::HttpLimits {
        gatehouse_http::listener::HttpLimits {
            protocol: "kubernetes",
            max_connections: self.max_connections,
            handshake_timeout: self.handshake_timeout,
            max_header_bytes: self.max_header_bytes,
            max_concurrent_streams: self.max_concurrent_streams,
            shutdown_grace: self.shutdown_grace,
        }
    }
}

/// `[connections.impersonate]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpersonateConfig {
    /// Prepended to every gatehouse group without an entry in `groups` (default `gatehouse:`),
    /// so no identity-provider group becomes a cluster group by its name alone.
    #[serde(default = "default_group_prefix")]
    pub group_prefix: String,
    /// gatehouse group → the cluster group it is impersonated as.
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
}

fn default_group_prefix() -> String {
    "gatehouse:".to_owned()
}

impl ConnectionConfig {
    /// A Kubernetes connection names its API server, the CA that verifies it, and exactly one
    /// credential — in the gateway's config, or for one served by agents in the agents' own
    /// (the gateway's then names the agents and perhaps impersonation, nothing of the cluster);
    /// the PostgreSQL keys mean nothing for it.
    pub(crate) fn validate_kubernetes(&self, side: ConfigSide) -> Result<()> {
        let name = &self.name;
        let pg_only = [
            ("host", !self.host.is_empty()),
            ("database", !self.database.is_empty()),
            ("user", !self.user.is_empty()),
            ("password_env", self.password_env.is_some()),
            ("password_file", self.password_file.is_some()),
            ("logins", !self.logins.is_empty()),
            ("default_level", self.default_level.is_some()),
            ("masking", self.masking.is_some()),
            ("record_results", self.record_results),
        ];
        if let Some((field, _)) = pg_only.iter().find(|(_, set)| *set) {
            bail!(
                "connection `{name}` is `kind = \"kubernetes\"`: `{field}` is a PostgreSQL key; a Kubernetes connection has `url`, `ca_file` and `token_file`, `token_env` or `client_cert_file` + `client_key_file` (Secrets are always masked for identities without `data:unmasked`)"
            );
        }
        match side {
            ConfigSide::GatewayAgents => self.validate_kubernetes_agents(),
            ConfigSide::Agent if self.impersonate.is_some() => bail!(
                "connection `{name}`: `[connections.impersonate]` belongs in the gateway's config (the gateway decides the impersonation headers; the agent passes them on)"
            ),
            ConfigSide::Agent | ConfigSide::GatewayDirect => self.validate_kubernetes_cluster(),
        }
    }

    /// A Kubernetes connection served by agents: the cluster's address, CA and credential are
    /// the agents' business.
    fn validate_kubernetes_agents(&self) -> Result<()> {
        self.validate_agent_names()?;
        let kubeconfig = [
            ("kubeconfig", self.kubeconfig.is_some()),
            ("context", self.context.is_some()),
        ];
        match self
            .cluster_keys()
            .iter()
            .chain(&kubeconfig)
            .find(|(_, set)| *set)
        {
            Some((field, _)) => bail!(
                "connection `{}` is served by agents, so `{field}` belongs in the agents' own config, not the gateway's \
                 (the gateway never holds an agent-served cluster's address or credential)",
                self.name
            ),
            None => Ok(()),
        }
    }

    /// The API server's address, its CA and exactly one credential, or a kubeconfig's context
    /// that names them.
    fn validate_kubernetes_cluster(&self) -> Result<()> {
        let name = &self.name;
        if self.kubeconfig.is_some() {
            return self.validate_kubeconfig();
        }
        if self.context.is_some() {
            bail!(
                "connection `{name}`: `context` names a context of `kubeconfig`, which is not set"
            );
        }
        let Some(url) = &self.url else {
            bail!(
                "connection `{name}` needs `url`, the API server's address (`https://HOST:6443`), or `kubeconfig`"
            );
        };
        if self.ca_file.is_none() && url.starts_with("https:") {
            bail!(
                "connection `{name}` needs `ca_file`, the CA that signed the API server's certificate (the kubeconfig's certificate-authority)"
            );
        }
        let credentials = [
            self.token_file.is_some(),
            self.token_env.is_some(),
            self.client_cert_file.is_some() || self.client_key_file.is_some(),
        ];
        if credentials.iter().filter(|set| **set).count() != 1 {
            bail!(
                "connection `{name}` needs exactly one credential: `token_file`, `token_env`, or `client_cert_file` with `client_key_file`"
            );
        }
        if self.client_cert_file.is_some() != self.client_key_file.is_some() {
            bail!("connection `{name}`: `client_cert_file` and `client_key_file` go together");
        }
        Ok(())
    }

    /// The keys that name the API server, its CA and the credential, and whether each is set.
    fn cluster_keys(&self) -> [(&'static str, bool); 6] {
        [
            ("url", self.url.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("token_file", self.token_file.is_some()),
            ("token_env", self.token_env.is_some()),
            ("client_cert_file", self.client_cert_file.is_some()),
            ("client_key_file", self.client_key_file.is_some()),
        ]
    }

    /// A connection defined by a kubeconfig takes the server, CA and credential from it alone.
    fn validate_kubeconfig(&self) -> Result<()> {
        match self.cluster_keys().iter().find(|(_, set)| *set) {
            Some((field, _)) => bail!(
                "connection `{}`: `{field}` and `kubeconfig` exclude each other: the kubeconfig's context defines the server, its CA and the credential",
                self.name
            ),
            None => Ok(()),
        }
    }

    /// The Kubernetes keys mean nothing for another kind; naming one is a mistake to report.
    pub(crate) fn validate_not_kubernetes(&self) -> Result<()> {
        let kube_only = [
            ("url", self.url.is_some()),
            ("token_file", self.token_file.is_some()),
            ("token_env", self.token_env.is_some()),
            ("client_cert_file", self.client_cert_file.is_some()),
            ("client_key_file", self.client_key_file.is_some()),
            ("kubeconfig", self.kubeconfig.is_some()),
            ("context", self.context.is_some()),
            ("impersonate", self.impersonate.is_some()),
        ];
        match kube_only.iter().find(|(_, set)| *set) {
            Some((field, _)) => bail!(
                "connection `{}` is `kind = \"{}\"`: `{field}` is a Kubernetes key",
                self.name,
                self.kind.as_str()
            ),
            None => Ok(()),
        }
    }

    /// The adapter's view of this connection: its upstream (TLS with `ca_file`, and the client
    /// certificate when that is the credential), its credential and impersonation.
    pub fn kube_target(
        &self,
        base_dir: &Path,
        connect_timeout: Duration,
    ) -> Result<gatehouse_k8s_gateway::KubeTarget> {
        if let Some(kubeconfig) = &self.kubeconfig {
            return self.kubeconfig_target(&resolve_from(base_dir, kubeconfig), connect_timeout);
        }
        let name = &self.name;
        let upstream = self.upstream_with_tls(base_dir, connect_timeout)?;
        let credential = match (&self.token_file, &self.token_env) {
            (Some(file), _) => {
                gatehouse_k8s_gateway::UpstreamCredential::BearerFile(resolve_from(base_dir, file))
            }
            (None, Some(var)) => {
                let token = std::env::var(var).with_context(|| {
                    format!(
                        "connection `{name}`: environment variable `{var}` (token_env) is not set"
                    )
                })?;
                gatehouse_k8s_gateway::UpstreamCredential::Bearer(
                    gatehouse_core::SecretString::new(token.trim()),
                )
            }
            (None, None) => gatehouse_k8s_gateway::UpstreamCredential::ClientCertificate,
        };
        Ok(gatehouse_k8s_gateway::KubeTarget {
            info: Arc::new(self.info()),
            upstream,
            credential,
            impersonation: self.impersonation(),
        })
    }

    /// The upstream at `url`, verified with `ca_file` and presenting `client_cert_file` +
    /// `client_key_file` when both are set — what Kubernetes and HTTP connections share.
    pub(crate) fn upstream_with_tls(
        &self,
        base_dir: &Path,
        connect_timeout: Duration,
    ) -> Result<gatehouse_http::upstream::Upstream> {
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
        let ca = match &self.ca_file {
            Some(file) => read(file, "ca_file")?,
            None => Vec::new(),
        };
        let identity = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => Some((
                read(cert, "client_cert_file")?,
                read(key, "client_key_file")?,
            )),
            _ => None,
        };
        let url = self.url.as_deref().unwrap_or_default();
        let tls = if url.starts_with("https:") {
            Some(
                gatehouse_http::upstream::client_tls(
                    &ca,
                    identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
                )
                .with_context(|| format!("connection `{name}`"))?,
            )
        } else {
            None
        };
        gatehouse_http::upstream::Upstream::new(url, tls, connect_timeout)
            .with_context(|| format!("connection `{name}`"))
    }

    /// The target a kubeconfig's context defines. The file (and the certificate files it
    /// names) is read when gatehouse starts; a `tokenFile` for every request; an exec plugin
    /// when the first request needs a credential and again when that one expires.
    fn kubeconfig_target(
        &self,
        file: &Path,
        connect_timeout: Duration,
    ) -> Result<gatehouse_k8s_gateway::KubeTarget> {
        use gatehouse_k8s_gateway::kubeconfig::KubeconfigUser;
        let name = &self.name;
        let defined = gatehouse_k8s_gateway::kubeconfig::load(file, self.context.as_deref())
            .with_context(|| format!("connection `{name}`"))?;
        let ca = defined.ca_pem.unwrap_or_default();
        let identity = match &defined.user {
            KubeconfigUser::ClientCertificate { cert_pem, key_pem } => {
                Some((cert_pem.as_slice(), key_pem.expose().as_bytes()))
            }
            _ => None,
        };
        let tls = if defined.server.starts_with("https:") {
            Some(
                gatehouse_http::upstream::client_tls(&ca, identity).with_context(|| {
                    format!("connection `{name}`: kubeconfig `{}`", file.display())
                })?,
            )
        } else {
            None
        };
        let upstream =
            gatehouse_http::upstream::Upstream::new(&defined.server, tls, connect_timeout)
                .with_context(|| format!("connection `{name}`: kubeconfig `{}`", file.display()))?;
        let credential = match defined.user {
            KubeconfigUser::Token(token) => {
                gatehouse_k8s_gateway::UpstreamCredential::Bearer(token)
            }
            KubeconfigUser::TokenFile(path) => {
                gatehouse_k8s_gateway::UpstreamCredential::BearerFile(path)
            }
            KubeconfigUser::ClientCertificate { .. } => {
                gatehouse_k8s_gateway::UpstreamCredential::ClientCertificate
            }
            KubeconfigUser::Exec(plugin) => gatehouse_k8s_gateway::UpstreamCredential::Exec(
                Arc::new(gatehouse_k8s_gateway::ExecCredentials::new(
                    plugin,
                    &defined.server,
                    ca,
                    connect_timeout,
                )),
            ),
        };
        Ok(gatehouse_k8s_gateway::KubeTarget {
            info: Arc::new(self.info()),
            upstream,
            credential,
            impersonation: self.impersonation(),
        })
    }

    /// `[connections.impersonate]`, as the adapter applies it.
    pub fn impersonation(&self) -> Option<gatehouse_k8s_gateway::Impersonation> {
        self.impersonate
            .as_ref()
            .map(|config| gatehouse_k8s_gateway::Impersonation {
                group_prefix: config.group_prefix.clone(),
                groups: config.groups.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use crate::config::Config;
    use std::path::Path;

    fn refusal(connection: &str) -> String {
        let text =
            format!("[[connections]]\nname = \"cluster\"\nkind = \"kubernetes\"\n{connection}");
        match Config::parse(&text, Path::new("/etc/gatehouse/gatehouse.toml")) {
            Ok(_) => String::new(),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn a_kubernetes_connection_names_its_server_its_ca_and_one_credential() {
        let complete =
            "url = \"https://10.0.0.1:6443\"\nca_file = \"ca.pem\"\ntoken_file = \"t\"\n";
        assert_eq!(refusal(complete), "");
        assert!(refusal("ca_file = \"ca.pem\"\ntoken_file = \"t\"\n").contains("needs `url`"));
        assert!(
            refusal("url = \"https://10.0.0.1:6443\"\ntoken_file = \"t\"\n")
                .contains("needs `ca_file`")
        );
        assert!(
            refusal("url = \"https://10.0.0.1:6443\"\nca_file = \"ca.pem\"\n")
                .contains("exactly one credential")
        );
        assert!(
            refusal(&format!("{complete}token_env = \"T\"\n")).contains("exactly one credential")
        );
        assert!(
            refusal("url = \"https://a:6443\"\nca_file = \"c\"\nclient_cert_file = \"c.pem\"\n")
                .contains("go together")
        );
        assert!(
            refusal(&format!("{complete}database = \"x\"\n"))
                .contains("`database` is a PostgreSQL key")
        );
        assert!(
            refusal(&format!("{complete}[connections.impersonate]\nbogus = 1\n")).contains("bogus")
        );
    }

    #[test]
    fn a_kubeconfig_defines_the_connection_alone() {
        assert_eq!(
            refusal("kubeconfig = \"kube.yaml\"\ncontext = \"prod\"\n"),
            ""
        );
        assert!(
            refusal("kubeconfig = \"kube.yaml\"\ntoken_file = \"t\"\n")
                .contains("`token_file` and `kubeconfig` exclude each other")
        );
        assert!(
            refusal("kubeconfig = \"kube.yaml\"\nurl = \"https://a:6443\"\n")
                .contains("`url` and `kubeconfig` exclude each other")
        );
        assert!(
            refusal("url = \"https://a:6443\"\nca_file = \"c\"\ntoken_file = \"t\"\ncontext = \"prod\"\n")
                .contains("`kubeconfig`, which is not set")
        );
    }

    #[test]
    fn a_kubernetes_connection_served_by_agents_holds_nothing_of_the_cluster() {
        let served = "agents = [\"dc1\"]\n";
        assert_eq!(refusal(served), "");
        assert_eq!(
            refusal(&format!(
                "{served}[connections.impersonate]\ngroups = {{ admins = \"platform-admins\" }}\n"
            )),
            ""
        );
        for key in [
            "url = \"https://10.0.0.1:6443\"",
            "ca_file = \"ca.pem\"",
            "token_file = \"t\"",
            "token_env = \"T\"",
            "client_cert_file = \"c.pem\"",
        ] {
            let refused = refusal(&format!("{served}{key}\n"));
            assert!(
                refused.contains("served by agents") && refused.contains("agents' own config"),
                "{key}: {refused}"
            );
        }
        assert!(refusal("agents = [\"dc 1\"]\n").contains("not an agent name"));
        assert!(refusal(&format!("{served}host = \"h\"\n")).contains("PostgreSQL key"));
    }

    #[test]
    fn kubernetes_keys_on_a_postgres_connection_are_refused() {
        let text = "[[connections]]\nname = \"db\"\nkind = \"postgres\"\nhost = \"h\"\ndatabase = \"d\"\nuser = \"u\"\nurl = \"https://x\"\n";
        let error =
            Config::parse(text, Path::new("/etc/gatehouse/gatehouse.toml")).expect_err("refused");
        assert!(
            format!("{error:#}").contains("`url` is a Kubernetes key"),
            "{error:#}"
        );
    }
}
