//! `gatehouse kubeconfig` and `gatehouse token --kube`: kubectl reaches a Kubernetes
//! connection through the gateway with a kubeconfig whose user is an exec credential plugin.
//! kubectl runs `gatehouse token --kube` whenever it needs a token and gets an
//! `ExecCredential` (with the token's expiry when gatehouse knows it), so it never holds a
//! cluster credential and short-lived tokens renew by themselves.

use crate::cli::args::KubeconfigArgs;
use crate::config::setup::Setup;
use crate::server::serve::LISTENERS_FILE;
use anyhow::{Context, Result, bail};
use base64::Engine;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The exec plugin API kubectl 1.22 and later speak.
const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// `gatehouse token --kube`: the token as an `ExecCredential` on stdout.
pub async fn exec_credential(token_file: Option<&Path>) -> Result<ExitCode> {
    let token = crate::client::token::find(token_file).await?;
    let mut status = serde_json::Map::new();
    status.insert("token".to_owned(), Value::String(token.clone()));
    let expiry = jwt_expiry(&token)
        .filter(|exp| time::OffsetDateTime::from_unix_timestamp(*exp).is_ok())
        .map(|exp| gatehouse_pipeline::rfc3339(exp.saturating_mul(1000)));
    if let Some(expiry) = expiry {
        status.insert("expirationTimestamp".to_owned(), Value::String(expiry));
    }
    let credential = json!({
        "apiVersion": EXEC_API_VERSION,
        "kind": "ExecCredential",
        "status": status,
    });
    println!("{credential}");
    Ok(ExitCode::SUCCESS)
}

/// The `exp` of a gatehouse token that is a JWT (read, not verified: the gateway verifies;
/// this only tells kubectl when to ask again). API keys carry none.
fn jwt_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()
}

/// `gatehouse kubeconfig CONNECTION`: add (or replace) a cluster, user and context for the
/// connection in a kubeconfig file and make it the current context.
pub async fn kubeconfig(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: KubeconfigArgs,
) -> Result<ExitCode> {
    let setup = Setup::load(config, data_dir)?;
    let connection = &args.connection;
    if let Some(configured) = setup
        .config
        .connections
        .iter()
        .find(|c| &c.name == connection)
    {
        if configured.kind != crate::config::kubernetes::KUBERNETES {
            bail!(
                "connection `{connection}` is `kind = \"{}\"`, not a Kubernetes connection",
                configured.kind.as_str()
            );
        }
    } else if args.server.is_none() {
        bail!(
            "this gateway's configuration has no connection `{connection}`; pass --server with the gateway's Kubernetes address if it runs elsewhere"
        );
    }
    let server = match &args.server {
        Some(server) => server.trim_end_matches('/').to_owned(),
        None => format!("https://{}", kubernetes_listener(&setup)),
    };
    let ca_file = crate::client::gateway::gateway_ca_file(args.ca_file.as_deref(), &setup)?;
    let ca = std::fs::read(&ca_file).with_context(|| {
        format!(
            "cannot read the gateway's certificate `{}`",
            ca_file.display()
        )
    })?;
    let path = match &args.kubeconfig {
        Some(path) => path.clone(),
        None => default_kubeconfig()?,
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("gatehouse-{connection}"));
    let mut exec_args = vec![json!("token"), json!("--kube")];
    if let Some(token_file) = &args.token_file {
        let absolute = std::path::absolute(token_file)
            .with_context(|| format!("cannot resolve `{}`", token_file.display()))?;
        exec_args.push(json!("--token-file"));
        exec_args.push(json!(absolute.display().to_string()));
    }
    let program = std::env::current_exe().context("cannot tell where this gatehouse binary is")?;
    let entries = Entries {
        name: name.clone(),
        cluster: json!({
            "server": format!("{server}/c/{connection}"),
            "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(&ca),
        }),
        user: json!({
            "exec": {
                "apiVersion": EXEC_API_VERSION,
                "command": program.display().to_string(),
                "args": exec_args,
                "interactiveMode": "IfAvailable",
                "provideClusterInfo": false,
            }
        }),
    };
    let (mut document, format) = read_kubeconfig(&path)?;
    entries.merge_into(&mut document);
    write_kubeconfig(&path, &document, format)?;
    if args.output.is_json() {
        println!(
            "{}",
            json!({ "kubeconfig": path.display().to_string(), "context": name, "server": format!("{server}/c/{connection}") })
        );
    } else {
        println!(
            "wrote context `{name}` to {} (server {server}/c/{connection}; kubectl asks `gatehouse token --kube` for tokens)\n\
             try: kubectl --kubeconfig {} get pods",
            path.display(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the running gateway's Kubernetes listener is (its listeners file), else the
/// configured `[kubernetes] listen`.
fn kubernetes_listener(setup: &Setup) -> String {
    std::fs::read_to_string(setup.data_dir.join(LISTENERS_FILE))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|value| value.get("kubernetes")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| setup.config.kubernetes.listen.to_string())
}

/// `$KUBECONFIG`'s first file, else `~/.kube/config`.
fn default_kubeconfig() -> Result<PathBuf> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .and_then(|paths| std::env::split_paths(&paths).next())
        .filter(|path| !path.as_os_str().is_empty())
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME").context("HOME is not set; pass --kubeconfig FILE")?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

/// How a kubeconfig file is written: the format it was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

/// An existing kubeconfig (YAML or JSON) and its format, or a new one: JSON when the file's
/// name ends in `.json`, else YAML, kubectl's own.
fn read_kubeconfig(path: &Path) -> Result<(Value, Format)> {
    let new_format = if path.extension().is_some_and(|ext| ext == "json") {
        Format::Json
    } else {
        Format::Yaml
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => text,
        Ok(_) => return Ok((empty_kubeconfig(), new_format)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok((empty_kubeconfig(), new_format));
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read `{}`", path.display()));
        }
    };
    let format = if text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    };
    let document = gatehouse_k8s_gateway::kubeconfig::parse_document(path, &text)?;
    Ok((document, format))
}

fn empty_kubeconfig() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [],
        "users": [],
        "contexts": [],
    })
}

/// The cluster, user and context gatehouse adds, all named `name`.
struct Entries {
    name: String,
    cluster: Value,
    user: Value,
}

impl Entries {
    fn merge_into(self, document: &mut Value) {
        let context = json!({ "cluster": self.name, "user": self.name });
        for (list, key, value) in [
            ("clusters", "cluster", self.cluster),
            ("users", "user", self.user),
            ("contexts", "context", context),
        ] {
            let entry = json!({ "name": self.name, key: value });
            let entries = &mut document[list];
            if !entries.is_array() {
                *entries = json!([]);
            }
            if let Some(items) = entries.as_array_mut() {
                items.retain(|item| {
                    item.get("name").and_then(Value::as_str) != Some(self.name.as_str())
                });
                items.push(entry);
            }
        }
        document["current-context"] = Value::String(self.name);
    }
}

/// Write the kubeconfig readable only by its owner (it names the gateway and how to get tokens).
fn write_kubeconfig(path: &Path, document: &Value, format: Format) -> Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let text = match format {
        Format::Json => serde_json::to_string_pretty(document).context("kubeconfig")? + "\n",
        Format::Yaml => gatehouse_k8s_gateway::kubeconfig::to_yaml(document)?,
    };
    crate::server::tls::write_private(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn entries_replace_their_namesakes_and_keep_everything_else() {
        let mut document = empty_kubeconfig();
        document["clusters"] = json!([{ "name": "prod", "cluster": {} }, { "name": "gatehouse-web", "cluster": { "server": "old" } }]);
        Entries {
            name: "gatehouse-web".to_owned(),
            cluster: json!({ "server": "new" }),
            user: json!({}),
        }
        .merge_into(&mut document);
        let clusters = document["clusters"].as_array().unwrap();
        assert_eq!(clusters.len(), 2);
        assert_eq!(clusters[1]["cluster"]["server"], "new");
        assert_eq!(document["current-context"], "gatehouse-web");
        assert_eq!(document["contexts"][0]["context"]["user"], "gatehouse-web");
    }

    #[test]
    fn a_jwt_tells_its_expiry_and_an_api_key_does_not() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1700000000}"#);
        assert_eq!(
            jwt_expiry(&format!("e30.{payload}.sig")),
            Some(1_700_000_000)
        );
        assert_eq!(jwt_expiry("gh_abc_def"), None);
        assert_eq!(
            gatehouse_pipeline::rfc3339(1_700_000_000_000),
            "2023-11-14T22:13:20Z"
        );
    }
}
