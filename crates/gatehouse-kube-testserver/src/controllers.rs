//! What the cluster's controllers would have done by the time anyone looks, done at once on
//! every write: a deployment's status follows its spec (all replicas up to date and
//! available), so `kubectl get` after a `scale` shows the new count.

use crate::catalogue::Resource;
use serde_json::{Value, json};

pub fn settle(resource: &Resource, object: &mut Value) {
    if resource.group == "apps" && resource.plural == "deployments" {
        settle_deployment(object);
    }
}

fn settle_deployment(object: &mut Value) {
    let replicas = object
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("replicas".into(), json!(replicas));
    }
    let generation = object
        .pointer("/metadata/generation")
        .cloned()
        .unwrap_or(json!(1));
    let since = object
        .pointer("/metadata/creationTimestamp")
        .cloned()
        .unwrap_or(Value::Null);
    let condition = |kind: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
               "lastUpdateTime": since, "lastTransitionTime": since})
    };
    let status = json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
            condition("Progressing", "NewReplicaSetAvailable", "ReplicaSet has successfully progressed."),
        ],
    });
    if let Some(map) = object.as_object_mut() {
        map.insert("status".into(), status);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::catalogue;

    #[test]
    fn deployment_status_follows_replicas() {
        let deployments = catalogue::by_plural_only("deployments").unwrap();
        let mut deployment = json!({"metadata": {"generation": 4}, "spec": {"replicas": 3}});
        settle(deployments, &mut deployment);
        assert_eq!(deployment["status"]["readyReplicas"], 3);
        assert_eq!(deployment["status"]["observedGeneration"], 4);
    }

    #[test]
    fn other_objects_are_left_alone() {
        let pods = catalogue::by_plural_only("pods").unwrap();
        let mut pod = json!({"spec": {}});
        settle(pods, &mut pod);
        assert_eq!(pod, json!({"spec": {}}));
    }
}
