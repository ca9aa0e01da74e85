//! A person's sign-in in the browser: OpenID Connect authorization code flow with PKCE (S256)
//! for a public client, answered on a loopback redirect `http://127.0.0.1:<port>/callback`
//! (RFC 8252) that only this process listens on. The sign-in URL is printed and opened with
//! `$BROWSER` (else `xdg-open`, `open`); `state` and `nonce` tie the answer to this login.
//! The callback is served by hyper; the browser's request is answered, with a page saying
//! how the sign-in ended, once the code has been redeemed.

use crate::client::oidc::{Discovery, IdTokens, random_token};
use crate::http::login::LoginProvider;
use crate::http_client::HttpClient;
use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

/// Largest request head read from the browser.
const MAX_REQUEST: usize = 16 * 1024;
/// Time a connection has to send its request head.
const REQUEST_WITHIN: Duration = Duration::from_secs(10);
/// Time the browser has to take the result page once it is ready.
const PAGE_WITHIN: Duration = Duration::from_secs(5);

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
            &crate::client::oidc::pkce_challenge(&pending.verifier),
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
    let (arrived, mut callbacks) = mpsc::channel(1);
    let mut connections = JoinSet::new();
    let callback = tokio::time::timeout(
        timeout,
        await_callback(&listener, &arrived, &mut callbacks, &mut connections),
    )
    .await
        .map_err(|_| {
            anyhow!(
                "the sign-in did not finish within {} (nothing came back to {redirect_uri}); run `gatehouse login` again",
                humantime::format_duration(timeout)
            )
        })??;
    drop(listener);
    let outcome = finish(provider, discovery, idp, &callback.params, &pending).await;
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
    // The browser waits for this page; it is sent before the process goes on (and exits).
    if callback.page.send(body).is_ok() {
        let sent = async {
            while let Some(served) = connections.join_next().await {
                if matches!(served, Ok(true)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(PAGE_WITHIN, sent).await;
    }
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
    let tokens = crate::client::oidc::token_call(idp, &discovery.token_endpoint, &form)
        .await?
        .map_err(|answer| {
            anyhow!(
                "identity provider `{}` refused the authorization code ({})",
                provider.name,
                crate::client::oidc::oauth_error(&answer)
            )
        })?;
    let claims = crate::client::oidc::id_token_claims(&tokens.id_token)?;
    if claims.get("nonce").and_then(|v| v.as_str()) != Some(pending.nonce.as_str()) {
        bail!("the ID token's nonce is not this login's (a replayed token?); refused");
    }
    Ok(tokens)
}

/// The browser's request to the redirect URI: its query parameters, and where the page for
/// the browser goes.
struct Callback {
    params: HashMap<String, String>,
    page: oneshot::Sender<String>,
}

/// Serve connections on the loopback port (each on its own task in `connections`) until one
/// brings `GET /callback?...`; other requests (a browser's `/favicon.ico`) get 404.
async fn await_callback(
    listener: &TcpListener,
    arrived: &mpsc::Sender<Callback>,
    callbacks: &mut mpsc::Receiver<Callback>,
    connections: &mut JoinSet<bool>,
) -> Result<Callback> {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted.context("the loopback listener failed")?;
                connections.spawn(serve(stream, arrived.clone()));
            }
            Some(callback) = callbacks.recv() => return Ok(callback),
        }
    }
}

/// Serve one connection (one request: no keep-alive); whether it carried the callback, once
/// its answer is sent.
async fn serve(stream: TcpStream, arrived: mpsc::Sender<Callback>) -> bool {
    let carried = Arc::new(AtomicBool::new(false));
    let service = {
        let carried = carried.clone();
        hyper::service::service_fn(move |request| answer(request, arrived.clone(), carried.clone()))
    };
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_REQUEST)
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_WITHIN)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    carried.load(Ordering::Relaxed)
}

/// `GET /callback?...`: hand its parameters over and answer with the page that comes back.
/// Anything else: 404.
async fn answer(
    request: hyper::Request<Incoming>,
    arrived: mpsc::Sender<Callback>,
    carried: Arc<AtomicBool>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let query = match (
        request.method(),
        request.uri().path(),
        request.uri().query(),
    ) {
        (&Method::GET, "/callback", Some(query)) => query,
        _ => return Ok(plain(StatusCode::NOT_FOUND, "")),
    };
    let params = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let (page, ready) = oneshot::channel();
    if arrived.send(Callback { params, page }).await.is_err() {
        return Ok(plain(StatusCode::GONE, "this sign-in is over"));
    }
    let Ok(page) = ready.await else {
        return Ok(plain(StatusCode::GONE, "this sign-in is over"));
    };
    carried.store(true, Ordering::Relaxed);
    let mut response = hyper::Response::new(Full::new(Bytes::from(page)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A plain-text answer with `status`.
fn plain(status: StatusCode, text: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[tokio::test]
    async fn the_callback_hands_over_its_query_and_the_browser_gets_the_page() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let browser = HttpClient::new(None, Duration::from_secs(5)).unwrap();
        let (arrived, mut callbacks) = mpsc::channel(1);
        let mut connections = JoinSet::new();
        let waiting = async {
            await_callback(&listener, &arrived, &mut callbacks, &mut connections)
                .await
                .unwrap()
        };
        let browsing = async {
            let favicon = browser
                .send(Method::GET, &format!("{base}/favicon.ico"), &[], None)
                .await
                .unwrap();
            assert_eq!(favicon.status, 404);
            browser
                .send(
                    Method::GET,
                    &format!("{base}/callback?state=s%201&code=c%3Cd"),
                    &[],
                    None,
                )
                .await
                .unwrap()
        };
        let page = async {
            let callback = waiting.await;
            assert_eq!(callback.params["state"], "s 1");
            assert_eq!(callback.params["code"], "c<d");
            callback.page.send(html_escape("<b>done</b>")).unwrap();
        };
        let (answered, ()) = tokio::join!(browsing, page);
        assert_eq!(answered.status, 200);
        assert_eq!(&answered.body[..], b"&lt;b&gt;done&lt;/b&gt;");
        let mut carried = Vec::new();
        while let Some(served) = connections.join_next().await {
            carried.push(served.unwrap());
        }
        carried.sort_unstable();
        assert_eq!(
            carried,
            [false, true],
            "only the callback's connection carried it"
        );
    }
}
