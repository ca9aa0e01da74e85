//! A kubeconfig and one of its contexts as a connection's definition: operators already hold
//! the API server's address, its CA and a credential in that form (`kind`, `k3s`, cloud CLIs
//! write it), so `kubeconfig = "..."` with `context = "..."` spares copying them out. This
//! reads the file (YAML or JSON), follows the context to its cluster and user, and returns what
//! gatehouse presents: a token, a token file, a client certificate, or an exec credential
//! plugin. What gatehouse cannot honour safely — skipping TLS verification, auth-provider
//! plugins, passwords, impersonation in the file — is refused with what to use instead.
//!
//! The same reading and a YAML writer serve `gatehouse kubeconfig`, which edits a user's file.

use crate::error::KubeGatewayError;
use crate::exec_credential::ExecPlugin;
use base64::Engine;
use gatehouse_core::SecretString;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What a kubeconfig's context defines for a connection.
pub struct KubeconfigTarget {
    /// The cluster's `server`.
    pub server: String,
    /// The CA (PEM) from `certificate-authority` or `certificate-authority-data`; `None` only
    /// for a plain-HTTP server.
    pub ca_pem: Option<Vec<u8>>,
    pub user: KubeconfigUser,
}

/// The credential of the context's user.
pub enum KubeconfigUser {
    /// `token`.
    Token(SecretString),
    /// `tokenFile` (read for every request, as `token_file` is).
    TokenFile(PathBuf),
    /// `client-certificate(-data)` and `client-key(-data)`, PEM.
    ClientCertificate {
        cert_pem: Vec<u8>,
        key_pem: SecretString,
    },
    /// `exec`: a credential plugin gatehouse runs as kubectl would.
    Exec(ExecPlugin),
}

/// A kubeconfig as a JSON document: YAML (kubectl's own format) or JSON.
pub fn read_document(file: &Path) -> Result<Value, KubeGatewayError> {
    let text = std::fs::read_to_string(file).map_err(|error| KubeGatewayError::Unreadable {
        file: file.to_owned(),
        reason: error.to_string(),
    })?;
    parse_document(file, &text)
}

/// `text`, the contents of `file`, as a JSON document (an empty file is an empty object).
pub fn parse_document(file: &Path, text: &str) -> Result<Value, KubeGatewayError> {
    let malformed = |reason: String| KubeGatewayError::Malformed {
        file: file.to_owned(),
        reason,
    };
    let document: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|error| malformed(error.to_string()))?
    } else {
        serde_saphyr::from_str(text).map_err(|error| malformed(error.to_string()))?
    };
    match document {
        Value::Null => Ok(Value::Object(serde_json::Map::new())),
        Value::Object(_) => Ok(document),
        _ => Err(malformed("the document is not a mapping".to_owned())),
    }
}

/// `document` as YAML, the way kubectl writes kubeconfigs (comments are not kept).
pub fn to_yaml(document: &Value) -> Result<String, KubeGatewayError> {
    serde_saphyr::to_string(document)
        .map_err(|error| KubeGatewayError::Unwritable(error.to_string()))
}

#[derive(Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Option<Vec<NamedCluster>>,
    #[serde(default)]
    users: Option<Vec<NamedUser>>,
    #[serde(default)]
    contexts: Option<Vec<NamedContext>>,
    #[serde(default, rename = "current-context")]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    #[serde(default)]
    user: Option<User>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    user: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Cluster {
    #[serde(default)]
    server: Option<String>,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    exec: Option<Exec>,
    auth_provider: Option<Value>,
    username: Option<String>,
    password: Option<String>,
    #[serde(rename = "as")]
    impersonate: Option<String>,
    #[serde(rename = "as-groups")]
    impersonate_groups: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Exec {
    command: String,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<ExecEnv>>,
    api_version: String,
    #[serde(default)]
    provide_cluster_info: bool,
    interactive_mode: Option<String>,
}

#[derive(Deserialize)]
struct ExecEnv {
    name: String,
    value: String,
}

/// The connection `file`'s context `context` (or its current context) defines.
pub fn load(file: &Path, context: Option<&str>) -> Result<KubeconfigTarget, KubeGatewayError> {
    let document = read_document(file)?;
    let config: Kubeconfig =
        serde_json::from_value(document).map_err(|error| KubeGatewayError::Malformed {
            file: file.to_owned(),
            reason: error.to_string(),
        })?;
    let Some(context_name) = context
        .map(str::to_owned)
        .or(config.current_context)
        .filter(|name| !name.is_empty())
    else {
        return Err(KubeGatewayError::NoContext {
            file: file.to_owned(),
        });
    };
    let fail = |problem: String| KubeGatewayError::Kubeconfig {
        file: file.to_owned(),
        context: context_name.clone(),
        problem,
    };
    let contexts = config.contexts.unwrap_or_default();
    let Some(named) = contexts.iter().find(|c| c.name == context_name) else {
        let known: Vec<&str> = contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(fail(format!(
            "the file has no such context (it has: {})",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    };
    let cluster = config
        .clusters
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.name == named.context.cluster)
        .ok_or_else(|| {
            fail(format!(
                "`cluster: {}` names a cluster the file does not define",
                named.context.cluster
            ))
        })?;
    let user = config
        .users
        .unwrap_or_default()
        .into_iter()
        .find(|u| u.name == named.context.user)
        .ok_or_else(|| {
            fail(format!(
                "`user: {}` names a user the file does not define",
                named.context.user
            ))
        })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let (server, ca_pem) = read_cluster(cluster, dir).map_err(&fail)?;
    let user = read_user(user, dir, &server, ca_pem.as_deref()).map_err(&fail)?;
    Ok(KubeconfigTarget {
        server,
        ca_pem,
        user,
    })
}

fn read_cluster(named: NamedCluster, dir: &Path) -> Result<(String, Option<Vec<u8>>), String> {
    let name = &named.name;
    let cluster = named.cluster;
    if cluster.insecure_skip_tls_verify {
        return Err(format!(
            "cluster `{name}`: `insecure-skip-tls-verify` is refused: gatehouse always verifies the API server; give the cluster `certificate-authority` or `certificate-authority-data`"
        ));
    }
    if cluster.tls_server_name.is_some() {
        return Err(format!(
            "cluster `{name}`: `tls-server-name` is not supported: make `server` a name the API server's certificate holds"
        ));
    }
    if cluster.proxy_url.is_some() {
        return Err(format!(
            "cluster `{name}`: `proxy-url` is not supported: gatehouse dials the API server directly"
        ));
    }
    let server = cluster
        .server
        .filter(|server| !server.is_empty())
        .ok_or_else(|| format!("cluster `{name}` has no `server`"))?;
    let ca_pem = match (
        cluster.certificate_authority_data,
        cluster.certificate_authority,
    ) {
        (Some(data), _) => Some(decode(&data).map_err(|reason| {
            format!("cluster `{name}`: `certificate-authority-data` {reason}")
        })?),
        (None, Some(path)) => Some(
            read_relative(dir, &path)
                .map_err(|reason| format!("cluster `{name}`: `certificate-authority` {reason}"))?,
        ),
        (None, None) if server.starts_with("https:") => {
            return Err(format!(
                "cluster `{name}` needs `certificate-authority` or `certificate-authority-data`: gatehouse verifies the API server with the CA the kubeconfig names"
            ));
        }
        (None, None) => None,
    };
    Ok((server, ca_pem))
}

fn read_user(
    named: NamedUser,
    dir: &Path,
    server: &str,
    ca_pem: Option<&[u8]>,
) -> Result<KubeconfigUser, String> {
    let name = &named.name;
    let user = named.user.unwrap_or_default();
    if user.auth_provider.is_some() {
        return Err(format!(
            "user `{name}`: `auth-provider` plugins are not supported (kubectl dropped them too): use the provider's exec credential plugin (`exec`, e.g. `gke-gcloud-auth-plugin`, `kubelogin`), a token file or a client certificate"
        ));
    }
    if user.username.is_some() || user.password.is_some() {
        return Err(format!(
            "user `{name}`: `username`/`password` (basic authentication) is not supported: use a token, a token file, a client certificate or an exec plugin"
        ));
    }
    if user.impersonate.is_some() || user.impersonate_groups.is_some() {
        return Err(format!(
            "user `{name}`: `as`/`as-groups` is not supported here: impersonation is the connection's `[connections.impersonate]`"
        ));
    }
    let has_cert = user.client_certificate.is_some() || user.client_certificate_data.is_some();
    let has_key = user.client_key.is_some() || user.client_key_data.is_some();
    let given = [
        user.token.is_some(),
        user.token_file.is_some(),
        has_cert || has_key,
        user.exec.is_some(),
    ];
    match given.iter().filter(|set| **set).count() {
        1 => {}
        0 => {
            return Err(format!(
                "user `{name}` has no credential gatehouse can present: give it `token`, `tokenFile`, `client-certificate(-data)` with `client-key(-data)`, or `exec`"
            ));
        }
        _ => {
            return Err(format!(
                "user `{name}` has more than one credential; keep exactly one of `token`, `tokenFile`, a client certificate, `exec`"
            ));
        }
    }
    if let Some(token) = user.token {
        return Ok(KubeconfigUser::Token(SecretString::new(token.trim())));
    }
    if let Some(path) = user.token_file {
        return Ok(KubeconfigUser::TokenFile(dir.join(path)));
    }
    if let Some(exec) = user.exec {
        return read_exec(name, exec, dir, server, ca_pem);
    }
    if has_cert != has_key {
        return Err(format!(
            "user `{name}`: a client certificate and its key go together (`client-certificate(-data)` with `client-key(-data)`)"
        ));
    }
    let cert_pem = match (user.client_certificate_data, user.client_certificate) {
        (Some(data), _) => decode(&data)
            .map_err(|reason| format!("user `{name}`: `client-certificate-data` {reason}"))?,
        (None, Some(path)) => read_relative(dir, &path)
            .map_err(|reason| format!("user `{name}`: `client-certificate` {reason}"))?,
        (None, None) => Vec::new(),
    };
    let key_pem = match (user.client_key_data, user.client_key) {
        (Some(data), _) => {
            decode(&data).map_err(|reason| format!("user `{name}`: `client-key-data` {reason}"))?
        }
        (None, Some(path)) => read_relative(dir, &path)
            .map_err(|reason| format!("user `{name}`: `client-key` {reason}"))?,
        (None, None) => Vec::new(),
    };
    let key_pem = String::from_utf8(key_pem)
        .map_err(|_| format!("user `{name}`: the client key is not PEM text"))?;
    Ok(KubeconfigUser::ClientCertificate {
        cert_pem,
        key_pem: SecretString::new(key_pem),
    })
}

fn read_exec(
    name: &str,
    exec: Exec,
    dir: &Path,
    server: &str,
    ca_pem: Option<&[u8]>,
) -> Result<KubeconfigUser, String> {
    if !crate::exec_credential::API_VERSIONS.contains(&exec.api_version.as_str()) {
        return Err(format!(
            "user `{name}`: `exec.apiVersion` `{}` is not one gatehouse speaks ({})",
            exec.api_version,
            crate::exec_credential::API_VERSIONS.join(", ")
        ));
    }
    if exec.interactive_mode.as_deref() == Some("Always") {
        return Err(format!(
            "user `{name}`: `exec.interactiveMode: Always` needs a terminal, which gatehouse does not have: use a plugin that runs unattended"
        ));
    }
    // kubectl runs a command with a path separator relative to the kubeconfig's directory,
    // and a bare name from PATH.
    let command = if exec.command.contains('/') {
        dir.join(&exec.command)
    } else {
        PathBuf::from(&exec.command)
    };
    let cluster = exec.provide_cluster_info.then(|| {
        let mut cluster = serde_json::Map::new();
        cluster.insert("server".to_owned(), Value::from(server));
        if let Some(ca) = ca_pem {
            cluster.insert(
                "certificate-authority-data".to_owned(),
                Value::from(base64::engine::general_purpose::STANDARD.encode(ca)),
            );
        }
        Value::Object(cluster)
    });
    Ok(KubeconfigUser::Exec(ExecPlugin {
        command,
        args: exec.args.unwrap_or_default(),
        env: exec
            .env
            .unwrap_or_default()
            .into_iter()
            .map(|pair| (pair.name, SecretString::new(pair.value)))
            .collect(),
        api_version: exec.api_version,
        cluster,
    }))
}

fn decode(data: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|error| format!("is not base64: {error}"))
}

fn read_relative(dir: &Path, path: &Path) -> Result<Vec<u8>, String> {
    let path = dir.join(path);
    std::fs::read(&path).map_err(|error| format!("`{}` cannot be read: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const CA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t";

    fn kubeconfig(user: &str, cluster_extra: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: {CA}\n{cluster_extra}\
             contexts:\n- name: prod\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n{user}"
        )
    }

    fn loaded(text: &str, context: Option<&str>) -> Result<KubeconfigTarget, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, text).unwrap();
        load(&file, context).map_err(|error| error.to_string())
    }

    fn refusal(text: &str) -> String {
        match loaded(text, None) {
            Ok(_) => String::new(),
            Err(error) => error,
        }
    }

    #[test]
    fn a_token_user_gives_the_server_its_ca_and_the_token() {
        let target = loaded(&kubeconfig("    token: abc\n", ""), None).unwrap();
        assert_eq!(target.server, "https://10.0.0.1:6443");
        assert_eq!(
            target.ca_pem.as_deref(),
            Some(b"-----BEGIN CERTIFICATE-----".as_slice())
        );
        assert!(matches!(target.user, KubeconfigUser::Token(token) if token.expose() == "abc"));
    }

    #[test]
    fn json_kubeconfigs_are_read_too() {
        let yaml = kubeconfig("    token: abc\n", "");
        let json = serde_json::to_string(&parse_document(Path::new("x"), &yaml).unwrap()).unwrap();
        assert!(loaded(&json, Some("prod")).is_ok());
    }

    #[test]
    fn what_gatehouse_cannot_honour_is_refused_naming_file_context_and_key() {
        let auth_provider = refusal(&kubeconfig("    auth-provider:\n      name: gcp\n", ""));
        assert!(auth_provider.contains("context `prod`"), "{auth_provider}");
        assert!(auth_provider.contains("`auth-provider`"), "{auth_provider}");
        assert!(auth_provider.contains("exec"), "{auth_provider}");
        let basic = refusal(&kubeconfig("    username: a\n    password: b\n", ""));
        assert!(basic.contains("`username`/`password`"), "{basic}");
        let insecure = refusal(&kubeconfig(
            "    token: abc\n",
            "    insecure-skip-tls-verify: true\n",
        ));
        assert!(
            insecure.contains("`insecure-skip-tls-verify` is refused"),
            "{insecure}"
        );
        let none = refusal(&kubeconfig("    {}\n", ""));
        assert!(none.contains("no credential"), "{none}");
        let two = refusal(&kubeconfig("    token: a\n    tokenFile: t\n", ""));
        assert!(two.contains("more than one credential"), "{two}");
        let half = refusal(&kubeconfig("    client-certificate-data: LS0t\n", ""));
        assert!(half.contains("go together"), "{half}");
        let interactive = refusal(&kubeconfig(
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: p\n      interactiveMode: Always\n",
            "",
        ));
        assert!(interactive.contains("interactiveMode"), "{interactive}");
    }

    #[test]
    fn contexts_and_users_must_exist() {
        let text = kubeconfig("    token: abc\n", "");
        let missing = loaded(&text, Some("staging")).err().unwrap();
        assert!(
            missing.contains("context `staging`: the file has no such context (it has: prod)"),
            "{missing}"
        );
        let unknown_user = refusal(&text.replace("user: u", "user: nobody"));
        assert!(
            unknown_user.contains("`user: nobody` names a user the file does not define"),
            "{unknown_user}"
        );
        let no_current = refusal(&text.replace("current-context: prod\n", ""));
        assert!(no_current.contains("names no context"), "{no_current}");
        let malformed = refusal("clusters: [\n");
        assert!(
            malformed.contains("is not valid YAML or JSON"),
            "{malformed}"
        );
    }

    #[test]
    fn relative_files_are_read_from_the_kubeconfigs_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "PEM").unwrap();
        let text = kubeconfig("    tokenFile: token\n", "").replace(
            &format!("certificate-authority-data: {CA}"),
            "certificate-authority: ca.pem",
        );
        let file = dir.path().join("config");
        std::fs::write(&file, text).unwrap();
        let target = load(&file, None).unwrap();
        assert_eq!(target.ca_pem.as_deref(), Some(b"PEM".as_slice()));
        assert!(
            matches!(target.user, KubeconfigUser::TokenFile(path) if path == dir.path().join("token"))
        );
    }
}
