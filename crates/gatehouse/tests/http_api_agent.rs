//! An HTTP API connection served by a `gatehouse agent`: the gateway's config names the agent
//! and how answers are shaped, nothing of the target; the agent's holds the target's address
//! and token, adds the token to every request and scrubs it from answers. Policy, masking,
//! audit and recording stay at the gateway.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod httpapi;
mod support;

use httpapi::{Api, http_policy};
use support::agent_process::AgentProcess;

/// What only the agent holds.
const AGENT_TOKEN: &str = "echo-token-only-the-agent-holds-7c2e91";

fn start() -> (Api, AgentProcess) {
    let api = Api::start_config(&http_policy(), |_, _| {
        "[agents]\nlisten = \"127.0.0.1:0\"\n\n[http]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n\n\
         [[connections]]\nname = \"echo\"\nkind = \"http\"\nagents = [\"dc1\"]\nmask_json_paths = [\"**.password\"]\n"
            .to_owned()
    });
    let token_file = api.files.path().join("agent-echo.token");
    std::fs::write(&token_file, format!("{AGENT_TOKEN}\n")).unwrap();
    let agent = AgentProcess::start(
        &api.gateway,
        "dc1",
        &format!(
            "[[connections]]\nname = \"echo\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{}\"\ntoken_file = \"{}\"\n",
            api.echo_port,
            token_file.display()
        ),
    );
    (api, agent)
}

#[test]
fn requests_reach_the_target_through_the_agent_which_alone_holds_the_token() {
    let (api, _agent) = start();
    let ana = api.gateway.key("ana", &["admins"]);
    let bot = api
        .gateway
        .key_with("queue-bot", &["automation"], &["--kind", "machine"]);

    let echoed = api.curl(Some(&ana), "echo", "/echo", &[]);
    assert_eq!(echoed.status, 200, "{echoed:?}");
    let all = format!("{}{}", echoed.headers, echoed.body);
    assert!(!all.contains(AGENT_TOKEN), "{all}");
    assert!(all.contains("[gatehouse:credential]"), "{all}");
    let requests = api.echo_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(
        requests[0]["headers"]["authorization"],
        format!("Bearer {AGENT_TOKEN}")
    );

    // Redirects to the target's own origin stay on the gateway.
    let redirected = api.curl(
        Some(&ana),
        "echo",
        &format!("/redirect?to=http://127.0.0.1:{}/next", api.echo_port),
        &[],
    );
    assert_eq!(redirected.status, 302, "{redirected:?}");
    assert_eq!(
        redirected.header("location").as_deref(),
        Some("/c/echo/next")
    );

    // Policy and masking stay at the gateway.
    let people = api.curl(Some(&bot), "echo", "/people", &[]);
    assert_eq!(people.status, 200, "{people:?}");
    assert_eq!(people.json()["items"][0]["password"], "[REDACTED]");
    let refused = api.curl(Some(&bot), "echo", "/echo", &["-X", "DELETE"]);
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        api.echo_requests().len(),
        3,
        "the DELETE never reached the target"
    );

    // Nothing the gateway keeps holds the agent's token.
    let config = std::fs::read_to_string(api.gateway.config_path()).unwrap();
    assert!(!config.contains(AGENT_TOKEN));
    let output = std::process::Command::new("grep")
        .args(["-r", "-l", AGENT_TOKEN])
        .arg(api.gateway.data_dir())
        .output()
        .unwrap();
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn with_the_agent_stopped_a_request_is_a_503_naming_the_connection_and_nothing_is_sent() {
    let (api, mut agent) = start();
    let ana = api.gateway.key("ana", &["admins"]);
    agent.stop();
    agent.wait_disconnected(&api.gateway);
    let answer = api.curl(Some(&ana), "echo", "/echo", &[]);
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(
        answer.json()["detail"].as_str().unwrap().contains("echo"),
        "{answer:?}"
    );
    assert!(api.echo_requests().is_empty());
}
