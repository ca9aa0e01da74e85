//! Answers gatehouse gives in Kubernetes' own terms: a `Status` object with the HTTP code, so
//! kubectl prints `Error from server (Forbidden): gatehouse: ...` and client libraries raise
//! their usual API exception. Held requests answer 403 too: a 2xx reads as done, and client-go
//! retries 429 and 5xx.

use gatehouse_http::body::{ProxyBody, full};
use gatehouse_k8s::StatusReason;
use hyper::{Response, StatusCode, header};

/// gatehouse's own answer instead of the API server's: a `Status` failure.
#[derive(Debug)]
pub struct Refusal(Box<Response<ProxyBody>>);

impl Refusal {
    pub fn into_response(self) -> Response<ProxyBody> {
        *self.0
    }

    pub fn status(&self) -> StatusCode {
        self.0.status()
    }
}

/// A `Status` failure answer with `reason` and `message` (prefixed `gatehouse: `).
pub fn status(reason: StatusReason, message: &str) -> Refusal {
    let message = format!("gatehouse: {message}");
    let document = gatehouse_k8s::status(reason, &message, None);
    let mut response = Response::new(full(document.to_string()));
    *response.status_mut() =
        StatusCode::from_u16(reason.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Refusal(Box::new(response))
}

/// 403: policy refused, or held for approval.
pub fn forbidden(message: &str) -> Refusal {
    status(StatusReason::Forbidden, message)
}

/// 400: a request gatehouse will not forward as it is.
pub fn bad_request(message: &str) -> Refusal {
    status(StatusReason::BadRequest, message)
}

/// 401: no gatehouse token, or one that is not accepted. kubectl runs its exec plugin again.
pub fn unauthorized() -> Refusal {
    status(
        StatusReason::Unauthorized,
        "a valid gatehouse token is required (the kubeconfig's user runs `gatehouse token --kube`; check `gatehouse login` or GATEHOUSE_TOKEN)",
    )
}
