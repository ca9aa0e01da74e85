//! Watches (`?watch=true`): a chunked stream of `{"type":…,"object":…}` lines, one per change,
//! kept open until the client goes away, `timeoutSeconds` passes or the server stops. Without
//! a `resourceVersion` the stream starts with an `ADDED` for every existing object; with one,
//! it starts with the changes made since. kubectl's `get -w` asks for Tables and gets each
//! event's object as a one-row Table.

use crate::body;
use crate::respond::{self, Call, Response};
use crate::route::Target;
use crate::selector::Selector;
use crate::shared::Shared;
use crate::status::ApiError;
use crate::store::{Change, ChangeKind};
use crate::table::{self, Include};
use crate::verbs::selectors;
use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// What a watch sends and how.
struct Watch {
    target: Target,
    labels: Selector,
    fields: Selector,
    table: Option<Include>,
}

pub fn start(shared: &Arc<Shared>, call: &Call, target: &Target) -> Result<Response, ApiError> {
    let (labels, fields) = selectors(call)?;
    let watch = Watch {
        target: target.clone(),
        labels,
        fields,
        table: table::wanted(call.accept)
            .then(|| Include::from_param(call.query.get("includeObject"))),
    };
    let since = call
        .query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0);
    let timeout = call
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let (first, changes) = {
        let store = shared.store();
        let first = match since {
            Some(since) => store.changes_since(since).ok_or_else(|| {
                ApiError::new(410, "Expired", format!("too old resource version: {since}"))
            })?,
            None => store
                .list(target.resource, target.namespace.as_deref())
                .into_iter()
                .map(|object| Change {
                    revision: store.revision(),
                    kind: ChangeKind::Added,
                    resource: target.resource,
                    object,
                })
                .collect(),
        };
        (first, store.subscribe())
    };
    let (sender, body) = body::channel();
    tokio::spawn(stream(watch, first, changes, sender, timeout));
    Ok(respond::stream("application/json", body))
}

async fn stream(
    watch: Watch,
    first: Vec<Change>,
    mut changes: broadcast::Receiver<Change>,
    sender: mpsc::Sender<Bytes>,
    timeout: Option<Duration>,
) {
    for change in &first {
        if !send(&watch, change, &sender).await {
            return;
        }
    }
    let deadline = tokio::time::sleep(timeout.unwrap_or(Duration::MAX));
    tokio::pin!(deadline);
    loop {
        let change = tokio::select! {
            change = changes.recv() => change,
            () = sender.closed() => return,
            () = &mut deadline, if timeout.is_some() => return,
        };
        // A watch that fell too far behind ends; the client lists again and watches anew.
        let Ok(change) = change else {
            return;
        };
        if !send(&watch, &change, &sender).await {
            return;
        }
    }
}

/// Send one change if the watch covers it; `false` once the client has gone.
async fn send(watch: &Watch, change: &Change, sender: &mpsc::Sender<Bytes>) -> bool {
    if !covers(watch, change) {
        return true;
    }
    let object = match watch.table {
        Some(include) => table::table(
            change.resource,
            std::slice::from_ref(&change.object),
            include,
            change.revision,
        ),
        None => change.object.clone(),
    };
    let mut line = json!({"type": change.kind.as_str(), "object": object}).to_string();
    line.push('\n');
    sender.send(Bytes::from(line)).await.is_ok()
}

fn covers(watch: &Watch, change: &Change) -> bool {
    let object: &Value = &change.object;
    let resource = watch.target.resource;
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    std::ptr::eq(change.resource, resource)
        && (!resource.namespaced
            || watch.target.namespace.is_none()
            || watch.target.namespace.as_deref() == namespace)
        && watch.labels.matches_labels(object)
        && watch.fields.matches_fields(object)
}
