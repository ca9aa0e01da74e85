//! Kubernetes `Status` objects for the gateway's own answers (a refusal, a request it cannot
//! read, an error of its own), so `kubectl` and client-go show the message as they show the API
//! server's (`Error from server (Forbidden): ...`) instead of an unreadable body.

use serde_json::{Map, Value, json};

use crate::RequestAttributes;

/// The reasons the gateway answers with, each with its HTTP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusReason {
    Forbidden,
    BadRequest,
    RequestEntityTooLarge,
    Unauthorized,
    InternalError,
    NotFound,
    /// The gateway cannot decide or record the request now (503).
    ServiceUnavailable,
    /// The API server did not answer, or answered with what the gateway cannot pass on (502;
    /// Kubernetes has no reason of its own for it, so `InternalError`).
    BadGateway,
}

impl StatusReason {
    /// The `reason` string Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusReason::Forbidden => "Forbidden",
            StatusReason::BadRequest => "BadRequest",
            StatusReason::RequestEntityTooLarge => "RequestEntityTooLarge",
            StatusReason::Unauthorized => "Unauthorized",
            StatusReason::InternalError => "InternalError",
            StatusReason::NotFound => "NotFound",
            StatusReason::ServiceUnavailable => "ServiceUnavailable",
            StatusReason::BadGateway => "InternalError",
        }
    }

    /// The HTTP status code, also the Status object's `code`.
    pub fn code(self) -> u16 {
        match self {
            StatusReason::Forbidden => 403,
            StatusReason::BadRequest => 400,
            StatusReason::RequestEntityTooLarge => 413,
            StatusReason::Unauthorized => 401,
            StatusReason::InternalError => 500,
            StatusReason::NotFound => 404,
            StatusReason::ServiceUnavailable => 503,
            StatusReason::BadGateway => 502,
        }
    }
}

/// A `Status` (kind `Status`, apiVersion `v1`, status `Failure`) with `message`. With the
/// request's attributes, `details` names its object as kube-apiserver does (`name`, `group`,
/// `kind` = the resource), each member only when not empty, and only for resource requests.
pub fn status(reason: StatusReason, message: &str, about: Option<&RequestAttributes>) -> Value {
    let mut object = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason.as_str(),
        "code": reason.code(),
    });
    let details = about.map(details).filter(|details| !details.is_empty());
    if let (Some(details), Value::Object(members)) = (details, &mut object) {
        members.insert("details".to_owned(), Value::Object(details));
    }
    object
}

fn details(attributes: &RequestAttributes) -> Map<String, Value> {
    let mut details = Map::new();
    if !attributes.is_resource_request {
        return details;
    }
    for (key, value) in [
        ("name", &attributes.name),
        ("group", &attributes.api_group),
        ("kind", &attributes.resource),
    ] {
        if !value.is_empty() {
            details.insert(key.to_owned(), Value::String(value.clone()));
        }
    }
    details
}
