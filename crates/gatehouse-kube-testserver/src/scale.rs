//! `deployments/NAME/scale`: a deployment seen as an `autoscaling/v1` `Scale`, which
//! `kubectl scale` reads and patches; a change to the Scale's replicas is a change to the
//! deployment's.

use crate::catalogue::Resource;
use crate::respond::{self, Call, Response};
use crate::shared::Shared;
use crate::status::ApiError;
use crate::verbs::{self, Face};
use hyper::Method;
use serde_json::{Value, json};

const SCALE: Face = Face {
    show: scale_of,
    merge_back: with_replicas_of,
};

pub fn answer(
    shared: &Shared,
    call: &Call,
    resource: &'static Resource,
    namespace: &str,
    name: &str,
) -> Result<Response, ApiError> {
    let scale = match *call.method {
        Method::GET => {
            let store = shared.store();
            let deployment = store
                .get(resource, namespace, name)
                .ok_or_else(|| ApiError::not_found(resource, name))?;
            scale_of(deployment)
        }
        Method::PATCH => scale_of(&verbs::patched(
            shared,
            call,
            resource,
            namespace,
            name,
            Some(&SCALE),
        )?),
        Method::PUT => {
            let given = call.json_body()?;
            let mut store = shared.store();
            let current = store
                .get(resource, namespace, name)
                .ok_or_else(|| ApiError::not_found(resource, name))?;
            let updated = with_replicas_of(current, &given);
            scale_of(&store.update(resource, namespace, name, updated, call.query.dry_run())?)
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    Ok(respond::json(200, &scale))
}

/// The Scale of a deployment.
fn scale_of(deployment: &Value) -> Value {
    let metadata = |field: &str| deployment.pointer(&format!("/metadata/{field}")).cloned();
    let labels = deployment
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|labels| {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            pairs.join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata("name"),
            "namespace": metadata("namespace"),
            "uid": metadata("uid"),
            "resourceVersion": metadata("resourceVersion"),
            "creationTimestamp": metadata("creationTimestamp"),
        },
        "spec": {"replicas": deployment.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": deployment.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": labels,
        },
    })
}

/// The deployment with the replicas (and the resourceVersion precondition) of a Scale.
fn with_replicas_of(deployment: &Value, scale: &Value) -> Value {
    let mut updated = deployment.clone();
    if let Some(replicas) = scale.pointer("/spec/replicas")
        && let Some(spec) = updated.get_mut("spec").and_then(Value::as_object_mut)
    {
        spec.insert("replicas".into(), replicas.clone());
    }
    if let Some(version) = scale.pointer("/metadata/resourceVersion")
        && let Some(metadata) = updated.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.insert("resourceVersion".into(), version.clone());
    }
    updated
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn a_scale_round_trip_changes_only_replicas() {
        let deployment = json!({"metadata": {"name": "web", "resourceVersion": "4"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": 1}});
        let mut scale = scale_of(&deployment);
        assert_eq!(scale["status"]["selector"], "app=web");
        scale["spec"]["replicas"] = json!(5);
        let updated = with_replicas_of(&deployment, &scale);
        assert_eq!(updated["spec"]["replicas"], 5);
        assert_eq!(updated["spec"]["selector"], deployment["spec"]["selector"]);
        assert_eq!(updated["metadata"]["resourceVersion"], "4");
    }
}
