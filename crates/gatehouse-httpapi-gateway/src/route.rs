//! Which connection a request names, and the request target left for it. Two forms, both
//! always on: a path prefix (`https://HOST:PORT/c/CONNECTION/<path>`) and a host
//! (`https://CONNECTION.<gateway host>:PORT/<path>`, which needs a certificate for
//! `*.<gateway host>`). Over HTTP/2 a client reuses one TLS connection for every name the
//! certificate covers; a request whose authority names another connection than the one the
//! TLS handshake named (SNI) is answered 421 Misdirected Request, so that the client opens a
//! connection of its own for it.

use hyper::{Request, header};

/// A request's connection and the path and query to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed<'a> {
    pub connection: &'a str,
    /// The request target for the connection (starts with `/`).
    pub target: String,
    /// The prefix the client's URL has before the target (`/c/NAME`, or empty when the host
    /// named the connection), for rewriting redirects.
    pub prefix: String,
}

/// Why a request names no connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrouted {
    /// Neither the host nor the path names one.
    Unnamed,
    /// The TLS connection was opened for another connection's host.
    Misdirected { sni: String, authority: String },
}

/// The connection `request` names, given the gateway's own host name (`None`: path prefixes
/// only) and the TLS handshake's server name.
pub fn route<'a, B>(
    request: &'a Request<B>,
    gateway_host: Option<&str>,
    sni: Option<&str>,
) -> Result<Routed<'a>, Unrouted> {
    let authority = authority(request);
    let by_host = |host: Option<&'a str>| {
        let gateway_host = gateway_host?;
        connection_of_host(host?, gateway_host)
    };
    let hosted = by_host(authority);
    if let (Some(sni), Some(authority)) = (sni, authority) {
        let sni_connection = gateway_host.and_then(|gateway| connection_of_host(sni, gateway));
        let same = match (sni_connection, hosted) {
            (Some(sni), Some(hosted)) => sni.eq_ignore_ascii_case(hosted),
            (None, _) => true,
            (Some(_), None) => false,
        };
        if !same {
            return Err(Unrouted::Misdirected {
                sni: sni.to_owned(),
                authority: authority.to_owned(),
            });
        }
    }
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str());
    if let Some(connection) = hosted {
        return Ok(Routed {
            connection,
            target: path_and_query.to_owned(),
            prefix: String::new(),
        });
    }
    let path = request.uri().path();
    let (connection, rest) =
        gatehouse_http::route::connection_prefix(path).ok_or(Unrouted::Unnamed)?;
    let rest = if rest.is_empty() { "/" } else { rest };
    let target = match request.uri().query() {
        Some(query) => format!("{rest}?{query}"),
        None => rest.to_owned(),
    };
    Ok(Routed {
        connection,
        target,
        prefix: format!("/c/{connection}"),
    })
}

/// The request's authority: HTTP/2's `:authority` (in the URI), else HTTP/1.1's `Host`.
fn authority<B>(request: &Request<B>) -> Option<&str> {
    request
        .uri()
        .authority()
        .map(|authority| authority.as_str())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
        })
}

/// `NAME` of `NAME.<gateway host>[:port]` (case-insensitive), if `host` is that.
fn connection_of_host<'a>(host: &'a str, gateway_host: &str) -> Option<&'a str> {
    let name = host_without_port(host);
    let (label, rest) = name.split_once('.')?;
    (rest.eq_ignore_ascii_case(gateway_host) && !label.is_empty()).then_some(label)
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host;
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(uri: &str, host: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn a_path_prefix_names_the_connection() {
        let request = request("/c/rabbit/api/queues/%2F/q?columns=name", Some("gw:18443"));
        let routed = route(&request, Some("gw"), Some("gw")).unwrap();
        assert_eq!(routed.connection, "rabbit");
        assert_eq!(routed.target, "/api/queues/%2F/q?columns=name");
        assert_eq!(routed.prefix, "/c/rabbit");
        let bare = self::request("/c/rabbit", None);
        assert_eq!(route(&bare, None, None).unwrap().target, "/");
    }

    #[test]
    fn a_host_names_the_connection() {
        let request = request("/api/overview", Some("Rabbit.GW.example:18443"));
        let routed = route(&request, Some("gw.example"), Some("rabbit.gw.example")).unwrap();
        assert_eq!(
            (
                routed.connection,
                routed.target.as_str(),
                routed.prefix.as_str()
            ),
            ("Rabbit", "/api/overview", "")
        );
    }

    #[test]
    fn a_coalesced_request_for_another_connection_is_misdirected() {
        let request = request("https://billing.gw:18443/api/x", None);
        assert_eq!(
            route(&request, Some("gw"), Some("rabbit.gw")),
            Err(Unrouted::Misdirected {
                sni: "rabbit.gw".to_owned(),
                authority: "billing.gw:18443".to_owned()
            })
        );
    }

    #[test]
    fn neither_host_nor_path_naming_one_is_unrouted() {
        let request = request("/api/overview", Some("gw:18443"));
        assert_eq!(route(&request, Some("gw"), None), Err(Unrouted::Unnamed));
    }
}
