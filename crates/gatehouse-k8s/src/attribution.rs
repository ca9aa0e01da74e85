//! A request to a Kubernetes API server attributed the way kube-apiserver attributes it
//! (`RequestInfoFactory.NewRequestInfo` in `k8s.io/apiserver`): whether it is a resource
//! request, its verb, API group and version, namespace, resource, subresource and name, so a
//! policy decides on exactly what the server's own authorizer would see.

use serde::Serialize;

use crate::error::AttributionError;
use crate::list_options::{is_watch, selected_name};
use crate::path::canonical_path;
use crate::query::{encode_query, parse_query};

/// What a request asks of the API server. Built only by [`attribute`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestAttributes {
    /// The canonical path: what the gateway forwards (see [`RequestAttributes::request_target`]).
    pub path: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    pub is_resource_request: bool,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `proxy` (the legacy `/proxy/` prefix), or `""` for a method kube-apiserver has no verb
    /// for; for a non-resource request, the method in lower case.
    pub verb: String,
    /// `api` or `apis` for a resource request, otherwise empty.
    pub api_prefix: String,
    /// Empty for the core group.
    pub api_group: String,
    pub api_version: String,
    /// Empty for cluster-scoped requests and for lists across all namespaces.
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The path's segments from the resource on (resource, name, subresource, anything after).
    pub parts: Vec<String>,
    /// The request asks for a dry run (`dryRun=All`): nothing is persisted.
    pub dry_run: bool,
    #[serde(skip)]
    discovery: bool,
}

/// Attributes `method` and `path_and_query` (the request target, e.g.
/// `/api/v1/namespaces/default/pods?watch=1`), or refuses a target it cannot read the one way
/// every server behind the gateway would.
pub fn attribute(
    method: &str,
    path_and_query: &str,
) -> Result<RequestAttributes, AttributionError> {
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(AttributionError::InvalidMethod(method.to_owned()));
    }
    if path_and_query.contains('#') {
        return Err(AttributionError::Fragment);
    }
    let (raw_path, raw_query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let path = canonical_path(raw_path)?;
    let query = parse_query(raw_query)?;
    let dry_run = query
        .iter()
        .any(|(key, value)| key == "dryRun" && value == "All");
    let mut attributes = RequestAttributes {
        path: path.text,
        query,
        is_resource_request: false,
        verb: method.to_ascii_lowercase(),
        api_prefix: String::new(),
        api_group: String::new(),
        api_version: String::new(),
        namespace: String::new(),
        resource: String::new(),
        subresource: String::new(),
        name: String::new(),
        parts: Vec::new(),
        dry_run,
        discovery: is_discovery(&path.segments),
    };
    resolve(&mut attributes, method, &path.segments)?;
    Ok(attributes)
}

impl RequestAttributes {
    /// The Cedar action: `k8s:exec`, `k8s:attach`, `k8s:portforward` for those subresources of
    /// core pods; `k8s:proxy` for the `proxy` subresource of core pods, services and nodes and
    /// for the legacy `/proxy/` prefix; `k8s:<verb>` for every other resource request
    /// (`k8s:unknown` when the method has no verb); `k8s:discovery` for `GET`/`HEAD` of a
    /// discovery, version, OpenAPI or health document; `k8s:unknown` for any other
    /// non-resource request.
    pub fn action(&self) -> &'static str {
        if !self.is_resource_request {
            let read = self.verb == "get" || self.verb == "head";
            return if read && self.discovery {
                "k8s:discovery"
            } else {
                "k8s:unknown"
            };
        }
        if self.api_group.is_empty() {
            match (self.resource.as_str(), self.subresource.as_str()) {
                ("pods", "exec") => return "k8s:exec",
                ("pods", "attach") => return "k8s:attach",
                ("pods", "portforward") => return "k8s:portforward",
                ("pods" | "services" | "nodes", "proxy") => return "k8s:proxy",
                _ => {}
            }
        }
        match self.verb.as_str() {
            "get" => "k8s:get",
            "list" => "k8s:list",
            "watch" => "k8s:watch",
            "create" => "k8s:create",
            "update" => "k8s:update",
            "patch" => "k8s:patch",
            "delete" => "k8s:delete",
            "deletecollection" => "k8s:deletecollection",
            "proxy" => "k8s:proxy",
            _ => "k8s:unknown",
        }
    }

    /// The canonical query (every byte but RFC 3986's unreserved ones escaped), empty if none.
    pub fn query_string(&self) -> String {
        encode_query(&self.query)
    }

    /// What the gateway forwards as the request target: the canonical path and query.
    /// Attributing it again gives these same attributes.
    pub fn request_target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query_string())
        }
    }
}

/// kube-apiserver's resolution of a resource request, step by step.
fn resolve(
    attributes: &mut RequestAttributes,
    method: &str,
    segments: &[String],
) -> Result<(), AttributionError> {
    let [prefix, rest @ ..] = segments else {
        return Ok(());
    };
    if segments.len() < 3 || (prefix != "api" && prefix != "apis") {
        return Ok(());
    }
    let mut rest = rest;
    if prefix == "apis" {
        let [group, after @ ..] = rest else {
            return Ok(());
        };
        if rest.len() < 3 {
            return Ok(());
        }
        attributes.api_group.clone_from(group);
        rest = after;
    }
    attributes.api_prefix.clone_from(prefix);
    let [version, after_version @ ..] = rest else {
        return Ok(());
    };
    attributes.is_resource_request = true;
    attributes.api_version.clone_from(version);
    let mut parts = verb_and_parts(attributes, method, after_version)?;
    if let [first, namespace, after @ ..] = parts
        && first == "namespaces"
    {
        attributes.namespace.clone_from(namespace);
        if let [next, ..] = after
            && next != "status"
            && next != "finalize"
        {
            parts = after;
        }
    }
    attributes.parts = parts.to_vec();
    if let [resource, more @ ..] = parts {
        attributes.resource.clone_from(resource);
        if let [name, more @ ..] = more {
            attributes.name.clone_from(name);
            if let [subresource, ..] = more
                && attributes.verb != "proxy"
            {
                attributes.subresource.clone_from(subresource);
            }
        }
    }
    narrow_verb(attributes);
    Ok(())
}

/// The verb from a legacy `watch`/`proxy` prefix or from the method, and the parts after it.
fn verb_and_parts<'a>(
    attributes: &mut RequestAttributes,
    method: &str,
    parts: &'a [String],
) -> Result<&'a [String], AttributionError> {
    if let [special, after @ ..] = parts
        && (special == "watch" || special == "proxy")
    {
        if after.is_empty() {
            return Err(AttributionError::NoResourceAfterVerb {
                path: attributes.path.clone(),
                verb: special.clone(),
            });
        }
        attributes.verb.clone_from(special);
        return Ok(after);
    }
    attributes.verb = match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
    .to_owned();
    Ok(parts)
}

/// A `get` without a name is a list or a watch (of one object, with a `metadata.name` field
/// selector); a `delete` without a name is a `deletecollection`.
fn narrow_verb(attributes: &mut RequestAttributes) {
    if attributes.name.is_empty() && attributes.verb == "get" {
        attributes.verb = if is_watch(&attributes.query) {
            "watch"
        } else {
            "list"
        }
        .to_owned();
        if let Some(name) = selected_name(&attributes.query) {
            attributes.name = name;
        }
    }
    if attributes.name.is_empty() && attributes.verb == "delete" {
        attributes.verb = "deletecollection".to_owned();
    }
}

/// Discovery, version, OpenAPI and health documents (subpaths of the health checks included).
fn is_discovery(segments: &[String]) -> bool {
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    matches!(
        segments.as_slice(),
        ["api"]
            | ["api", _]
            | ["apis"]
            | ["apis", _]
            | ["apis", _, _]
            | ["version"]
            | ["openapi", "v2"]
            | ["openapi", "v3", ..]
            | ["healthz" | "livez" | "readyz", ..]
    )
}

/// RFC 9110 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}
