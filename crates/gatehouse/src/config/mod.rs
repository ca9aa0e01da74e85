//! The gateway's configuration: one typed tree read from TOML (unknown keys are errors that
//! name the key), and the quickstart defaults used when no file is given.

pub(crate) mod agent;
pub(crate) mod http;
pub(crate) mod kubernetes;
pub(crate) mod logins;
pub(crate) mod mysql;
pub(crate) mod setup;
pub(crate) mod ssh;

pub use crate::config::logins::{ConfigSide, LoginConfig};
use anyhow::{Context, Result, bail};
use gatehouse_core::{ADMIN_LOGIN_LEVEL, ConnectionInfo, ConnectionKind, SecretString};
use gatehouse_pg::{PgSettings, PgTarget, UpstreamTls};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The quickstart's one connection.
pub const QUICKSTART_CONNECTION: &str = "demo";

/// Where the quickstart keeps the password of its login `role`.
pub fn quickstart_password_file(data_dir: &Path, role: &str) -> PathBuf {
    data_dir.join("logins").join(format!("{role}.password"))
}

/// Address of the PostgreSQL listener in the quickstart.
pub const QUICKSTART_PG_LISTEN: &str = "127.0.0.1:15432";
/// Address of the admin HTTP listener in the quickstart.
pub const QUICKSTART_ADMIN_LISTEN: &str = "127.0.0.1:8009";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Data directory (store, TLS material, quickstart policy). `--data-dir` overrides it.
    pub data_dir: Option<PathBuf>,
    /// Threads that run `gatehouse serve`'s sessions and listeners; one per CPU when unset.
    pub worker_threads: Option<std::num::NonZeroUsize>,
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub postgres: PostgresListenerConfig,
    /// `[kubernetes]`: the listener kubectl talks to (opened when a connection is
    /// `kind = "kubernetes"`).
    #[serde(default)]
    pub kubernetes: kubernetes::KubernetesListenerConfig,
    /// `[http]`: the listener HTTP API clients talk to (opened when a connection is
    /// `kind = "http"`).
    #[serde(default)]
    pub http: http::HttpListenerConfig,
    /// `[ssh]`: the listener SSH clients talk to (opened when a connection is `kind = "ssh"`).
    #[serde(default)]
    pub ssh: ssh::SshListenerConfig,
    /// `[mysql]`: the listener MySQL and MariaDB clients talk to, TLS required (opened when a
    /// connection is `kind = "mysql"`).
    #[serde(default)]
    pub mysql: mysql::MysqlListenerConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub keys: KeysConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub recording: RecordingConfig,
    #[serde(default)]
    pub approvals: ApprovalsConfig,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub connections: Vec<ConnectionConfig>,
    /// Identity providers whose tokens gatehouse accepts (token exchange at `POST /v1/token`).
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// `[tokens]`: the gatehouse tokens token exchange issues.
    #[serde(default)]
    pub tokens: TokensConfig,
    /// `[agents]`: where network-resident agents dial in.
    #[serde(default)]
    pub agents: crate::config::agent::AgentsConfig,
    /// Where relative paths in this config are resolved from (the file's directory).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `.cedar` files; empty means the quickstart policy (written to the data directory).
    #[serde(default)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain for client-facing TLS; with `key_file`. Without both, a
    /// self-signed certificate is generated in the data directory on first start.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresListenerConfig {
    pub listen: SocketAddr,
    /// Accept clients that do not start TLS. Honoured only on loopback addresses unless
    /// `allow_plaintext_on_network` is also set.
    pub allow_plaintext: bool,
    pub allow_plaintext_on_network: bool,
    pub max_message_bytes: usize,
    pub max_server_message_bytes: usize,
    #[serde(with = "humantime_serde_compat")]
    pub handshake_timeout: Duration,
    pub max_sessions: usize,
    #[serde(with = "humantime_serde_compat")]
    pub shutdown_grace: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
}

impl Default for PostgresListenerConfig {
    fn default() -> Self {
        let defaults = PgSettings::default();
        PostgresListenerConfig {
            listen: parse_addr(QUICKSTART_PG_LISTEN),
            allow_plaintext: false,
            allow_plaintext_on_network: false,
            max_message_bytes: defaults.max_client_message,
            max_server_message_bytes: defaults.max_server_message,
            handshake_timeout: defaults.handshake_timeout,
            max_sessions: defaults.max_sessions,
            shutdown_grace: defaults.shutdown_grace,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// `[admin]`: the admin HTTP listener (plain HTTP: keep it on loopback, or put a
/// TLS-terminating proxy in front of it), and who may change the running gateway through it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Groups whose members may reload the policy through `POST /v1/policy/reload`
    /// (`gatehouse policy reload`). Default: `admins`.
    pub groups: Vec<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: parse_addr(QUICKSTART_ADMIN_LISTEN),
            groups: vec!["admins".to_owned()],
        }
    }
}

/// `[audit]`: where the chain key and checkpoints live, and how soon events reach the disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// File holding the chain key (64 hex digits), created on first start. Keep it outside
    /// whatever backs up or replicates the store. Default: `<data-dir>/audit.key`.
    pub key_file: Option<PathBuf>,
    /// Environment variable holding the key instead of a file (takes precedence).
    pub key_env: Option<String>,
    /// Checkpoint file (newest fsynced `seq` and its MAC), written every second. Put it where
    /// the store's writers cannot rewrite it. Default: `<data-dir>/audit.checkpoint`.
    pub checkpoint_file: Option<PathBuf>,
    /// Read-only requests' events are fsynced at most this long after they are written;
    /// state-changing requests always wait for their fsync.
    #[serde(with = "humantime_serde_compat")]
    pub fsync_window: Duration,
    /// A request whose event cannot be fsynced within this long is refused.
    #[serde(with = "humantime_serde_compat")]
    pub fsync_timeout: Duration,
    /// Requests waiting for fsync at once beyond which new ones are refused.
    pub max_waiting: usize,
    /// When a change made inside an open transaction has its events fsynced:
    /// `"each-statement"` (default) before the statement is forwarded; `"at-commit"` before
    /// the session's next request that is not a plain read or write of rows in that
    /// transaction, a `SAVEPOINT`, `RELEASE` or `ROLLBACK` (its `COMMIT` at the latest), so a
    /// transaction of several changes waits for one fsync. Changes in autocommit, and
    /// statements that call functions or reach outside the transaction, always wait for
    /// theirs. PostgreSQL sessions only.
    pub fsync_changes: gatehouse_pipeline::ChangeSync,
}

impl Default for AuditConfig {
    fn default() -> Self {
        let defaults = gatehouse_store::DurabilitySettings::default();
        AuditConfig {
            key_file: None,
            key_env: None,
            checkpoint_file: None,
            fsync_window: defaults.window,
            fsync_timeout: defaults.timeout,
            max_waiting: defaults.max_waiting,
            fsync_changes: gatehouse_pipeline::ChangeSync::default(),
        }
    }
}

/// `[recording]`: session recordings (requests, decisions, result metadata per session).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    pub enabled: bool,
    /// `store` keeps recordings as blobs in the store database; `directory` as files.
    pub storage: RecordingStorageKind,
    /// For `storage = "directory"`. Default: `<data-dir>/recordings`.
    pub directory: Option<PathBuf>,
    /// Recordings of sessions that ended longer ago than this many days are deleted (a
    /// background sweep, hourly); 0 keeps them forever.
    pub retain_days: u32,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: true,
            storage: RecordingStorageKind::Store,
            directory: None,
            retain_days: 30,
        }
    }
}

/// `[approvals]`: statements that policy holds (`@approval("GROUP")` permits).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// How long a pending approval waits for reviewers before it expires.
    #[serde(with = "humantime_serde_compat")]
    pub pending_ttl: Duration,
    /// How long a held statement waits in its session (psql) before failing; the approval
    /// stays pending, and sending the statement again picks it up.
    #[serde(with = "humantime_serde_compat")]
    pub wait: Duration,
    /// `[approvals.webhook]`: notify a receiver (Slack, a generic JSON endpoint) when an
    /// approval is requested and when it is decided, spent, withdrawn or expires.
    pub webhook: Option<WebhookConfig>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            pending_ttl: gatehouse_pipeline::DEFAULT_PENDING_TTL,
            wait: Duration::from_secs(300),
            webhook: None,
        }
    }
}

/// `[approvals.webhook]`: where approval notifications are POSTed, and how.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://host:port/path`, or `https://...` together with `ca_file`.
    pub url: String,
    /// `json` (signed, the whole record) or `slack` (an incoming-webhook `{"text": ...}`).
    #[serde(default)]
    pub format: WebhookFormat,
    /// Environment variable holding the HMAC-SHA256 key that signs `json` deliveries
    /// (`X-Gatehouse-Signature`); required for `json`, optional for `slack`.
    pub secret_env: Option<String>,
    /// How long one delivery attempt may take.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// PEM file of the certificate authorities trusted for an `https://` URL (gatehouse
    /// ships no public roots; the system bundle, e.g. `/etc/ssl/certs/ca-certificates.crt`,
    /// works for public receivers such as Slack).
    pub ca_file: Option<PathBuf>,
}

/// The body shape of approval notifications.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    #[default]
    Json,
    Slack,
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(5)
}

/// `[access]`: time-boxed access grants (`gatehouse access request`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Members of this group approve grants (`gatehouse approvals approve ID`).
    pub approvers: String,
    /// The longest grant anyone may ask for.
    #[serde(with = "humantime_serde_compat")]
    pub max_duration: Duration,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            approvers: "admins".to_owned(),
            max_duration: Duration::from_secs(8 * 3600),
        }
    }
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RecordingStorageKind {
    #[default]
    Store,
    Directory,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Lifetime of a key when `--ttl` is not given.
    #[serde(with = "humantime_serde_compat")]
    pub default_ttl: Duration,
    /// Longest lifetime `keys create` accepts.
    #[serde(with = "humantime_serde_compat")]
    pub max_ttl: Duration,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            default_ttl: Duration::from_secs(15 * 60),
            max_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Whom an identity provider's tokens stand for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Machines and agents: CI jobs' OIDC tokens, cloud workload identities, client-credentials
    /// tokens. Their tokens are exchanged at `POST /v1/token` for gatehouse tokens.
    #[default]
    Workload,
    /// People, logging in with `gatehouse login` (OpenID Connect authorization code flow with
    /// PKCE, or the device flow) through the public client `client_id`; their ID tokens are
    /// exchanged at `POST /v1/token`, and accepted as the `actor_token` of a workload's
    /// exchange (an agent acting for a person).
    Human,
}

/// One `[[identity_providers]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// Short name, shown in the audit log and in errors.
    pub name: String,
    /// The `iss` its tokens carry, exactly; also where discovery is fetched
    /// (`<issuer>/.well-known/openid-configuration`).
    pub issuer: String,
    /// Accepted `aud` values: a token must carry at least one.
    pub audiences: Vec<String>,
    /// The claim naming the subject.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The claim holding group names (a string or a list of strings); they become the
    /// identity's groups, which policies grant to.
    pub groups_claim: Option<String>,
    /// Conditions every token must meet: claim = required value (e.g. `repository = "acme/api"`).
    #[serde(default)]
    pub claims: std::collections::BTreeMap<String, String>,
    /// Claim→group mapping rules: `{ claim = "department", value = "data", group = "analysts" }`
    /// puts tokens whose claim has that value in the group (besides the groups claim's groups).
    #[serde(default)]
    pub group_rules: Vec<GroupRuleConfig>,
    #[serde(default)]
    pub kind: ProviderKind,
    /// A JWKS file to use instead of fetching the issuer's keys (offline installs, tests).
    pub jwks_file: Option<PathBuf>,
    /// The JWKS URL, instead of the one discovery names.
    pub jwks_uri: Option<String>,
    /// PEM CA certificates to trust when fetching discovery and JWKS over https://.
    pub ca_file: Option<PathBuf>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway", with = "humantime_serde_compat")]
    pub leeway: Duration,
    /// A token naming a key id the cached JWKS lacks makes gatehouse fetch the JWKS again
    /// (the issuer rotated its keys), at most this often.
    #[serde(default = "default_refresh_interval", with = "humantime_serde_compat")]
    pub min_refresh_interval: Duration,
    /// While the issuer cannot be reached, its last fetched keys are still used until they
    /// are this old; then its tokens are refused (a rotated-out key must not live forever).
    #[serde(default = "default_max_key_age", with = "humantime_serde_compat")]
    pub max_key_age: Duration,
    /// `kind = "human"` only (required there): the public OpenID Connect client (no secret)
    /// `gatehouse login` signs people in with. Its ID tokens carry it as `aud`, so
    /// `audiences` must include it.
    pub client_id: Option<String>,
    /// `kind = "human"` only: the scopes `gatehouse login` asks for (default
    /// [`DEFAULT_LOGIN_SCOPES`]); they must make the IdP put the groups claim in ID tokens.
    pub scopes: Option<Vec<String>>,
}

/// One `group_rules` entry of an identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRuleConfig {
    /// The claim to look at (a string, number, boolean, or list of strings).
    pub claim: String,
    /// The value it must have (or, for a list, contain).
    pub value: String,
    /// The group granted.
    pub group: String,
}

/// The scopes `gatehouse login` asks a human provider for by default: an ID token with the
/// person's profile, email and groups, and a refresh token (`offline_access`).
pub const DEFAULT_LOGIN_SCOPES: [&str; 5] =
    ["openid", "profile", "email", "offline_access", "groups"];

impl IdentityProviderConfig {
    /// The scopes `gatehouse login` asks this provider for.
    pub fn login_scopes(&self) -> Vec<String> {
        self.scopes.clone().unwrap_or_else(|| {
            DEFAULT_LOGIN_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        })
    }
}

fn default_refresh_interval() -> Duration {
    crate::server::identity::MIN_REFRESH_INTERVAL
}

fn default_max_key_age() -> Duration {
    crate::server::identity::DEFAULT_MAX_KEY_AGE
}

fn default_subject_claim() -> String {
    "sub".to_owned()
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

/// `[tokens]`: lifetime and signing key of the gatehouse tokens token exchange issues.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Lifetime of an issued token.
    #[serde(with = "humantime_serde_compat")]
    pub ttl: Duration,
    /// Ed25519 signing key (PKCS#8), created on first start with mode 0600.
    /// Default: `<data-dir>/token.key`.
    pub key_file: Option<PathBuf>,
    /// Token exchanges (`POST /v1/token`) allowed per source address per minute; more get
    /// HTTP 429 with `Retry-After`.
    pub exchanges_per_minute: u32,
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            ttl: Duration::from_secs(15 * 60),
            key_file: None,
            exchanges_per_minute: 60,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    pub name: String,
    #[serde(deserialize_with = "connection_kind")]
    pub kind: ConnectionKind,
    #[serde(default = "default_environment")]
    pub environment: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// Agents that serve this connection (`gatehouse agent` next to the target): the
    /// gateway then holds no target settings or credentials for it at all.
    #[serde(default)]
    pub agents: Vec<String>,
    #[serde(default)]
    pub host: String,
    /// The target's port; the kind's usual one when absent (5432 for PostgreSQL, 22 for SSH):
    /// read it with [`ConnectionConfig::port`].
    #[serde(default, rename = "port")]
    pub port_set: Option<u16>,
    #[serde(default)]
    pub database: String,
    #[serde(default)]
    pub user: String,
    /// Environment variable holding the target password.
    pub password_env: Option<String>,
    /// File holding the target password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: UpstreamTlsMode,
    pub ca_file: Option<PathBuf>,
    /// Also record result rows (after masking) in this connection's session recordings.
    #[serde(default)]
    pub record_results: bool,
    /// Mask result values (`[connections.masking]` after this connection's
    /// `[[connections]]`): detectors, column rules, strategies, exempt groups.
    pub masking: Option<gatehouse_mask::MaskConfig>,
    /// `[[connections.logins]]`: least-privileged server logins by level, and which groups
    /// get each, so that the server itself refuses what policy meant to refuse.
    #[serde(default)]
    pub logins: Vec<LoginConfig>,
    /// The level of identities that no `[[connections.logins]]` entry names; required with
    /// logins (`admin` gives them the connection's own `user`, knowingly).
    pub default_level: Option<String>,
    /// `kind = "kubernetes"`: the API server's URL (`https://...`).
    pub url: Option<String>,
    /// `kind = "kubernetes"`: a file holding the bearer token gatehouse presents (read again
    /// for every request, so a rotated service-account token is picked up).
    pub token_file: Option<PathBuf>,
    /// `kind = "kubernetes"`: an environment variable holding that token.
    pub token_env: Option<String>,
    /// `kind = "kubernetes"`: a client certificate (PEM) gatehouse presents instead of a token.
    pub client_cert_file: Option<PathBuf>,
    /// `kind = "kubernetes"`: the client certificate's private key (PEM).
    pub client_key_file: Option<PathBuf>,
    /// `kind = "kubernetes"`: a kubeconfig (YAML or JSON) whose context defines the API server,
    /// its CA and the credential, instead of `url`, `ca_file` and a credential key.
    pub kubeconfig: Option<PathBuf>,
    /// `kind = "kubernetes"`: the kubeconfig's context (default: its `current-context`).
    pub context: Option<String>,
    /// `kind = "kubernetes"`: `[connections.impersonate]`, so the cluster's RBAC and audit log
    /// see the gatehouse identity.
    pub impersonate: Option<kubernetes::ImpersonateConfig>,
    /// `kind = "http"`: basic auth's user (the password from `password_file`/`password_env`).
    pub basic_user: Option<String>,
    /// `kind = "http"`: an API-key header gatehouse adds (`X-API-Key`), its value from
    /// `header_value_env`.
    pub header_name: Option<String>,
    /// `kind = "http"`: the environment variable holding `header_name`'s value.
    pub header_value_env: Option<String>,
    /// `kind = "http"`: hosts (`host` or `host:port`) an answer may redirect to besides the
    /// target itself.
    #[serde(default)]
    pub redirect_hosts: Vec<String>,
    /// `kind = "http"`: content types (`image/png`, `image/*`) passed unmasked to identities
    /// that see data masked, because gatehouse cannot mask them.
    #[serde(default)]
    pub passthrough_content_types: Vec<String>,
    /// `kind = "http"`: JSON paths (`**.password`, `items[*].card`) masked in answers for
    /// identities without `data:unmasked`, beyond what the detectors find.
    #[serde(default)]
    pub mask_json_paths: Vec<String>,
    /// `kind = "http"`: request headers whose values policy sees in `context.headers`.
    #[serde(default)]
    pub policy_headers: Vec<String>,
    /// `kind = "ssh"`: the private key (OpenSSH format, unencrypted) gatehouse logs in with.
    pub private_key_file: Option<PathBuf>,
    /// `kind = "ssh"`: an environment variable holding that private key.
    pub private_key_env: Option<String>,
    /// `kind = "ssh"`: the target's host key, `TYPE BASE64` (a line of `ssh-keyscan HOST` or of
    /// the host's `/etc/ssh/ssh_host_*_key.pub`); any other key refuses the session.
    pub host_key: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTlsMode {
    #[default]
    Disable,
    Require,
    VerifyFull,
}

fn default_environment() -> String {
    "dev".to_owned()
}

impl ConnectionConfig {
    /// The target's port: the configured one, or the kind's usual one.
    pub fn port(&self) -> u16 {
        match self.port_set {
            Some(port) => port,
            None if self.kind == ssh::SSH => 22,
            None if self.kind == mysql::MYSQL => 3306,
            None => 5432,
        }
    }
}

/// `path`, or for a relative one `base_dir/path` (config files resolve from their directory).
pub fn resolve_from(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

fn parse_addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

impl Config {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file `{}`", path.display()))?;
        Config::parse(&text, path)
    }

    /// Parse and validate `text` as the config file at `path` (relative paths in it resolve
    /// from that file's directory).
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let mut config: Config = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("invalid config file `{}`: {e}", path.display()))?;
        config.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        config.validate()?;
        Ok(config)
    }

    /// The quickstart: a `demo` connection to the local PostgreSQL, a `demo-mysql` one to the
    /// local MariaDB, and the quickstart policy.
    /// Readers and writers log in as least-privileged roles that `gatehouse serve` creates on
    /// the local server (passwords in `data_dir`/logins/, mode 0600); admins as `postgres`.
    pub fn quickstart(data_dir: &Path) -> Config {
        let login = |level: &str, group: &str| {
            let role = crate::server::db_roles::role_name(QUICKSTART_CONNECTION, level);
            LoginConfig {
                level: level.to_owned(),
                groups: vec![group.to_owned()],
                password_file: Some(quickstart_password_file(data_dir, &role)),
                user: Some(role),
                password_env: None,
            }
        };
        Config {
            data_dir: None,
            worker_threads: None,
            policy: PolicyConfig::default(),
            tls: TlsConfig::default(),
            postgres: PostgresListenerConfig::default(),
            kubernetes: kubernetes::KubernetesListenerConfig::default(),
            http: http::HttpListenerConfig::default(),
            ssh: ssh::SshListenerConfig::default(),
            mysql: mysql::MysqlListenerConfig::default(),
            admin: AdminConfig::default(),
            keys: KeysConfig::default(),
            audit: AuditConfig::default(),
            recording: RecordingConfig::default(),
            approvals: ApprovalsConfig::default(),
            access: AccessConfig::default(),
            connections: mysql::with_quickstart_mysql(
                data_dir,
                ConnectionConfig {
                    name: QUICKSTART_CONNECTION.to_owned(),
                    kind: ConnectionKind::POSTGRES,
                    environment: "dev".to_owned(),
                    tags: vec!["quickstart".to_owned()],
                    description: "the local PostgreSQL's `postgres` database (quickstart)"
                        .to_owned(),
                    agents: Vec::new(),
                    host: "127.0.0.1".to_owned(),
                    port_set: None,
                    database: "postgres".to_owned(),
                    user: "postgres".to_owned(),
                    password_env: Some("PGPASSWORD".to_owned()),
                    password_file: None,
                    tls: UpstreamTlsMode::Disable,
                    ca_file: None,
                    record_results: false,
                    // The quickstart masks with every built-in detector; admins see raw values
                    // (quickstart policy `admins-see-unmasked`).
                    masking: Some(gatehouse_mask::MaskConfig::default()),
                    // Strongest first: someone in several groups gets the login of the first.
                    logins: vec![
                        LoginConfig {
                            level: ADMIN_LOGIN_LEVEL.to_owned(),
                            groups: vec!["admins".to_owned()],
                            user: None,
                            password_env: None,
                            password_file: None,
                        },
                        login(crate::server::db_roles::WRITE_LEVEL, "writers"),
                        login(crate::server::db_roles::READ_LEVEL, "readers"),
                    ],
                    default_level: Some("read".to_owned()),
                    url: None,
                    token_file: None,
                    token_env: None,
                    client_cert_file: None,
                    client_key_file: None,
                    kubeconfig: None,
                    context: None,
                    impersonate: None,
                    basic_user: None,
                    header_name: None,
                    header_value_env: None,
                    redirect_hosts: Vec::new(),
                    passthrough_content_types: Vec::new(),
                    mask_json_paths: Vec::new(),
                    policy_headers: Vec::new(),
                    private_key_file: None,
                    private_key_env: None,
                    host_key: None,
                },
            ),
            identity_providers: Vec::new(),
            tokens: TokensConfig::default(),
            agents: crate::config::agent::AgentsConfig::default(),
            base_dir: PathBuf::from("."),
        }
    }

    fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for connection in &self.connections {
            if !seen.insert(connection.name.as_str()) {
                bail!("connection `{}` is defined twice", connection.name);
            }
            if connection.kind == http::HTTP {
                connection.validate_http(if connection.agents.is_empty() {
                    ConfigSide::GatewayDirect
                } else {
                    ConfigSide::GatewayAgents
                })?;
                continue;
            }
            connection.validate_not_http()?;
            if connection.kind == ssh::SSH {
                connection.validate_ssh(if connection.agents.is_empty() {
                    ConfigSide::GatewayDirect
                } else {
                    ConfigSide::GatewayAgents
                })?;
                continue;
            }
            connection.validate_not_ssh()?;
            if connection.kind == kubernetes::KUBERNETES {
                connection.validate_kubernetes(if connection.agents.is_empty() {
                    ConfigSide::GatewayDirect
                } else {
                    ConfigSide::GatewayAgents
                })?;
                continue;
            }
            connection.validate_not_kubernetes()?;
            connection.validate_target()?;
            connection.validate_logins(if connection.agents.is_empty() {
                ConfigSide::GatewayDirect
            } else {
                ConfigSide::GatewayAgents
            })?;
            if connection.password_env.is_some() && connection.password_file.is_some() {
                bail!(
                    "connection `{}` sets both `password_env` and `password_file`; keep one",
                    connection.name
                );
            }
        }
        crate::server::identity::validate_config(self)?;
        self.validate_limits()?;
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            bail!(
                "[tls] needs both `cert_file` and `key_file`, or neither (for a generated self-signed certificate)"
            );
        }
        let plaintext = &self.postgres;
        if plaintext.allow_plaintext
            && !plaintext.listen.ip().is_loopback()
            && !plaintext.allow_plaintext_on_network
        {
            bail!(
                "[postgres] allow_plaintext is set but the listener {} is not a loopback address; \
                 tokens would cross the network unencrypted. Set allow_plaintext_on_network = true only if you mean it",
                plaintext.listen
            );
        }
        Ok(())
    }

    /// Limits and timeouts that would make the gateway refuse everything (a zero timeout, a
    /// message limit smaller than a login) are configuration mistakes: name them at start
    /// rather than let every client fail.
    fn validate_limits(&self) -> Result<()> {
        /// Room for a startup packet with its parameters and an ordinary query or answer.
        const MIN_MESSAGE_BYTES: usize = 1024;
        let pg = &self.postgres;
        let defaults = PgSettings::default();
        for (setting, value, default) in [
            (
                "[postgres] max_message_bytes",
                pg.max_message_bytes,
                defaults.max_client_message,
            ),
            (
                "[postgres] max_server_message_bytes",
                pg.max_server_message_bytes,
                defaults.max_server_message,
            ),
        ] {
            if value < MIN_MESSAGE_BYTES {
                bail!(
                    "{setting} = {value} is too small: no client could log in or run a query; use at least {MIN_MESSAGE_BYTES} (the default is {default})"
                );
            }
        }
        for (setting, value) in [
            ("[postgres] max_sessions", pg.max_sessions),
            ("[audit] max_waiting", self.audit.max_waiting),
        ] {
            if value == 0 {
                bail!("{setting} = 0 would refuse every request; use at least 1");
            }
        }
        let mut durations = vec![
            ("[postgres] handshake_timeout", pg.handshake_timeout),
            ("[postgres] connect_timeout", pg.connect_timeout),
            ("[audit] fsync_timeout", self.audit.fsync_timeout),
            ("[approvals] pending_ttl", self.approvals.pending_ttl),
            ("[access] max_duration", self.access.max_duration),
            ("[keys] default_ttl", self.keys.default_ttl),
        ];
        if let Some(webhook) = &self.approvals.webhook {
            durations.push(("[approvals.webhook] timeout", webhook.timeout));
        }
        if let Some((setting, _)) = durations.iter().find(|(_, value)| value.is_zero()) {
            bail!(
                "{setting} = \"0s\" would refuse or expire everything at once; give it a duration such as \"10s\""
            );
        }
        if self.keys.default_ttl > self.keys.max_ttl {
            bail!(
                "[keys] default_ttl ({}) is longer than max_ttl ({}); keys could never be created with the default",
                humantime::format_duration(self.keys.default_ttl),
                humantime::format_duration(self.keys.max_ttl)
            );
        }
        Ok(())
    }

    /// Resolve a path from the config relative to the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        resolve_from(&self.base_dir, path)
    }

    /// The listener settings for the PostgreSQL adapter.
    pub fn pg_settings(&self) -> PgSettings {
        PgSettings {
            require_tls: !self.postgres.allow_plaintext,
            max_client_message: self.postgres.max_message_bytes,
            max_server_message: self.postgres.max_server_message_bytes,
            handshake_timeout: self.postgres.handshake_timeout,
            max_sessions: self.postgres.max_sessions,
            shutdown_grace: self.postgres.shutdown_grace,
            approval_wait: self.approvals.wait,
        }
    }
}

impl ConnectionConfig {
    /// What policy sees of this connection.
    pub fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            name: self.name.clone(),
            kind: self.kind,
            environment: self.environment.clone(),
            tags: self.tags.clone(),
            description: self.description.clone(),
        }
    }

    /// A connection is served either by agents (and then the gateway holds nothing of the
    /// target) or directly (and then it needs the target's address and login).
    fn validate_agent_names(&self) -> Result<()> {
        match self
            .agents
            .iter()
            .find(|a| !gatehouse_store::valid_agent_name(a))
        {
            Some(agent) => bail!(
                "connection `{}`: `{agent}` is not an agent name (letters, digits, `-`, `_`, `.`)",
                self.name
            ),
            None => Ok(()),
        }
    }

    fn validate_target(&self) -> Result<()> {
        let name = &self.name;
        if self.agents.is_empty() {
            for (field, value) in [
                ("host", &self.host),
                ("database", &self.database),
                ("user", &self.user),
            ] {
                if value.trim().is_empty() {
                    bail!(
                        "connection `{name}` needs `{field}` (or `agents = [...]` naming the agents that serve it)"
                    );
                }
            }
            return Ok(());
        }
        self.validate_agent_names()?;
        let target_settings = [
            ("host", !self.host.is_empty()),
            ("database", !self.database.is_empty()),
            ("user", !self.user.is_empty()),
            ("password_env", self.password_env.is_some()),
            ("password_file", self.password_file.is_some()),
            ("ca_file", self.ca_file.is_some()),
        ];
        if let Some((field, _)) = target_settings.iter().find(|(_, set)| *set) {
            bail!(
                "connection `{name}` is served by agents, so `{field}` belongs in the agents' own config, not the gateway's \
                 (the gateway never holds an agent-served target's address or credentials)"
            );
        }
        Ok(())
    }

    /// The connector's view of the connection's own login (level `admin`): where to dial and
    /// with which credentials, relative paths resolved from `base_dir` (the config file's
    /// directory; the agent's config has connections too).
    pub fn target_in(&self, base_dir: &Path) -> Result<PgTarget> {
        let resolve = |path: &Path| resolve_from(base_dir, path);
        let password = read_password(
            self.password_env.as_deref(),
            self.password_file.as_deref(),
            base_dir,
            &format!("connection `{}`", self.name),
        )?;
        let tls = match self.tls {
            UpstreamTlsMode::Disable => UpstreamTls::Disable,
            UpstreamTlsMode::Require => UpstreamTls::Require,
            UpstreamTlsMode::VerifyFull => UpstreamTls::VerifyFull {
                ca_file: self.ca_file.as_deref().map(resolve),
            },
        };
        Ok(PgTarget {
            host: self.host.clone(),
            port: self.port(),
            database: self.database.clone(),
            user: self.user.clone(),
            password,
            tls,
        })
    }
}

/// A password from an environment variable (unset: none) or a file (`what` names whose, in
/// errors).
pub(crate) fn read_password(
    env: Option<&str>,
    file: Option<&Path>,
    base_dir: &Path,
    what: &str,
) -> Result<Option<SecretString>> {
    match (env, file) {
        (Some(var), _) => Ok(std::env::var(var).ok().map(SecretString::new)),
        (None, Some(file)) => {
            let path = resolve_from(base_dir, file);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "cannot read the password file `{}` of {what}",
                    path.display()
                )
            })?;
            Ok(Some(SecretString::new(text.trim_end_matches(['\n', '\r']))))
        }
        (None, None) => Ok(None),
    }
}

/// Durations written the way people write them (`15m`, `10s`, `1h 30m`).
pub(crate) mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration (e.g. \"10s\", \"15m\"): {e}"
            ))
        })
    }
}

/// A connection's `kind`: one of the protocols this gatehouse serves.
fn connection_kind<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<ConnectionKind, D::Error> {
    let name = String::deserialize(deserializer)?;
    match name.as_str() {
        "postgres" => Ok(ConnectionKind::POSTGRES),
        "kubernetes" => Ok(kubernetes::KUBERNETES),
        "http" => Ok(http::HTTP),
        "ssh" => Ok(ssh::SSH),
        "mysql" => Ok(mysql::MYSQL),
        other => Err(serde::de::Error::custom(format!(
            "unknown connection kind `{other}`; this gatehouse serves: postgres, mysql, kubernetes, http, ssh"
        ))),
    }
}
