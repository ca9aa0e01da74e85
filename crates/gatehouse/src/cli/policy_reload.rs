//! `gatehouse policy reload`: ask the running gateway (its admin API) to load its policy files
//! (and its configuration file's connections, where that is safe) again. Exit status 0 when the new set is in force, 1 with the reason when it was refused and
//! the old set stays (or the gateway could not be asked).

use crate::cli::args::{OutputFormat, PolicyReloadArgs};
use crate::config::setup::Setup;
use crate::http_client::HttpClient;
use anyhow::{Context, Result, anyhow};
use hyper::Method;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// How long the gateway may take to load, validate and record the new set.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

pub async fn run(
    config: Option<&Path>,
    data_dir: Option<&Path>,
    args: PolicyReloadArgs,
) -> Result<ExitCode> {
    let api = match &args.api {
        Some(api) => api.trim_end_matches('/').to_owned(),
        None => admin_api_of_local_gateway(config, data_dir)?,
    };
    let token = crate::client::token::find(args.token_file.as_deref()).await?;
    let url = format!("{api}/v1/policy/reload");
    let http = HttpClient::new(args.ca_file.as_deref(), ANSWER_WITHIN)?;
    let authorization = format!("Bearer {token}");
    let headers = [
        ("Accept", "application/json"),
        ("Authorization", authorization.as_str()),
    ];
    let response = http
        .send(Method::POST, &url, &headers, None)
        .await
        .with_context(|| format!("cannot ask the gateway at `{api}` to reload its policy"))?;
    let answer: serde_json::Value = serde_json::from_slice(&response.body).map_err(|_| {
        anyhow!(
            "`{url}` answered HTTP {} without JSON; is `{api}` the gateway's admin listener?",
            response.status
        )
    })?;
    let in_force = response.status == 200;
    match args.output.output {
        OutputFormat::Json => {
            let mut answer = answer;
            if let Some(object) = answer.as_object_mut() {
                object.insert("reloaded".to_owned(), in_force.into());
            }
            println!("{answer}");
        }
        OutputFormat::Text if in_force => {
            let text = |key: &str| answer.get(key).and_then(|v| v.as_str()).unwrap_or("?");
            if answer.get("changed").and_then(|v| v.as_bool()) == Some(true) {
                println!(
                    "policy version {} is in force ({} policies; it replaced {}); open sessions decide again from their next request",
                    text("version"),
                    answer.get("policies").and_then(|v| v.as_u64()).unwrap_or(0),
                    text("previous_version")
                );
            } else {
                println!(
                    "the policy files are unchanged: version {} stays in force",
                    text("version")
                );
            }
            let lines = |key: &str| -> Vec<String> {
                answer
                    .pointer(&format!("/configuration/{key}"))
                    .and_then(|v| v.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            };
            for change in lines("applied") {
                println!("configuration: {change}");
            }
            for change in lines("restart_needed") {
                println!("not in force until gatehouse restarts: {change}");
            }
            for warning in answer
                .get("warnings")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                println!("warning: {}", warning.as_str().unwrap_or_default());
            }
        }
        OutputFormat::Text => {
            let error = answer
                .get("error")
                .and_then(|v| v.as_str())
                .unwrap_or("the gateway refused the reload");
            eprintln!("reload refused (HTTP {}): {error}", response.status);
        }
    }
    Ok(if in_force {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The admin listener of the gateway running with this configuration: where its listeners file
/// says, else the configured `[admin] listen`.
pub(super) fn admin_api_of_local_gateway(
    config: Option<&Path>,
    data_dir: Option<&Path>,
) -> Result<String> {
    let setup = Setup::load(config, data_dir)?;
    let running = crate::server::serve::running_listener(&setup.data_dir, "admin");
    let address = running.unwrap_or_else(|| setup.config.admin.listen.to_string());
    Ok(format!("http://{address}"))
}
