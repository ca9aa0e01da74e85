//! One request, start to end: read the body, check the bearer token, find what the path names,
//! answer, and record the request with the status it got.

use crate::connect;
use crate::discovery;
use crate::logs;
use crate::openapi;
use crate::query::Query;
use crate::record::SeenRequest;
use crate::respond::{self, Call, Response};
use crate::route::{self, Route};
use crate::scale;
use crate::shared::Shared;
use crate::status::ApiError;
use crate::verbs;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// The largest request body read.
const MAX_BODY: usize = 16 * 1024 * 1024;

pub async fn serve(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let (mut parts, body) = request.into_parts();
    let upgrade = parts.extensions.remove::<OnUpgrade>();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .ok()
        .map(|b| b.to_bytes());
    let mut seen = SeenRequest::new(&parts, body.clone().unwrap_or_default());
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    seen.authenticated = header(AUTHORIZATION) == Some(format!("Bearer {}", shared.token).as_str());
    let response = match body {
        None => respond::error(&ApiError::new(
            413,
            "RequestEntityTooLarge",
            "the request body could not be read",
        )),
        Some(_) if !seen.authenticated => respond::error(&ApiError::unauthorized()),
        Some(ref body) => {
            let call = Call {
                method: &parts.method,
                query: Query::parse(parts.uri.query()),
                accept: header(ACCEPT),
                content_type: header(CONTENT_TYPE),
                body,
                headers: &parts.headers,
                upgrade: Mutex::new(upgrade),
            };
            answer(&shared, parts.uri.path(), &call).unwrap_or_else(|e| respond::error(&e))
        }
    };
    seen.status = response.status().as_u16();
    shared.seen().push(seen);
    Ok(response)
}

fn answer(shared: &Arc<Shared>, path: &str, call: &Call) -> Result<Response, ApiError> {
    let route = route::parse(path).ok_or_else(ApiError::no_such_path)?;
    let read_only = || {
        if *call.method == Method::GET {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed())
        }
    };
    match route {
        Route::Version => read_only().map(|()| respond::json(200, &discovery::version())),
        Route::Health => read_only().map(|()| respond::text(200, "ok".to_owned())),
        Route::CoreVersions => {
            read_only().map(|()| respond::json(200, &discovery::core_versions(&shared.address)))
        }
        Route::Groups => read_only().map(|()| respond::json(200, &discovery::groups())),
        Route::Group(name) => {
            read_only()?;
            let group = discovery::named_group(name).ok_or_else(ApiError::no_such_path)?;
            Ok(respond::json(200, &group))
        }
        Route::OpenApiV2 => {
            read_only().map(|()| respond::bytes(openapi::v2::MEDIA_TYPE, openapi::v2::document()))
        }
        Route::OpenApiIndex => read_only().map(|()| respond::json(200, &openapi::v3::index())),
        Route::OpenApi { group, version } => {
            read_only().map(|()| respond::json(200, &openapi::v3::document(group, version)))
        }
        Route::ResourceList { group, version } => {
            read_only().map(|()| respond::json(200, &discovery::resource_list(group, version)))
        }
        Route::Collection(target) => verbs::collection(shared, call, &target),
        Route::Object(target, name) => verbs::object(shared, call, &target, &name),
        Route::Subresource(target, name, sub) => {
            let namespace = target.namespace.as_deref().unwrap_or_default();
            match sub.as_str() {
                "log" => {
                    read_only()?;
                    let pod = shared
                        .store()
                        .get(target.resource, namespace, &name)
                        .cloned()
                        .ok_or_else(|| ApiError::not_found(target.resource, &name))?;
                    logs::answer(&pod, call)
                }
                "scale" => scale::answer(shared, call, target.resource, namespace, &name),
                "exec" | "attach" | "portforward" => {
                    connect::answer(shared, call, target.resource, namespace, &name, &sub)
                }
                _ => Err(ApiError::no_such_path()),
            }
        }
    }
}
