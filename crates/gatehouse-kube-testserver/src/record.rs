//! The record of every request that reached the server, in arrival order, so tests can assert
//! what the cluster saw: that a DELETE never arrived, which token and impersonation headers a
//! proxy sent, what body a patch carried.

use crate::query::Query;
use bytes::Bytes;
use hyper::HeaderMap;
use hyper::http::request::Parts;
use serde_json::Value;

/// One request as the server received it, and the status it answered with.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The whole `Authorization` header (`Bearer …`), if one was sent.
    pub authorization: Option<String>,
    /// Whether the request carried the server's bearer token.
    pub authenticated: bool,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    /// `Impersonate-User`.
    pub impersonate_user: Option<String>,
    /// Every `Impersonate-Group` header, in order.
    pub impersonate_groups: Vec<String>,
    pub body: Bytes,
    /// The HTTP status the server answered with (for a stream, the status it started with).
    pub status: u16,
}

impl SeenRequest {
    pub(crate) fn new(parts: &Parts, body: Bytes) -> Self {
        let header = |name: &str| header(&parts.headers, name);
        Self {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            authorization: header("authorization"),
            authenticated: false,
            content_type: header("content-type"),
            accept: header("accept"),
            user_agent: header("user-agent"),
            impersonate_user: header("impersonate-user"),
            impersonate_groups: parts
                .headers
                .get_all("impersonate-group")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::to_owned)
                .collect(),
            body,
            status: 0,
        }
    }

    /// The decoded value of one query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        Query::parse(self.query.as_deref())
            .get(name)
            .map(str::to_owned)
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether this is `method` on a path starting with `path_prefix`.
    pub fn is(&self, method: &str, path_prefix: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && self.path.starts_with(path_prefix)
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
