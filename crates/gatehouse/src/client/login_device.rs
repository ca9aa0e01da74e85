//! A person's sign-in on another device (OAuth 2.0 device authorization grant, RFC 8628), for
//! machines without a browser: print the verification URL and the user code, then poll the
//! IdP's token endpoint at the interval it asks for (slower after `slow_down`) until the person
//! has signed in, declined (`access_denied`) or the code expired (`expired_token`).

use crate::client::oidc::{Discovery, IdTokens, text};
use crate::http::login::LoginProvider;
use crate::http_client::HttpClient;
use anyhow::{Result, anyhow, bail};
use std::time::{Duration, Instant};

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The polling interval when the IdP names none (RFC 8628 section 3.2).
const DEFAULT_INTERVAL: u64 = 5;

pub async fn sign_in(
    provider: &LoginProvider,
    discovery: &Discovery,
    idp: &HttpClient,
    timeout: Duration,
) -> Result<IdTokens> {
    let endpoint = discovery
        .device_authorization_endpoint
        .as_deref()
        .ok_or_else(|| {
            anyhow!(
                "identity provider `{}` offers no device sign-in (its discovery names no device_authorization_endpoint); log in without --device",
                provider.name
            )
        })?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &provider.client_id)
        .append_pair("scope", &provider.scopes.join(" "))
        .finish();
    let (status, answer) = crate::client::oidc::post_form(idp, endpoint, &form).await?;
    if status != 200 {
        bail!(
            "identity provider `{}` refused to start a device sign-in ({})",
            provider.name,
            crate::client::oidc::oauth_error(&answer)
        );
    }
    let field = |name: &str| {
        text(&answer, name)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the device authorization answer has no `{name}`"))
    };
    let device_code = field("device_code")?;
    let user_code = field("user_code")?;
    let verification_uri = field("verification_uri")?;
    let lifetime = answer
        .get("expires_in")
        .and_then(|v| v.as_u64())
        .map_or(timeout, Duration::from_secs)
        .min(timeout);
    let mut interval = Duration::from_secs(
        answer
            .get("interval")
            .and_then(|v| v.as_u64())
            .unwrap_or(DEFAULT_INTERVAL)
            .max(1),
    );
    eprintln!(
        "To sign in with `{}`, open {verification_uri} on any device and enter the code\n\n  {user_code}\n",
        provider.name
    );
    if let Some(complete) = text(&answer, "verification_uri_complete") {
        eprintln!("(or open {complete})");
    }
    eprintln!(
        "Waiting up to {} for the sign-in ...",
        humantime::format_duration(lifetime)
    );
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", DEVICE_CODE_GRANT)
        .append_pair("device_code", &device_code)
        .append_pair("client_id", &provider.client_id)
        .finish();
    let started = Instant::now();
    loop {
        tokio::time::sleep(interval).await;
        if started.elapsed() > lifetime {
            bail!(
                "the sign-in did not finish within {}; run `gatehouse login --device` again",
                humantime::format_duration(lifetime)
            );
        }
        let answer =
            match crate::client::oidc::token_call(idp, &discovery.token_endpoint, &form).await? {
                Ok(tokens) => return Ok(tokens),
                Err(answer) => answer,
            };
        match text(&answer, "error") {
            Some("authorization_pending") => {}
            Some("slow_down") => interval += Duration::from_secs(5),
            Some("access_denied") => bail!(
                "the sign-in was declined at identity provider `{}` (access_denied); run `gatehouse login --device` again to retry",
                provider.name
            ),
            Some("expired_token") => bail!(
                "the code {user_code} expired before the sign-in finished (expired_token); run `gatehouse login --device` again"
            ),
            _ => bail!(
                "identity provider `{}` refused the device sign-in ({})",
                provider.name,
                crate::client::oidc::oauth_error(&answer)
            ),
        }
    }
}
