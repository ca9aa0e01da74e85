//! A person's sign-in in the browser: OpenID Connect authorization code flow with PKCE (S256)
//! for a public client, answered on a loopback redirect `http://127.0.0.1:<port>/callback`
//! (RFC 8252) that only this process listens on. The sign-in URL is printed and opened with
//! `$BROWSER` (else `xdg-open`, `open`); `state` and `nonce` tie the answer to this login.

use crate::http_client::HttpClient;
use crate::login_api::LoginProvider;
use crate::oidc_client::{self, Discovery, IdTokens, random_token};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head read from the browser.
const MAX_REQUEST: usize = 16 * 1024;

pub async fn sign_in(
    provider: &LoginProvider,
    discovery: &Discovery,
    idp: &HttpClient,
    open_browser: bool,
    timeout: Duration,
) -> Result<IdTokens> {
    let endpoint = discovery.authorization_endpoint.as_deref().ok_or_else(|| {
        anyhow!(
            "identity provider `{}` names no authorization_endpoint in its discovery; try --device",
            provider.name
        )
    })?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("cannot listen on a loopback port for the browser's answer")?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let pending = Pending {
        verifier: random_token(32),
        state: random_token(16),
        nonce: random_token(16),
        redirect_uri,
    };
    let redirect_uri = &pending.redirect_uri;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &provider.scopes.join(" "))
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair(
            "code_challenge",
            &oidc_client::pkce_challenge(&pending.verifier),
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    let separator = if endpoint.contains('?') { '&' } else { '?' };
    let url = format!("{endpoint}{separator}{query}");
    eprintln!(
        "Sign in with `{}` in your browser:\n\n  {url}\n",
        provider.name
    );
    if open_browser {
        open(&url);
    }
    eprintln!(
        "Waiting up to {} for the browser to come back to {redirect_uri} ...",
        humantime::format_duration(timeout)
    );
    let (params, mut browser) = tokio::time::timeout(timeout, callback(&listener))
        .await
        .map_err(|_| {
            anyhow!(
                "the sign-in did not finish within {} (nothing came back to {redirect_uri}); run `gatehouse login` again",
                humantime::format_duration(timeout)
            )
        })??;
    let outcome = finish(provider, discovery, idp, &params, &pending).await;
    let page = match &outcome {
        Ok(_) => "<h1>Signed in</h1><p>gatehouse has your sign-in. You can close this tab and return to the terminal.</p>".to_owned(),
        Err(error) => format!(
            "<h1>Sign-in failed</h1><p>{}</p><p>You can close this tab; the terminal says more.</p>",
            html_escape(&format!("{error:#}"))
        ),
    };
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>gatehouse login</title></head><body>{page}</body></html>"
    );
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = browser.write_all(response.as_bytes()).await;
    let _ = browser.shutdown().await;
    outcome
}

/// What this login sent, to check the answer against.
struct Pending {
    verifier: String,
    state: String,
    nonce: String,
    redirect_uri: String,
}

/// Check the redirect's answer, redeem the code, check the ID token's nonce.
async fn finish(
    provider: &LoginProvider,
    discovery: &Discovery,
    idp: &HttpClient,
    params: &HashMap<String, String>,
    pending: &Pending,
) -> Result<IdTokens> {
    if params.get("state") != Some(&pending.state) {
        bail!(
            "the browser came back with another `state` than this login sent: the answer is not for this login (refused; nothing stored); run `gatehouse login` again"
        );
    }
    if let Some(error) = params.get("error") {
        bail!(
            "identity provider `{}` refused the sign-in ({error}{})",
            provider.name,
            params
                .get("error_description")
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
    }
    let code = params
        .get("code")
        .ok_or_else(|| anyhow!("the browser came back without an authorization code"))?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &pending.redirect_uri)
        .append_pair("client_id", &provider.client_id)
        .append_pair("code_verifier", &pending.verifier)
        .finish();
    let tokens = oidc_client::token_call(idp, &discovery.token_endpoint, &form)
        .await?
        .map_err(|answer| {
            anyhow!(
                "identity provider `{}` refused the authorization code ({})",
                provider.name,
                oidc_client::oauth_error(&answer)
            )
        })?;
    let claims = oidc_client::id_token_claims(&tokens.id_token)?;
    if claims.get("nonce").and_then(|v| v.as_str()) != Some(pending.nonce.as_str()) {
        bail!("the ID token's nonce is not this login's (a replayed token?); refused");
    }
    Ok(tokens)
}

/// Accept connections on the loopback port until one is `GET /callback?...`; other paths
/// (a browser's `/favicon.ico`) get 404.
async fn callback(listener: &TcpListener) -> Result<(HashMap<String, String>, TcpStream)> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .context("the loopback listener failed")?;
        let Ok(Ok(target)) =
            tokio::time::timeout(Duration::from_secs(10), request_target(&mut stream)).await
        else {
            continue;
        };
        match target.split_once('?') {
            Some(("/callback", query)) => {
                let params = form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                return Ok((params, stream));
            }
            _ => {
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    )
                    .await;
            }
        }
    }
}

/// The target of a `GET` request (its head read whole, bounded).
async fn request_target(stream: &mut TcpStream) -> Result<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer).await?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            bail!("not a complete request");
        }
        head.extend_from_slice(buffer.get(..n).unwrap_or_default());
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => bail!("not a GET request"),
    }
}

/// Open `url` with `$BROWSER` (a `:`-separated list of commands, `%s` standing for the URL),
/// else `xdg-open`, else `open`. Failure is fine: the URL is printed.
fn open(url: &str) {
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(list) if !list.trim().is_empty() => list.split(':').map(str::to_owned).collect(),
        _ => vec!["xdg-open".to_owned(), "open".to_owned()],
    };
    for candidate in candidates {
        let mut words = candidate.split_whitespace();
        let Some(program) = words.next() else {
            continue;
        };
        let mut args: Vec<String> = words.map(|w| w.replace("%s", url)).collect();
        if !candidate.contains("%s") {
            args.push(url.to_owned());
        }
        if let Ok(mut child) = Command::new(program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
        {
            std::thread::spawn(move || child.wait());
            return;
        }
    }
    eprintln!("(no browser could be opened: open the URL above yourself)");
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
