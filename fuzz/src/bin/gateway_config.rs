//! Fuzz target: arbitrary text as the gateway's configuration file (`gatehouse serve --config`),
//! through the real loading path before anything is opened (`gatehouse::fuzzing::load_config`:
//! TOML into `Config`, unknown keys refused, durations and addresses parsed, `validate` with
//! the identity provider rules, then every connection's masking compiled as `serve` does).
//!
//! Input: the bytes as text (invalid UTF-8 replaced). The file is `<tmp>/gatehouse-fuzz-config/
//! gatehouse.toml`; that directory is also the data directory (`mask.key`), whatever the text
//! names, so the fuzzer never makes the target write elsewhere.
//!
//! Checked: nothing panics or hangs; an error has a message; loading is deterministic (the same
//! text loads to the same result twice); a configuration that loads keeps what validation
//! promises: connection names unique; a connection served by agents names only valid agent
//! names and holds no target settings (host, database, user, password, CA file), one served
//! directly has a host, database and user; never both `password_env` and `password_file`;
//! every masked connection's masking compiled; `[tls]` has both files or neither; a plaintext
//! listener off loopback only with `allow_plaintext_on_network`, and TLS required exactly when
//! plaintext is not allowed; token lifetime within 1 ns–12 h and at least one exchange a
//! minute; identity providers with unique non-empty names, unique http(s) issuers, non-empty
//! audiences, not both `jwks_file` and `jwks_uri`, complete group rules, leeway at most 5 min,
//! and for people's providers a client id among the audiences and scopes with `openid`, single
//! words; workload providers without login settings; a data directory resolves from the
//! file's directory.

use gatehouse::fuzzing::{LoadedConfig, load_config};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join("gatehouse-fuzz-config");
    std::fs::create_dir_all(&dir).expect("the target's directory");
    dir
});

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let text = String::from_utf8_lossy(data);
        let loaded = load_config(&text, &DIR);
        assert_eq!(
            loaded,
            load_config(&text, &DIR),
            "the same text loaded differently"
        );
        match loaded {
            Ok(config) => check(&config),
            Err(message) => assert!(!message.is_empty(), "an error without a message"),
        }
    });
}

fn valid_agent_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check(config: &LoadedConfig) {
    let mut names = HashSet::new();
    for connection in &config.connections {
        let name = &connection.name;
        assert!(names.insert(name), "connection `{name}` loaded twice");
        assert_eq!(&connection.policy_name, name);
        if connection.agents.is_empty() {
            for (field, value) in [
                ("host", &connection.host),
                ("database", &connection.database),
                ("user", &connection.user),
            ] {
                assert!(
                    !value.trim().is_empty(),
                    "connection `{name}` has neither agents nor a {field}"
                );
            }
        } else {
            assert!(
                connection
                    .agents
                    .iter()
                    .all(|agent| valid_agent_name(agent)),
                "connection `{name}` names agents {:?}",
                connection.agents
            );
            assert!(
                connection.host.is_empty()
                    && connection.database.is_empty()
                    && connection.user.is_empty()
                    && !connection.password_env
                    && !connection.password_file
                    && !connection.ca_file,
                "connection `{name}` is served by agents but holds target settings: {connection:?}"
            );
        }
        assert!(
            !(connection.password_env && connection.password_file),
            "connection `{name}` has both password_env and password_file"
        );
    }
    let masked: Vec<&String> = config
        .connections
        .iter()
        .filter(|connection| connection.masking)
        .map(|connection| &connection.name)
        .collect();
    assert_eq!(
        masked,
        config.masked.iter().collect::<Vec<_>>(),
        "not every masking compiled"
    );
    assert_eq!(
        config.tls_cert_file, config.tls_key_file,
        "[tls] with one file of two"
    );
    if config.allow_plaintext && !config.postgres_listen.ip().is_loopback() {
        assert!(
            config.allow_plaintext_on_network,
            "plaintext on {} without allow_plaintext_on_network",
            config.postgres_listen
        );
    }
    assert_eq!(config.require_tls, !config.allow_plaintext);
    assert!(
        !config.token_ttl.is_zero() && config.token_ttl <= Duration::from_secs(12 * 3600),
        "token ttl {:?}",
        config.token_ttl
    );
    assert!(config.exchanges_per_minute >= 1);
    if let Some(data_dir) = &config.data_dir {
        assert!(
            data_dir.is_absolute(),
            "data_dir {data_dir:?} did not resolve from the file's directory"
        );
    }

    let mut provider_names = HashSet::new();
    let mut issuers = HashSet::new();
    for provider in &config.identity_providers {
        let name = &provider.name;
        assert!(!name.is_empty(), "a provider without a name");
        assert!(provider_names.insert(name), "provider `{name}` twice");
        assert!(
            issuers.insert(&provider.issuer),
            "issuer `{}` twice",
            provider.issuer
        );
        assert!(
            provider.issuer.starts_with("https://") || provider.issuer.starts_with("http://"),
            "provider `{name}` has issuer `{}`",
            provider.issuer
        );
        assert!(
            !provider.audiences.is_empty() && provider.audiences.iter().all(|a| !a.is_empty()),
            "provider `{name}` has audiences {:?}",
            provider.audiences
        );
        assert!(
            !(provider.jwks_file && provider.jwks_uri),
            "provider `{name}` has jwks_file and jwks_uri"
        );
        for (claim, value, group) in &provider.group_rules {
            assert!(
                [claim, value, group].iter().all(|t| !t.trim().is_empty()),
                "provider `{name}` has group rule {claim:?} {value:?} {group:?}"
            );
        }
        assert!(
            provider.leeway <= Duration::from_secs(300),
            "provider `{name}` has leeway {:?}",
            provider.leeway
        );
        if provider.human {
            let client_id = provider
                .client_id
                .as_deref()
                .unwrap_or_else(|| panic!("human provider `{name}` without a client id"));
            assert!(!client_id.is_empty());
            assert!(
                provider.audiences.iter().any(|a| a == client_id),
                "provider `{name}`: client id `{client_id}` not among the audiences"
            );
            assert!(
                provider.login_scopes.iter().any(|s| s == "openid")
                    && provider
                        .login_scopes
                        .iter()
                        .all(|s| !s.is_empty() && !s.contains(' ')),
                "provider `{name}` has scopes {:?}",
                provider.login_scopes
            );
        } else {
            assert!(
                provider.client_id.is_none() && !provider.scopes_set,
                "workload provider `{name}` has login settings"
            );
        }
    }
}
