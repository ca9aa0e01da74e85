//! One HTTP API request read the way its server will read it: the method decided (method
//! overrides included), the path and query exactly as forwarded with their decoded segments
//! and parameters, the headers the connection selects, the body's type, length and digest,
//! a JSON body's top-level fields and a GraphQL request's operation. Everything the adapter
//! knows goes in as [`HttpInput`]; everything policy sees comes out as
//! [`HttpRequestAttributes`], or an [`HttpApiError`] says why the request is refused.

use crate::error::HttpApiError;
use crate::graphql::{self, GraphqlOperation};
use crate::json::{self, JsonError, Member, TopLevel};
use crate::method::{OVERRIDE_HEADERS, decided_method, method_token, query_claims};
use crate::target::{Target, read_target};
use sha2::{Digest, Sha256};

/// What the adapter knows of one request.
#[derive(Debug, Clone, Copy)]
pub struct HttpInput<'a> {
    /// The method as received, e.g. `GET`.
    pub method: &'a str,
    /// The path and query the upstream will receive (the `/c/NAME` routing prefix already
    /// removed); must start with `/`.
    pub target: &'a str,
    /// Every request header, names lower case, values as text (the adapter passes a value
    /// that is not UTF-8 as `""`).
    pub headers: &'a [(&'a str, &'a str)],
    /// Lower-case names of the headers whose values policy sees in `context.headers`.
    pub selected_headers: &'a [String],
    /// The whole request body (already bounded by the adapter).
    pub body: &'a [u8],
    /// JSON bodies longer than this are not read for fields (no `json_keys`, `json_values`
    /// or GraphQL operation), and not refused either.
    pub json_body_limit: usize,
    /// Whether the request asks for a WebSocket upgrade.
    pub websocket: bool,
}

/// What policy sees of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequestAttributes {
    /// The method decided, upper case: the received one, or the one an override claims.
    pub method: String,
    /// The method on the request line, upper case.
    pub sent_method: String,
    /// The path exactly as forwarded (no query).
    pub path: String,
    /// The raw query exactly as forwarded, without `?` (`""` when none).
    pub query: String,
    /// The path's segments, percent-decoded (lossy UTF-8), in order; a trailing slash adds
    /// none.
    pub segments: Vec<String>,
    /// The query's parameters, decoded as HTML forms encode them (`+` is a space), in order;
    /// a parameter without `=` has the value `""`.
    pub query_params: Vec<(String, String)>,
    /// The selected headers present, as (lower-case name, value), in the order received.
    pub headers: Vec<(String, String)>,
    /// The body's media type, lower case, without parameters (`""` when absent).
    pub content_type: String,
    pub body_bytes: u64,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
    /// A JSON body's top-level object keys, in order.
    pub json_keys: Vec<String>,
    /// `key=value` for each top-level scalar of a JSON body: strings unquoted, numbers as
    /// written, `true`, `false`, `null`.
    pub json_values: Vec<String>,
    /// The GraphQL operation the request runs; `None` when it is not a GraphQL request or
    /// carries no document.
    pub graphql: Option<GraphqlOperation>,
    pub websocket: bool,
}

impl HttpRequestAttributes {
    /// The Cedar action: `http:websocket` for an upgrade, `http:get` ... `http:delete` by
    /// the decided method, `http:unknown` for any other method.
    pub fn action(&self) -> &'static str {
        if self.websocket {
            return "http:websocket";
        }
        match self.method.as_str() {
            "GET" => "http:get",
            "HEAD" => "http:head",
            "OPTIONS" => "http:options",
            "POST" => "http:post",
            "PUT" => "http:put",
            "PATCH" => "http:patch",
            "DELETE" => "http:delete",
            _ => "http:unknown",
        }
    }

    /// The path, plus `?query` when the query is not empty: exactly what is forwarded.
    pub fn request_target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// Reads one request for policy, or says why it is refused.
pub fn attribute(input: &HttpInput<'_>) -> Result<HttpRequestAttributes, HttpApiError> {
    let sent_method = method_token(input.method)
        .ok_or_else(|| HttpApiError::InvalidMethod(crate::error::quoted(input.method)))?;
    let target = read_target(input.target)?;
    let mut claims: Vec<String> = input
        .headers
        .iter()
        .filter(|(name, _)| {
            OVERRIDE_HEADERS
                .iter()
                .any(|header| name.eq_ignore_ascii_case(header))
        })
        .map(|(_, value)| (*value).to_owned())
        .collect();
    claims.extend(query_claims(&target.query)?);
    let method = decided_method(&sent_method, &claims)?;
    if input.websocket && (sent_method != "GET" || method != "GET") {
        let shown = if sent_method == "GET" {
            &method
        } else {
            &sent_method
        };
        return Err(HttpApiError::WebsocketMethod(shown.clone()));
    }
    let content_type = content_type(input.headers)?;
    let headers = input
        .headers
        .iter()
        .filter(|(name, _)| {
            input
                .selected_headers
                .iter()
                .any(|selected| name.eq_ignore_ascii_case(selected))
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned()))
        .collect();
    let within_limit = input.body.len() <= input.json_body_limit;
    let json = if is_json(&content_type) && !input.body.is_empty() && within_limit {
        Some(json::read(input.body).map_err(|error| match error {
            JsonError::Syntax(reason) => HttpApiError::InvalidJson(reason),
            JsonError::DuplicateKey(key) => {
                HttpApiError::DuplicateJsonKey(crate::error::quoted(&key))
            }
        })?)
    } else {
        None
    };
    let (json_keys, json_values) = match &json {
        Some(TopLevel::Object(members)) => fields(members),
        _ => (Vec::new(), Vec::new()),
    };
    let graphql = if is_graphql(&target, &content_type) && within_limit {
        graphql_operation(&target, &content_type, input.body, json.as_ref())?
    } else {
        None
    };
    let Target {
        path,
        query,
        segments,
        params,
    } = target;
    Ok(HttpRequestAttributes {
        method,
        sent_method,
        path,
        query,
        segments,
        query_params: params,
        headers,
        content_type,
        body_bytes: u64::try_from(input.body.len()).unwrap_or(u64::MAX),
        body_sha256: hex::encode(Sha256::digest(input.body)),
        json_keys,
        json_values,
        graphql,
        websocket: input.websocket,
    })
}

/// The media type of the one Content-Type header, lower case; `""` without one.
fn content_type(headers: &[(&str, &str)]) -> Result<String, HttpApiError> {
    let mut values = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| *value);
    let count = values.clone().count();
    match (values.next(), count) {
        (None, _) => Ok(String::new()),
        (Some(value), 1) => Ok(value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()),
        (Some(_), count) => Err(HttpApiError::ContentTypeRepeated(count)),
    }
}

/// `application/json` or any `type/subtype+json`.
fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || (media_type.contains('/') && media_type.ends_with("+json"))
}

const GRAPHQL_MEDIA_TYPE: &str = "application/graphql";

/// A path whose last segment is `graphql` (any case), or a GraphQL document body.
fn is_graphql(target: &Target, media_type: &str) -> bool {
    media_type == GRAPHQL_MEDIA_TYPE
        || target
            .segments
            .last()
            .is_some_and(|segment| segment.eq_ignore_ascii_case("graphql"))
}

/// The top-level keys and `key=value` scalars of a JSON object.
fn fields(members: &[(String, Member)]) -> (Vec<String>, Vec<String>) {
    let keys = members.iter().map(|(key, _)| key.clone()).collect();
    let values = members
        .iter()
        .filter_map(|(key, value)| match value {
            Member::String(text) | Member::Literal(text) => Some(format!("{key}={text}")),
            Member::Nested => None,
        })
        .collect();
    (keys, values)
}

/// The operation of a GraphQL request whose body (if any) is within the JSON limit.
///
/// The document comes from exactly one place: a JSON object body's `query` (with its
/// `operationName`), an `application/graphql` body (with the URL's `operationName`), or,
/// without a body, the URL's `query` and `operationName`. A body of another type, a JSON body
/// that is not an object with a string `query`, a batch, or a document in two places is
/// refused; a request without body or `query` parameter (a GraphiQL page load) runs no
/// operation and gives `None`.
fn graphql_operation(
    target: &Target,
    media_type: &str,
    body: &[u8],
    json: Option<&TopLevel>,
) -> Result<Option<GraphqlOperation>, HttpApiError> {
    let url_query = single_param(target, "query", "`query` parameter")?;
    let url_name = single_param(target, "operationName", "`operationName` parameter")?;
    let (document, name): (Option<String>, Option<String>) = if body.is_empty() {
        (url_query, url_name)
    } else if media_type == GRAPHQL_MEDIA_TYPE {
        if url_query.is_some() {
            return Err(HttpApiError::GraphqlTwoPlaces);
        }
        let document = std::str::from_utf8(body)
            .map_err(|_| HttpApiError::GraphqlUnreadable("the body is not UTF-8".to_owned()))?;
        (Some(document.to_owned()), url_name)
    } else {
        match json {
            Some(TopLevel::Array) => return Err(HttpApiError::GraphqlBatch),
            Some(TopLevel::Object(members)) => {
                if url_query.is_some() || url_name.is_some() {
                    return Err(HttpApiError::GraphqlTwoPlaces);
                }
                let document = match members.iter().find(|(key, _)| key == "query") {
                    Some((_, Member::String(document))) => document.clone(),
                    _ => return Err(HttpApiError::GraphqlNoDocument),
                };
                let name = match members.iter().find(|(key, _)| key == "operationName") {
                    None => None,
                    Some((_, Member::String(name))) => Some(name.clone()),
                    Some((_, Member::Literal(literal))) if literal == "null" => None,
                    Some(_) => return Err(HttpApiError::GraphqlOperationNameType),
                };
                (Some(document), name)
            }
            Some(TopLevel::Scalar) | None => return Err(HttpApiError::GraphqlNoDocument),
        }
    };
    match document {
        Some(document) => graphql::operation(&document, name.as_deref()).map(Some),
        None => Ok(None),
    }
}

/// The one value of query parameter `name`, if given.
fn single_param(
    target: &Target,
    name: &str,
    what: &'static str,
) -> Result<Option<String>, HttpApiError> {
    let mut values = target
        .params
        .iter()
        .filter(|(param, _)| param == name)
        .map(|(_, value)| value);
    match (values.next(), values.next()) {
        (first, None) => Ok(first.cloned()),
        (Some(_), Some(_)) | (None, Some(_)) => Err(HttpApiError::GraphqlRepeated(what)),
    }
}
