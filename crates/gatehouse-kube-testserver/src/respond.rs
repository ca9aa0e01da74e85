//! Building answers: JSON documents, `Status` failures, plain text and streams, and the one
//! place the request's parts that handlers read are gathered ([`Call`]).

use crate::body::{self, Body};
use crate::query::Query;
use crate::status::ApiError;
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{HeaderMap, Method, StatusCode};
use serde_json::Value;
use std::sync::{Mutex, PoisonError};

pub type Response = hyper::Response<Body>;

/// What a handler reads from a request.
#[derive(Debug)]
pub struct Call<'a> {
    pub method: &'a Method,
    pub query: Query,
    pub accept: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a Bytes,
    pub headers: &'a HeaderMap,
    /// The connection, for a handler that switches protocols (exec, attach, port-forward).
    pub upgrade: Mutex<Option<OnUpgrade>>,
}

impl Call<'_> {
    /// The connection to switch protocols on; `None` if it cannot be, or was taken.
    pub fn take_upgrade(&self) -> Option<OnUpgrade> {
        self.upgrade
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The body as JSON; the API answers 415 for a body in another format (protobuf) and 400
    /// for one that is not JSON.
    pub fn json_body(&self) -> Result<Value, ApiError> {
        let media = self.content_type.unwrap_or("application/json");
        if !media.contains("json") {
            return Err(ApiError::unsupported_media_type(media, "application/json"));
        }
        serde_json::from_slice(self.body)
            .map_err(|e| ApiError::bad_request(format!("the request body is not valid JSON: {e}")))
    }
}

pub fn json(code: u16, value: &Value) -> Response {
    with_type(code, "application/json", body::full(value.to_string()))
}

pub fn error(error: &ApiError) -> Response {
    json(error.code, &error.to_status())
}

pub fn text(code: u16, text: String) -> Response {
    with_type(code, "text/plain", body::full(text))
}

/// A 200 with a body in another format (OpenAPI v2's protobuf).
pub fn bytes(content_type: &'static str, bytes: Vec<u8>) -> Response {
    with_type(200, content_type, body::full(bytes))
}

/// A response whose body is streamed (watch events, followed logs).
pub fn stream(content_type: &'static str, body: Body) -> Response {
    with_type(200, content_type, body)
}

fn with_type(code: u16, content_type: &'static str, body: Body) -> Response {
    let mut response = hyper::Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
