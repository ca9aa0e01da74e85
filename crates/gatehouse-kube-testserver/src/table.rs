//! Tables (`meta.k8s.io/v1` `Table`): what kubectl asks for (`Accept: …;as=Table;…`) when it
//! prints `get` as columns. The server chooses the columns and fills each row's cells, as the
//! real one does, so these are the columns kubectl users know.

use crate::catalogue::Resource;
use crate::clock;
use serde_json::{Value, json};

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    /// From the `includeObject` query parameter; `Metadata` when not given, as the API does.
    pub fn from_param(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Whether an `Accept` header asks for a Table.
pub fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.split(',').any(|media| media.contains("as=Table")))
}

/// The Table of `objects`, all of `resource`.
pub fn table(resource: &Resource, objects: &[Value], include: Include, revision: u64) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(resource, o, include)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": revision.to_string()},
        "columnDefinitions": columns(resource),
        "rows": rows,
    })
}

fn row(resource: &Resource, object: &Value, include: Include) -> Value {
    let mut row = json!({"cells": cells(resource, object)});
    let carried = match include {
        Include::None => None,
        Include::Object => Some(object.clone()),
        Include::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or(json!({})),
        })),
    };
    if let (Some(carried), Some(map)) = (carried, row.as_object_mut()) {
        map.insert("object".into(), carried);
    }
    row
}

fn column(name: &str, kind: &str, priority: u8, description: &str) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": description,
           "priority": priority})
}

fn columns(resource: &Resource) -> Vec<Value> {
    let name = column(
        "Name",
        "string",
        0,
        "Name must be unique within a namespace.",
    );
    let age = column(
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    let mut columns = vec![name];
    columns.extend(match resource.plural {
        "pods" => vec![
            column("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            column("Status", "string", 0, "The aggregate status of the containers in this pod."),
            column("Restarts", "string", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            age,
            column("IP", "string", 1, "IP address allocated to the pod. Routable at least within the cluster."),
            column("Node", "string", 1, "Name of the Node this pod is scheduled to."),
        ],
        "deployments" => vec![
            column("Ready", "string", 0, "Number of the pod with ready state"),
            column("Up-to-date", "integer", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            column("Available", "integer", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            age,
            column("Containers", "string", 1, "Names of each container in the template."),
            column("Images", "string", 1, "Images referenced by each container in the template."),
        ],
        "secrets" => vec![
            column("Type", "string", 0, "The type of the secret"),
            column("Data", "integer", 0, "The number of entries in the data"),
            age,
        ],
        "configmaps" => vec![
            column("Data", "integer", 0, "The number of entries in the data"),
            age,
        ],
        "namespaces" => vec![
            column("Status", "string", 0, "The status of the namespace"),
            age,
        ],
        _ => vec![age],
    });
    columns
}

fn cells(resource: &Resource, object: &Value) -> Vec<Value> {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let count = |pointer: &str| object.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    let entries = |field: &str| {
        let size = |f: &str| {
            object
                .get(f)
                .and_then(Value::as_object)
                .map_or(0, |m| m.len())
        };
        size(field) + size("binaryData")
    };
    let age = json!(clock::age(text("/metadata/creationTimestamp")));
    let mut cells = vec![json!(text("/metadata/name").unwrap_or_default())];
    cells.extend(match resource.plural {
        "pods" => {
            let statuses = list(object, "/status/containerStatuses");
            let ready = statuses
                .iter()
                .filter(|s| s.get("ready") == Some(&json!(true)))
                .count();
            let restarts: u64 = statuses
                .iter()
                .filter_map(|s| s.get("restartCount")?.as_u64())
                .sum();
            let total = list(object, "/spec/containers").len();
            vec![
                json!(format!("{ready}/{total}")),
                json!(pod_status(object)),
                json!(restarts.to_string()),
                age,
                json!(text("/status/podIP").unwrap_or("<none>")),
                json!(text("/spec/nodeName").unwrap_or("<none>")),
            ]
        }
        "deployments" => {
            let containers = list(object, "/spec/template/spec/containers");
            let joined = |field: &str| {
                let values: Vec<&str> = containers
                    .iter()
                    .filter_map(|c| c.get(field)?.as_str())
                    .collect();
                values.join(",")
            };
            vec![
                json!(format!(
                    "{}/{}",
                    count("/status/readyReplicas"),
                    count("/spec/replicas")
                )),
                json!(count("/status/updatedReplicas")),
                json!(count("/status/availableReplicas")),
                age,
                json!(joined("name")),
                json!(joined("image")),
            ]
        }
        "secrets" => vec![
            json!(text("/type").unwrap_or("Opaque")),
            json!(entries("data")),
            age,
        ],
        "configmaps" => vec![json!(entries("data")), age],
        "namespaces" => vec![json!(text("/status/phase").unwrap_or("Active")), age],
        _ => vec![age],
    });
    cells
}

fn list<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A pod's Status column: Terminating, the reason the pod gives, or its phase.
fn pod_status(pod: &Value) -> &str {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating";
    }
    pod.pointer("/status/reason")
        .or_else(|| pod.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or("Pending")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::catalogue;

    #[test]
    fn pod_rows_read_like_kubectl() {
        let pods = catalogue::by_plural_only("pods").unwrap();
        let pod = json!({"metadata": {"name": "web-0"},
            "spec": {"containers": [{"name": "web"}, {"name": "side"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 2}, {"ready": false, "restartCount": 1}]}});
        let table = table(pods, &[pod], Include::Metadata, 7);
        let row = &table["rows"][0];
        assert_eq!(
            row["cells"].as_array().unwrap()[..4],
            [json!("web-0"), json!("1/2"), json!("Running"), json!("3")]
        );
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(table["columnDefinitions"][0]["name"], "Name");
        assert_eq!(table["metadata"]["resourceVersion"], "7");
    }

    #[test]
    fn every_row_has_a_cell_per_column() {
        for resource in catalogue::RESOURCES {
            let object = json!({"metadata": {"name": "x"}});
            let table = table(resource, &[object], Include::None, 1);
            let cells = table["rows"][0]["cells"].as_array().unwrap().len();
            assert_eq!(
                cells,
                table["columnDefinitions"].as_array().unwrap().len(),
                "{}",
                resource.plural
            );
            assert!(table["rows"][0].get("object").is_none());
        }
    }

    #[test]
    fn accept_headers() {
        assert!(wanted(Some(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        )));
        assert!(!wanted(Some("application/json")));
        assert!(!wanted(None));
    }
}
