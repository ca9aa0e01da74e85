//! The cluster every server starts with: namespaces `default` and `kube-system`, deployment
//! `web` with its pods `web-0` and `web-1`, secret `db-credentials` and configmap `settings`,
//! in the shapes a real cluster returns them.

use crate::catalogue;
use crate::status::ApiError;
use crate::store::Store;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// `db-credentials`'s `username`, before base64.
pub const DB_USERNAME: &str = "app";
/// `db-credentials`'s `password`, before base64.
pub const DB_PASSWORD: &str = "s3cr3t-Passw0rd";

pub fn store() -> Result<Store, ApiError> {
    let mut store = Store::new();
    for object in objects() {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let resource = catalogue::by_kind(api_version, kind).ok_or_else(|| {
            ApiError::bad_request(format!("no resource for {api_version} {kind}"))
        })?;
        store.put(resource, object)?;
    }
    Ok(store)
}

fn objects() -> Vec<Value> {
    let labels = json!({"app": "web"});
    let container = json!({"name": "web", "image": "nginx:1.25",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "resources": {}, "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"});
    let namespace = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    };
    let pod = |name: &str, ip: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [container], "nodeName": "node-1", "restartPolicy": "Always",
                "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                "terminationGracePeriodSeconds": 30},
            "status": {"phase": "Running", "podIP": ip, "hostIP": "10.0.0.1", "qosClass": "BestEffort",
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}],
                "containerStatuses": [{"name": "web", "ready": true, "started": true, "restartCount": 0,
                    "image": "docker.io/library/nginx:1.25", "imageID": "",
                    "containerID": format!("containerd://{name}"),
                    "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]}})
    };
    vec![
        namespace("default"),
        namespace("kube-system"),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels,
                "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container],
                    "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}}),
        pod("web-0", "10.244.0.10"),
        pod("web-1", "10.244.0.11"),
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db-credentials", "namespace": "default"},
            "type": "Opaque",
            "data": {"username": STANDARD.encode(DB_USERNAME), "password": STANDARD.encode(DB_PASSWORD)}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "default"},
            "data": {"log_level": "info", "feature_flags": "search,export"}}),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_seeded_cluster() {
        let store = store().unwrap();
        let get = |plural: &str, ns: &str, name: &str| {
            store
                .get(catalogue::by_plural_only(plural).unwrap(), ns, name)
                .cloned()
        };
        let web = get("deployments", "default", "web").unwrap();
        assert_eq!(
            web["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.25"
        );
        assert_eq!(web["status"]["readyReplicas"], 1);
        let secret = get("secrets", "default", "db-credentials").unwrap();
        assert_eq!(secret["data"]["password"], STANDARD.encode(DB_PASSWORD));
        for (plural, ns, name) in [
            ("pods", "default", "web-0"),
            ("pods", "default", "web-1"),
            ("configmaps", "default", "settings"),
            ("namespaces", "", "kube-system"),
        ] {
            assert!(get(plural, ns, name).is_some(), "{name}");
        }
    }
}
