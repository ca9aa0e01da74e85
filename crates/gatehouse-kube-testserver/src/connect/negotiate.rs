//! Which transport and protocol a connect request gets: WebSocket with the first subprotocol
//! the client offers that this server speaks, or SPDY/3.1 with the first
//! `X-Stream-Protocol-Version` it speaks (none offered: the pre-negotiation protocol), and the
//! `101 Switching Protocols` that says so. Asking for neither is the API's 400; offering
//! nothing this server speaks, kubelet's 403.

use crate::body;
use crate::respond::Response;
use crate::sessions::{StreamKind, Transport};
use crate::status::ApiError;
use crate::websocket;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode};

/// The channel subprotocols exec and attach speak over WebSocket, preferred first.
const EXEC_WEBSOCKET: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// The stream protocol versions exec and attach speak over SPDY.
const EXEC_SPDY: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];
/// SPDY tunnelled in WebSocket, what kubectl 1.31 and later port-forward with.
const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";
const PORTFORWARD_WEBSOCKET: &[&str] = &[TUNNEL, "v4.channel.k8s.io"];
const PORTFORWARD_SPDY: &[&str] = &["portforward.k8s.io"];

/// The transport and protocol for this request, or why there is none.
pub fn negotiate(
    websockets: bool,
    headers: &HeaderMap,
    kind: StreamKind,
) -> Result<(Transport, String), ApiError> {
    let upgrade = header_text(headers, "upgrade").to_ascii_lowercase();
    let streaming = kind != StreamKind::PortForward;
    if upgrade == "websocket" && websockets {
        let offered = list(headers, "sec-websocket-protocol");
        let supported = if streaming {
            EXEC_WEBSOCKET
        } else {
            PORTFORWARD_WEBSOCKET
        };
        let chosen = choose(&offered, supported)?;
        let transport = if chosen == TUNNEL {
            Transport::SpdyOverWebSocket
        } else {
            Transport::WebSocket
        };
        return Ok((transport, chosen));
    }
    if upgrade.contains("spdy/3.1") {
        let offered = list(headers, "x-stream-protocol-version");
        if offered.is_empty() {
            // Clients from before version negotiation; kubelet speaks the first protocol.
            return Ok((Transport::Spdy, String::new()));
        }
        let supported = if streaming {
            EXEC_SPDY
        } else {
            PORTFORWARD_SPDY
        };
        return Ok((Transport::Spdy, choose(&offered, supported)?));
    }
    Err(ApiError::bad_request("Upgrade request required"))
}

/// The first protocol the client offers that this server speaks.
fn choose(offered: &[String], supported: &[&str]) -> Result<String, ApiError> {
    offered
        .iter()
        .find(|p| supported.contains(&p.as_str()))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                403,
                "Forbidden",
                format!(
                    "unable to upgrade: unable to negotiate protocol: client supports {offered:?}, server accepts {supported:?}"
                ),
            )
        })
}

/// The `101 Switching Protocols` for the chosen transport.
pub fn switching(
    headers: &HeaderMap,
    transport: Transport,
    protocol: &str,
) -> Result<Response, ApiError> {
    let mut response = hyper::Response::new(body::full(Vec::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    };
    set("connection", "Upgrade");
    match transport {
        Transport::Spdy => {
            set("upgrade", "SPDY/3.1");
            if !protocol.is_empty() {
                set("x-stream-protocol-version", protocol);
            }
        }
        Transport::WebSocket | Transport::SpdyOverWebSocket => {
            let key = header_text(headers, "sec-websocket-key");
            if key.is_empty() {
                return Err(ApiError::bad_request(
                    "a WebSocket upgrade needs Sec-WebSocket-Key",
                ));
            }
            set("upgrade", "websocket");
            set("sec-websocket-accept", &websocket::accept_key(key));
            set("sec-websocket-protocol", protocol);
        }
    }
    Ok(response)
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
}

/// Every value of a header that may repeat or list values with commas.
fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn chosen(
        websockets: bool,
        pairs: &[(&'static str, &'static str)],
        kind: StreamKind,
    ) -> Result<(Transport, String), u16> {
        negotiate(websockets, &headers(pairs), kind).map_err(|e| e.code)
    }

    #[test]
    fn the_clients_order_decides_among_protocols_both_speak() {
        let offer = [
            ("upgrade", "websocket"),
            (
                "sec-websocket-protocol",
                "v4.channel.k8s.io, v5.channel.k8s.io",
            ),
        ];
        assert_eq!(
            chosen(true, &offer, StreamKind::Exec),
            Ok((Transport::WebSocket, "v4.channel.k8s.io".into()))
        );
        let spdy = [
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v5.channel.k8s.io"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
        ];
        assert_eq!(
            chosen(true, &spdy, StreamKind::Attach),
            Ok((Transport::Spdy, "v4.channel.k8s.io".into()))
        );
    }

    #[test]
    fn port_forward_may_tunnel_spdy_in_websocket() {
        let offer = [("upgrade", "websocket"), ("sec-websocket-protocol", TUNNEL)];
        assert_eq!(
            chosen(true, &offer, StreamKind::PortForward),
            Ok((Transport::SpdyOverWebSocket, TUNNEL.into()))
        );
        assert_eq!(chosen(true, &offer, StreamKind::Exec), Err(403));
    }

    #[test]
    fn refusals() {
        let plain: [(&str, &str); 0] = [];
        assert_eq!(chosen(true, &plain, StreamKind::Exec), Err(400));
        let offer = [
            ("upgrade", "websocket"),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
        ];
        assert_eq!(chosen(false, &offer, StreamKind::Exec), Err(400));
        let legacy = [("upgrade", "SPDY/3.1")];
        assert_eq!(
            chosen(true, &legacy, StreamKind::Exec),
            Ok((Transport::Spdy, String::new()))
        );
    }
}
