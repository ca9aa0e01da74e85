//! A minimal HTTP/1.1 client for identity: fetching an issuer's discovery document and JWKS,
//! and (in `gatehouse login`) calling the gateway's token endpoint. One request per connection
//! (`Connection: close`), bounded size and time; `https://` trusts only a given CA file.

use anyhow::{Context, Result, anyhow, bail};
use axum::http::Uri;
use rustls::pki_types::ServerName;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response read.
const MAX_RESPONSE: usize = 1024 * 1024;

/// A response: status and (de-chunked) body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Send one request to `url`. `body` is `(content type, bytes)`.
pub async fn request(
    method: &str,
    url: &str,
    body: Option<(&str, &[u8])>,
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<Response> {
    request_with_headers(method, url, &[], body, ca_file, timeout).await
}

/// [`request`] with extra request `headers` (name, value).
pub async fn request_with_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &[u8])>,
    ca_file: Option<&Path>,
    timeout: Duration,
) -> Result<Response> {
    let uri: Uri = url
        .parse()
        .map_err(|e| anyhow!("`{url}` is not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("`{url}` must start with http:// or https://"),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| anyhow!("`{url}` has no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_owned());
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gatehouse/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        authority.as_str(),
        env!("CARGO_PKG_VERSION"),
    );
    for (name, value) in headers {
        if value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            bail!("header `{name}` holds a line break; refusing to send it");
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let payload = match body {
        Some((content_type, bytes)) => {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                bytes.len()
            ));
            bytes
        }
        None => &[][..],
    };
    head.push_str("\r\n");
    let exchange = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| format!("cannot connect to {host}:{port}"))?;
        let _ = tcp.set_nodelay(true);
        if https {
            let Some(ca_file) = ca_file else {
                bail!(
                    "`{url}` is https:// but no CA file is configured: gatehouse ships no public \
                     root certificates; set `ca_file` (e.g. /etc/ssl/certs/ca-certificates.crt)"
                );
            };
            let (connector, name) = tls_connector(ca_file, &host)?;
            let stream = connector
                .connect(name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {host}:{port} failed"))?;
            send(stream, head.as_bytes(), payload).await
        } else {
            send(tcp, head.as_bytes(), payload).await
        }
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        anyhow!(
            "no answer from `{url}` within {}",
            humantime::format_duration(timeout)
        )
    })?
}

fn tls_connector(
    ca_file: &Path,
    host: &str,
) -> Result<(tokio_rustls::TlsConnector, ServerName<'static>)> {
    let config = gatehouse_pg::client_config_trusting(ca_file)?;
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| anyhow!("`{host}` is not a valid TLS server name: {e}"))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    head: &[u8],
    body: &[u8],
) -> Result<Response> {
    stream
        .write_all(head)
        .await
        .context("cannot send the request")?;
    stream
        .write_all(body)
        .await
        .context("cannot send the request")?;
    stream.flush().await.context("cannot send the request")?;
    let mut response = Vec::with_capacity(4096);
    let mut limited = (&mut stream).take(u64::try_from(MAX_RESPONSE).unwrap_or(u64::MAX) + 1);
    // A server that closes without TLS close_notify still gave us its whole answer when it
    // sent Content-Length or a final chunk; parse what arrived.
    let _ = limited.read_to_end(&mut response).await;
    if response.len() > MAX_RESPONSE {
        bail!("the answer is larger than {MAX_RESPONSE} bytes");
    }
    parse_response(&response)
}

/// Parse a complete HTTP/1.1 response (status line, headers, body as framed).
pub fn parse_response(raw: &[u8]) -> Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow!("the answer is not HTTP (no complete header)"))?;
    let head = std::str::from_utf8(raw.get(..split).unwrap_or_default())
        .map_err(|_| anyhow!("the answer's header is not text"))?;
    let rest = raw.get(split + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split(' ');
    if !parts.next().unwrap_or_default().starts_with("HTTP/1.") {
        bail!("the answer is not HTTP");
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("the answer has no status code"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        rest.get(..length)
            .ok_or_else(|| anyhow!("the answer ended before its body did"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("the answer ended inside a chunk"))?;
        let size_text = std::str::from_utf8(data.get(..end).unwrap_or_default()).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| anyhow!("the answer's chunk size is not hex"))?;
        data = data.get(end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(body);
        }
        let chunk = data
            .get(..size)
            .ok_or_else(|| anyhow!("the answer ended inside a chunk"))?;
        body.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_lengths_and_chunks() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhixx").unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abcde"[..]));
        assert!(parse_response(b"garbage").is_err());
    }
}
