//! gatehouse's own answers: RFC 9457 problem documents (`application/problem+json`) with the
//! HTTP status, naming the action and the policy's reason, and for a held request the approval
//! and the command that approves it. A held request answers 403 too: a 2xx would read as done
//! to curl, httpx and every SDK, and 429/5xx invite retries.

use gatehouse_http::body::{ProxyBody, full};
use gatehouse_httpapi::{PROBLEM_CONTENT_TYPE, Problem};
use hyper::{Response, StatusCode, header};

/// gatehouse's answer instead of the target's.
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

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Self {
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::FORBIDDEN);
        let mut response = Response::new(full(problem.to_json()));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        Refusal(Box::new(response))
    }
}

/// A problem with `status`, a short `title` and the sentence that says what to do (`detail`,
/// prefixed `gatehouse: `), typed `https://gatehouse.dev/problems/<slug>`.
pub fn problem(status: StatusCode, slug: &str, title: &str, detail: &str) -> Problem {
    Problem::new(status.as_u16(), title, &format!("gatehouse: {detail}")).with_type(slug)
}

/// 400: a request gatehouse will not forward as it is.
pub fn bad_request(detail: &str) -> Refusal {
    problem(
        StatusCode::BAD_REQUEST,
        "refused-request",
        "Request refused",
        detail,
    )
    .into()
}

/// 401: no gatehouse token, or one that is not accepted.
pub fn unauthorized() -> Refusal {
    let mut refusal: Refusal = problem(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "A gatehouse token is required",
        "send `Authorization: Bearer <gatehouse token>` (`gatehouse token` prints one after `gatehouse login`), or use `gatehouse connect CONNECTION --port N`, which adds it",
    )
    .into();
    refusal.0.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"gatehouse\""),
    );
    refusal
}

/// 403: policy refused the request (or the connection).
pub fn forbidden(action: Option<&str>, connection: &str, detail: &str) -> Refusal {
    let mut document = problem(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Refused by policy",
        detail,
    );
    document.action = action.map(str::to_owned);
    document.connection = Some(connection.to_owned());
    document.into()
}

/// 503: gatehouse could not do what every forwarded request needs (decide and record it, read
/// the connection's own credential); nothing was sent.
pub fn unavailable(detail: &str) -> Refusal {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Not forwarded",
        detail,
    )
    .into()
}

/// 502: the target did not answer, or answered what gatehouse will not pass on.
pub fn bad_gateway(detail: &str) -> Refusal {
    problem(
        StatusCode::BAD_GATEWAY,
        "bad-gateway",
        "The target's answer was not passed on",
        detail,
    )
    .into()
}
