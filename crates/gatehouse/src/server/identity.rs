//! Configured identity providers at run time: which provider a token comes from, its signing
//! keys (a static JWKS file, or discovery → `jwks_uri` fetched over HTTP, cached, and refreshed
//! when a token names a key id the cache does not know, at most once per
//! [`MIN_REFRESH_INTERVAL`]), and the claim rules from `gatehouse-identity`. Also the gateway's
//! own token signing key.

use crate::config::{Config, IdentityProviderConfig, ProviderKind};
use crate::http_client::{ACCEPT_JSON, HttpClient};
use anyhow::{Context, Result, anyhow, bail};
use gatehouse_identity::{IdentityError, JwkSet, TokenSigner, WorkloadRules};
use hyper::Method;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Fetched keys are used this long before they are fetched again.
const JWKS_MAX_AGE: Duration = Duration::from_secs(600);
/// Unknown key ids trigger a refetch at most this often per provider by default (so tokens
/// with made-up `kid`s cannot make gatehouse hammer the issuer).
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// How old fetched keys may get, by default, while the issuer cannot be reached.
pub const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// Time allowed for one discovery or JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest lifetime `[tokens] ttl` may set.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// Check `[[identity_providers]]` and `[tokens]` (called from `Config::load`).
pub fn validate_config(config: &Config) -> Result<()> {
    let mut names = HashSet::new();
    let mut issuers = HashSet::new();
    for provider in &config.identity_providers {
        let name = &provider.name;
        if name.is_empty() {
            bail!("an [[identity_providers]] entry has an empty `name`");
        }
        if !names.insert(name.as_str()) {
            bail!("identity provider `{name}` is defined twice");
        }
        if !issuers.insert(provider.issuer.as_str()) {
            bail!(
                "identity provider `{name}`: issuer `{}` is configured twice; one entry per issuer",
                provider.issuer
            );
        }
        if !(provider.issuer.starts_with("https://") || provider.issuer.starts_with("http://")) {
            bail!(
                "identity provider `{name}`: issuer `{}` must be the issuer URL its tokens carry in `iss` (https://...)",
                provider.issuer
            );
        }
        if provider.audiences.is_empty() || provider.audiences.iter().any(String::is_empty) {
            bail!(
                "identity provider `{name}`: `audiences` must list at least one accepted `aud` value \
                 (e.g. audiences = [\"gatehouse\"]); accepting any audience would accept tokens meant for other services"
            );
        }
        if provider.jwks_file.is_some() && provider.jwks_uri.is_some() {
            bail!("identity provider `{name}`: set `jwks_file` or `jwks_uri`, not both");
        }
        if let Some(rule) = provider.group_rules.iter().find(|rule| {
            [&rule.claim, &rule.value, &rule.group]
                .iter()
                .any(|text| text.trim().is_empty())
        }) {
            bail!(
                "identity provider `{name}`: a group rule needs a non-empty `claim`, `value` and `group` (found claim `{}`, value `{}`, group `{}`)",
                rule.claim,
                rule.value,
                rule.group
            );
        }
        if provider.leeway > Duration::from_secs(300) {
            bail!("identity provider `{name}`: `leeway` is at most 5m");
        }
        validate_login(provider)?;
    }
    if config.tokens.exchanges_per_minute == 0 {
        bail!("[tokens] exchanges_per_minute must be at least 1");
    }
    if config.tokens.ttl.is_zero() || config.tokens.ttl > MAX_TOKEN_TTL {
        bail!(
            "[tokens] ttl must be between 1s and {} (gatehouse tokens are short-lived)",
            humantime::format_duration(MAX_TOKEN_TTL)
        );
    }
    Ok(())
}

/// The `gatehouse login` settings: a human provider names its public client, whose ID
/// tokens (`aud` = client id) the provider must accept; a workload provider has none.
fn validate_login(provider: &IdentityProviderConfig) -> Result<()> {
    let name = &provider.name;
    if provider.kind == ProviderKind::Workload {
        if provider.client_id.is_some() || provider.scopes.is_some() {
            bail!(
                "identity provider `{name}`: `client_id` and `scopes` are for people's login and need kind = \"human\""
            );
        }
        return Ok(());
    }
    let client_id = provider
        .client_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "identity provider `{name}` (kind = \"human\"): set `client_id`, the public OpenID \
                 Connect client (no secret, loopback redirect http://127.0.0.1/callback, device flow \
                 allowed) that `gatehouse login` signs people in with"
            )
        })?;
    if !provider.audiences.iter().any(|a| a == client_id) {
        bail!(
            "identity provider `{name}`: `audiences` must include the client id `{client_id}`: \
             people's ID tokens carry their client's id as `aud`, so without it every login \
             would be refused (e.g. audiences = [\"{client_id}\"])"
        );
    }
    let scopes = provider.login_scopes();
    if !scopes.iter().any(|s| s == "openid")
        || scopes.iter().any(|s| s.is_empty() || s.contains(' '))
    {
        bail!(
            "identity provider `{name}`: `scopes` must include \"openid\" (an ID token is what \
             gatehouse exchanges) and be single words"
        );
    }
    Ok(())
}

/// Where the token signing key lives.
pub fn token_key_file(config: &Config, data_dir: &Path) -> PathBuf {
    match &config.tokens.key_file {
        Some(path) => config.resolve(path),
        None => data_dir.join("token.key"),
    }
}

/// Load the Ed25519 token signing key from `path`, creating it (mode 0600) on first start.
pub fn load_or_create_signer(path: &Path) -> Result<TokenSigner> {
    match std::fs::read(path) {
        Ok(bytes) => TokenSigner::from_pkcs8(&bytes).map_err(|e| {
            anyhow!(
                "the token signing key `{}` is not usable ({e}); restore it from backup, or delete it \
                 to generate a new one (tokens issued with the old key stop working)",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let pkcs8 = TokenSigner::generate_pkcs8()?;
            write_private(path, &pkcs8)?;
            tracing::info!(key = %path.display(), "generated the token signing key (Ed25519)");
            Ok(TokenSigner::from_pkcs8(&pkcs8)?)
        }
        Err(error) => Err(error)
            .with_context(|| format!("cannot read the token signing key `{}`", path.display())),
    }
}

/// Write `bytes` to a new file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create `{}`", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// A token that passed one provider's checks.
#[derive(Debug, Clone)]
pub struct Verified {
    pub provider: String,
    pub kind: ProviderKind,
    pub subject: String,
    pub groups: Vec<String>,
    pub expires_at: i64,
}

/// Why a token was not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// The token is bad (fail closed; the caller should get a new one).
    Invalid(IdentityError),
    /// The issuer's keys could not be had: nothing was checked, nothing is accepted.
    Unavailable(String),
}

struct KeyCache {
    keys: Option<JwkSet>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

enum KeySource {
    Static(JwkSet),
    /// `jwks_uri` given, or `None` to find it through discovery.
    Remote(Option<String>),
}

struct Provider {
    name: String,
    kind: ProviderKind,
    issuer: String,
    rules: WorkloadRules,
    source: KeySource,
    /// For discovery and JWKS, with the provider's `ca_file` (read once, at start).
    http: HttpClient,
    min_refresh_interval: Duration,
    max_key_age: Duration,
    cache: Mutex<KeyCache>,
}

/// All configured providers.
pub struct Providers {
    providers: Vec<Provider>,
}

impl Providers {
    pub fn from_config(config: &Config) -> Result<Providers> {
        let providers = config
            .identity_providers
            .iter()
            .map(|p| Provider::from_config(p, config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Providers { providers })
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Validate `token` from any provider whose kind is in `kinds`: signature by the
    /// issuer's current keys, issuer, audience, lifetime, claim conditions.
    pub async fn validate(&self, token: &str, kinds: &[ProviderKind]) -> Result<Verified, Refusal> {
        let jws = gatehouse_identity::decode(token).map_err(Refusal::Invalid)?;
        let issuer = jws
            .unverified_issuer()
            .ok_or(Refusal::Invalid(IdentityError::NoIssuer))?;
        let provider = self
            .providers
            .iter()
            .find(|p| p.issuer == issuer && kinds.contains(&p.kind))
            .ok_or_else(|| Refusal::Invalid(IdentityError::UnknownIssuer(issuer.to_owned())))?;
        let key = provider.key_for(jws.header.kid.as_deref()).await?;
        jws.verify(&key).map_err(Refusal::Invalid)?;
        let validated = provider
            .rules
            .validate(&jws.claims, gatehouse_identity::now_unix())
            .map_err(Refusal::Invalid)?;
        Ok(Verified {
            provider: provider.name.clone(),
            kind: provider.kind,
            subject: validated.subject,
            groups: validated.groups,
            expires_at: validated.expires_at,
        })
    }
}

impl Provider {
    fn from_config(p: &IdentityProviderConfig, config: &Config) -> Result<Provider> {
        let source = match &p.jwks_file {
            Some(file) => {
                let path = config.resolve(file);
                let bytes = std::fs::read(&path).with_context(|| {
                    format!(
                        "identity provider `{}`: cannot read jwks_file `{}`",
                        p.name,
                        path.display()
                    )
                })?;
                KeySource::Static(JwkSet::parse(&bytes).map_err(|e| {
                    anyhow!(
                        "identity provider `{}`: jwks_file `{}`: {e}",
                        p.name,
                        path.display()
                    )
                })?)
            }
            None => KeySource::Remote(p.jwks_uri.clone()),
        };
        let ca_file = p.ca_file.as_ref().map(|f| config.resolve(f));
        let http = HttpClient::new(ca_file.as_deref(), FETCH_TIMEOUT)
            .with_context(|| format!("identity provider `{}`: ca_file", p.name))?;
        Ok(Provider {
            name: p.name.clone(),
            kind: p.kind,
            issuer: p.issuer.clone(),
            rules: WorkloadRules {
                issuer: p.issuer.clone(),
                audiences: p.audiences.clone(),
                subject_claim: p.subject_claim.clone(),
                groups_claim: p.groups_claim.clone(),
                conditions: p.claims.clone(),
                leeway_secs: i64::try_from(p.leeway.as_secs()).unwrap_or(0),
                group_rules: p
                    .group_rules
                    .iter()
                    .map(|rule| gatehouse_identity::GroupRule {
                        claim: rule.claim.clone(),
                        value: rule.value.clone(),
                        group: rule.group.clone(),
                    })
                    .collect(),
            },
            source,
            http,
            min_refresh_interval: p.min_refresh_interval,
            max_key_age: p.max_key_age,
            cache: Mutex::new(KeyCache {
                keys: None,
                fetched: None,
                last_attempt: None,
            }),
        })
    }

    /// The key a token with header `kid` must be signed with.
    async fn key_for(&self, kid: Option<&str>) -> Result<gatehouse_identity::Jwk, Refusal> {
        let unknown = || {
            Refusal::Invalid(IdentityError::UnknownKey(
                kid.unwrap_or("(none: the token names no key)").to_owned(),
            ))
        };
        let jwks_uri = match &self.source {
            KeySource::Static(set) => return set.find(kid).cloned().ok_or_else(unknown),
            KeySource::Remote(uri) => uri,
        };
        let mut cache = self.cache.lock().await;
        let refresh_after = JWKS_MAX_AGE.min(self.max_key_age);
        let stale = cache.fetched.is_none_or(|at| at.elapsed() > refresh_after);
        if !stale && let Some(key) = cache.keys.as_ref().and_then(|set| set.find(kid)) {
            return Ok(key.clone());
        }
        // Fetch when the cache is stale or lacks the key, at most once per
        // `min_refresh_interval` (made-up `kid`s must not make gatehouse hammer the issuer).
        let may_fetch = cache
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.min_refresh_interval);
        let mut failure = None;
        if may_fetch {
            cache.last_attempt = Some(Instant::now());
            match self.fetch(jwks_uri.as_deref()).await {
                Ok(set) => {
                    tracing::info!(provider = %self.name, keys = set.keys.len(), "fetched the identity provider's signing keys");
                    cache.keys = Some(set);
                    cache.fetched = Some(Instant::now());
                }
                Err(error) => {
                    tracing::warn!(provider = %self.name, "cannot fetch the identity provider's signing keys: {error:#}");
                    failure = Some(format!("{error:#}"));
                }
            }
        }
        // Keys fetched too long ago are not trusted without the issuer: fail closed.
        let too_old = cache
            .fetched
            .is_none_or(|at| at.elapsed() > self.max_key_age);
        if cache.keys.is_none() || too_old {
            let why = failure.unwrap_or_else(|| "a fetch failed moments ago".to_owned());
            return Err(Refusal::Unavailable(if cache.keys.is_some() {
                format!(
                    "the signing keys of identity provider `{}` cannot be fetched ({why}), and the last ones fetched are older than `max_key_age` ({})",
                    self.name,
                    humantime::format_duration(self.max_key_age)
                )
            } else {
                format!(
                    "the signing keys of identity provider `{}` cannot be fetched: {why}",
                    self.name
                )
            }));
        }
        cache
            .keys
            .as_ref()
            .and_then(|set| set.find(kid))
            .cloned()
            .ok_or_else(unknown)
    }

    async fn fetch(&self, jwks_uri: Option<&str>) -> Result<JwkSet> {
        let uri = match jwks_uri {
            Some(uri) => uri.to_owned(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.issuer.trim_end_matches('/')
                );
                let response = self
                    .http
                    .send(Method::GET, &url, &ACCEPT_JSON, None)
                    .await
                    .with_context(|| format!("cannot fetch discovery `{url}`"))?;
                if response.status != 200 {
                    bail!("discovery `{url}` answered HTTP {}", response.status);
                }
                let document: serde_json::Value = serde_json::from_slice(&response.body)
                    .with_context(|| format!("discovery `{url}` is not JSON"))?;
                if document.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
                    bail!(
                        "discovery `{url}` names another issuer than `{}`; check `issuer` in the config",
                        self.issuer
                    );
                }
                document
                    .get("jwks_uri")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| anyhow!("discovery `{url}` has no `jwks_uri`"))?
                    .to_owned()
            }
        };
        let response = self
            .http
            .send(Method::GET, &uri, &ACCEPT_JSON, None)
            .await
            .with_context(|| format!("cannot fetch JWKS `{uri}`"))?;
        if response.status != 200 {
            bail!("JWKS `{uri}` answered HTTP {}", response.status);
        }
        JwkSet::parse(&response.body).map_err(|e| anyhow!("JWKS `{uri}`: {e}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use crate::config::{Config, ProviderKind};

    fn load(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    const CI: &str = r#"
[[identity_providers]]
name = "github"
issuer = "https://token.actions.githubusercontent.com"
audiences = ["gatehouse"]
groups_claim = "groups"
claims = { repository = "acme/api", ref = "refs/heads/main" }
"#;

    const PEOPLE: &str = r#"
[[identity_providers]]
name = "corp"
kind = "human"
issuer = "https://login.example.com"
audiences = ["gatehouse-cli"]
client_id = "gatehouse-cli"
"#;

    #[test]
    fn a_human_provider_names_its_login_client_and_scopes() {
        let config = load(PEOPLE).unwrap();
        let provider = config.identity_providers.first().unwrap();
        assert_eq!(provider.client_id.as_deref(), Some("gatehouse-cli"));
        assert_eq!(
            provider.login_scopes(),
            ["openid", "profile", "email", "offline_access", "groups"]
        );
        let config = load(&format!("{PEOPLE}scopes = [\"openid\", \"roles\"]\n")).unwrap();
        let provider = config.identity_providers.first().unwrap();
        assert_eq!(provider.login_scopes(), ["openid", "roles"]);
    }

    #[test]
    fn a_workload_provider_is_read_with_its_defaults() {
        let config = load(CI).unwrap();
        let provider = config.identity_providers.first().unwrap();
        assert_eq!(provider.subject_claim, "sub");
        assert_eq!(provider.kind, ProviderKind::Workload);
        assert_eq!(provider.claims.len(), 2);
        assert_eq!(config.tokens.ttl.as_secs(), 15 * 60);
        assert!(super::Providers::from_config(&config).is_ok());
    }

    #[test]
    fn group_rules_are_read_from_the_config() {
        let config = load(&format!(
            "{CI}group_rules = [{{ claim = \"environment\", value = \"production\", group = \"deployers-prod\" }}]\n"
        ))
        .unwrap();
        let rule = config.identity_providers[0].group_rules.first().unwrap();
        assert_eq!(
            (
                rule.claim.as_str(),
                rule.value.as_str(),
                rule.group.as_str()
            ),
            ("environment", "production", "deployers-prod")
        );
        assert!(super::Providers::from_config(&config).is_ok());
    }

    #[test]
    fn unsafe_or_ambiguous_provider_configs_are_refused_with_the_reason() {
        for (text, says) in [
            (CI.replace(r#"["gatehouse"]"#, "[]"), "audiences"),
            (
                format!("{CI}{}", CI.replace("name = \"github\"", "name = \"gh2\"")),
                "configured twice",
            ),
            (format!("{CI}{CI}"), "defined twice"),
            (CI.replace("https://token", "token"), "issuer URL"),
            (
                format!("{CI}jwks_file = \"a\"\njwks_uri = \"http://x/\"\n"),
                "not both",
            ),
            (format!("[tokens]\nttl = \"48h\"\n{CI}"), "[tokens] ttl"),
            (format!("{CI}surprise = 1\n"), "surprise"),
            (format!("{CI}client_id = \"cli\"\n"), "kind = \"human\""),
            (
                PEOPLE.replace("client_id = \"gatehouse-cli\"\n", ""),
                "set `client_id`",
            ),
            (
                PEOPLE.replace(r#"["gatehouse-cli"]"#, r#"["gatehouse"]"#),
                "`audiences` must include the client id `gatehouse-cli`",
            ),
            (
                format!("{PEOPLE}scopes = [\"profile\"]\n"),
                "must include \"openid\"",
            ),
            (
                format!(
                    "{CI}group_rules = [{{ claim = \"env\", value = \"\", group = \"prod\" }}]\n"
                ),
                "group rule",
            ),
        ] {
            let error = format!("{:#}", load(&text).unwrap_err());
            assert!(error.contains(says), "`{says}` not in: {error}");
        }
    }
}
