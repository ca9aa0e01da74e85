//! The verbs on collections and objects: list, watch, create, get, update, patch and delete,
//! each answering as the API does (a `…List` or a Table, 201 for a create, a `Status` for
//! failures and for some deletes).

use crate::catalogue::Resource;
use crate::patch::{self, PatchType};
use crate::respond::{self, Call, Response};
use crate::route::Target;
use crate::selector::Selector;
use crate::shared::Shared;
use crate::status::{self, ApiError};
use crate::table::{self, Include};
use crate::watch;
use hyper::Method;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn collection(
    shared: &Arc<Shared>,
    call: &Call,
    target: &Target,
) -> Result<Response, ApiError> {
    match *call.method {
        Method::GET if call.query.flag("watch") => watch::start(shared, call, target),
        Method::GET => list(shared, call, target),
        Method::POST if target.namespace.is_some() || !target.resource.namespaced => {
            create(shared, call, target)
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

pub fn object(
    shared: &Arc<Shared>,
    call: &Call,
    target: &Target,
    name: &str,
) -> Result<Response, ApiError> {
    match *call.method {
        Method::GET => get(shared, call, target, name),
        Method::PUT => update(shared, call, target, name),
        Method::PATCH => patch(shared, call, target, name),
        Method::DELETE => delete(shared, call, target, name),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn namespace(target: &Target) -> &str {
    target.namespace.as_deref().unwrap_or_default()
}

/// The label and field selectors of a list or watch.
pub fn selectors(call: &Call) -> Result<(Selector, Selector), ApiError> {
    let parse = |name: &str| {
        Selector::parse(call.query.get(name).unwrap_or_default()).map_err(ApiError::bad_request)
    };
    Ok((parse("labelSelector")?, parse("fieldSelector")?))
}

/// A list, or its Table when kubectl asks for one, a page at a time with `limit`/`continue`.
fn list(shared: &Shared, call: &Call, target: &Target) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(call)?;
    let (items, revision) = {
        let store = shared.store();
        let items: Vec<Value> = store
            .list(target.resource, target.namespace.as_deref())
            .into_iter()
            .filter(|o| labels.matches_labels(o) && fields.matches_fields(o))
            .collect();
        (items, store.revision())
    };
    let offset = match call.query.get("continue").filter(|c| !c.is_empty()) {
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("continue key is not valid"))?,
        None => 0,
    };
    let limit = call
        .query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let next = offset.saturating_add(page.len());
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if next < total
        && let Some(map) = metadata.as_object_mut()
    {
        map.insert("continue".into(), json!(next.to_string()));
        map.insert("remainingItemCount".into(), json!(total - next));
    }
    let mut document = if table::wanted(call.accept) {
        let include = Include::from_param(call.query.get("includeObject"));
        table::table(target.resource, &page, include, revision)
    } else {
        json!({
            "kind": target.resource.list_kind(),
            "apiVersion": target.resource.api_version(),
            "items": page,
        })
    };
    if let Some(map) = document.as_object_mut() {
        map.insert("metadata".into(), metadata);
    }
    Ok(respond::json(200, &document))
}

fn get(shared: &Shared, call: &Call, target: &Target, name: &str) -> Result<Response, ApiError> {
    let store = shared.store();
    let object = store
        .get(target.resource, namespace(target), name)
        .ok_or_else(|| ApiError::not_found(target.resource, name))?;
    if table::wanted(call.accept) {
        let include = Include::from_param(call.query.get("includeObject"));
        let table = table::table(
            target.resource,
            std::slice::from_ref(object),
            include,
            store.revision(),
        );
        return Ok(respond::json(200, &table));
    }
    Ok(respond::json(200, object))
}

fn create(shared: &Shared, call: &Call, target: &Target) -> Result<Response, ApiError> {
    let object = call.json_body()?;
    let created = shared.store().create(
        target.resource,
        namespace(target),
        object,
        call.query.dry_run(),
    )?;
    Ok(respond::json(201, &created))
}

fn update(shared: &Shared, call: &Call, target: &Target, name: &str) -> Result<Response, ApiError> {
    let object = call.json_body()?;
    let updated = shared.store().update(
        target.resource,
        namespace(target),
        name,
        object,
        call.query.dry_run(),
    )?;
    Ok(respond::json(200, &updated))
}

fn patch(shared: &Shared, call: &Call, target: &Target, name: &str) -> Result<Response, ApiError> {
    let patched = patched(shared, call, target.resource, namespace(target), name, None)?;
    Ok(respond::json(200, &patched))
}

/// Another face of an object that a patch can be sent to, such as a deployment's `Scale`.
pub struct Face {
    /// The face, made from the object.
    pub show: fn(&Value) -> Value,
    /// The object with a patched face written back into it.
    pub merge_back: fn(&Value, &Value) -> Value,
}

/// Apply the request's patch to an object, or to its `face`, and store the result.
pub fn patched(
    shared: &Shared,
    call: &Call,
    resource: &'static Resource,
    namespace: &str,
    name: &str,
    face: Option<&Face>,
) -> Result<Value, ApiError> {
    let content_type = call.content_type.unwrap_or_default();
    let kind = PatchType::from_content_type(content_type).ok_or_else(|| {
        ApiError::unsupported_media_type(
            content_type,
            "application/json-patch+json, application/merge-patch+json, \
                 application/strategic-merge-patch+json",
        )
    })?;
    let changes = call.json_body()?;
    let mut store = shared.store();
    let current = store
        .get(resource, namespace, name)
        .ok_or_else(|| ApiError::not_found(resource, name))?
        .clone();
    let mut seen = face.map_or_else(|| current.clone(), |face| (face.show)(&current));
    patch::apply(kind, &mut seen, &changes).map_err(|e| ApiError::invalid(resource, name, e))?;
    let object = match face {
        Some(face) => (face.merge_back)(&current, &seen),
        None => seen,
    };
    store.update(resource, namespace, name, object, call.query.dry_run())
}

fn delete(shared: &Shared, call: &Call, target: &Target, name: &str) -> Result<Response, ApiError> {
    let options: Value = serde_json::from_slice(call.body).unwrap_or(Value::Null);
    let dry_run = call.query.dry_run()
        || options
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let mut store = shared.store();
    let current = store
        .get(target.resource, namespace(target), name)
        .ok_or_else(|| ApiError::not_found(target.resource, name))?;
    for field in ["uid", "resourceVersion"] {
        let expected = options.pointer(&format!("/preconditions/{field}"));
        if expected.is_some_and(|e| {
            !e.is_null() && Some(e) != current.pointer(&format!("/metadata/{field}"))
        }) {
            return Err(ApiError::conflict(target.resource, name));
        }
    }
    let deleted = store.delete(target.resource, namespace(target), name, dry_run)?;
    if matches!(target.resource.plural, "pods" | "namespaces" | "services") {
        return Ok(respond::json(200, &deleted));
    }
    let uid = deleted
        .pointer("/metadata/uid")
        .cloned()
        .unwrap_or(Value::Null);
    Ok(respond::json(
        200,
        &status::success(target.resource, name, &uid),
    ))
}
