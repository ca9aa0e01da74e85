//! Failures as the Kubernetes API reports them: a `v1` `Status` object with the HTTP code,
//! a machine-readable reason and the message kubectl prints after "Error from server".

use crate::catalogue::Resource;
use serde_json::{Value, json};

/// A request the API refuses, with what the `Status` says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// The answer for a path that names nothing this server serves.
    pub fn no_such_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn not_found(resource: &Resource, name: &str) -> Self {
        Self::about(
            404,
            "NotFound",
            resource,
            name,
            format!("{} \"{name}\" not found", resource.qualified()),
        )
    }

    pub fn already_exists(resource: &Resource, name: &str) -> Self {
        Self::about(
            409,
            "AlreadyExists",
            resource,
            name,
            format!("{} \"{name}\" already exists", resource.qualified()),
        )
    }

    pub fn conflict(resource: &Resource, name: &str) -> Self {
        Self::about(
            409,
            "Conflict",
            resource,
            name,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                resource.qualified()
            ),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// A body in a format this server does not read; `accepted` lists the ones it does.
    pub fn unsupported_media_type(content_type: &str, accepted: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: \
                 {accepted} (got {content_type})"
            ),
        )
    }

    pub fn invalid(resource: &Resource, name: &str, message: impl Into<String>) -> Self {
        Self::about(422, "Invalid", resource, name, message.into())
    }

    fn about(
        code: u16,
        reason: &'static str,
        resource: &Resource,
        name: &str,
        message: String,
    ) -> Self {
        Self {
            code,
            reason,
            message,
            details: Some(details(resource, name)),
        }
    }

    /// The `Status` object the API answers with.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Some(map)) = (&self.details, status.as_object_mut()) {
            map.insert("details".to_owned(), details.clone());
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// What a `Status` names: the object, and its resource by plural and (unless core) group.
fn details(resource: &Resource, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource.plural});
    if !resource.group.is_empty()
        && let Some(map) = details.as_object_mut()
    {
        map.insert("group".to_owned(), json!(resource.group));
    }
    details
}

/// The `Status` a successful delete answers with (for most resources; pods, services and
/// namespaces answer with the object).
pub fn success(resource: &Resource, name: &str, uid: &Value) -> Value {
    let mut details = details(resource, name);
    if let Some(map) = details.as_object_mut() {
        map.insert("uid".to_owned(), uid.clone());
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
