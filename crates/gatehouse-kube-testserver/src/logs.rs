//! Pod logs (`pods/NAME/log`): a few fixed lines naming the pod and container, and with
//! `follow=true` a further line every 200 ms for as long as the client stays.

use crate::body;
use crate::respond::{self, Call, Response};
use crate::status::ApiError;
use bytes::Bytes;
use serde_json::Value;
use std::time::Duration;

/// How often a followed log gains a line.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// The lines every container has logged by the time anyone asks.
pub fn lines(pod: &str, container: &str) -> Vec<String> {
    vec![
        format!("{pod}/{container}: starting"),
        format!("{pod}/{container}: listening on :80"),
        format!("{pod}/{container}: ready"),
    ]
}

pub fn answer(pod: &Value, call: &Call) -> Result<Response, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let container = container(pod, &name, call.query.get("container"))?;
    let mut text = String::new();
    for line in lines(&name, &container) {
        text.push_str(&line);
        text.push('\n');
    }
    if !call.query.flag("follow") {
        return Ok(respond::text(200, text));
    }
    let (sender, body) = body::channel();
    tokio::spawn(async move {
        if sender.send(Bytes::from(text)).await.is_err() {
            return;
        }
        let mut ticker = tokio::time::interval(FOLLOW_EVERY);
        ticker.tick().await;
        for n in 1u64.. {
            ticker.tick().await;
            let line = format!("{name}/{container}: tick {n}\n");
            if sender.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
    });
    Ok(respond::stream("text/plain", body))
}

/// The container a request (log, exec, attach) means: the one named, or the pod's only one.
pub fn container(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let names: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("name")?.as_str())
                .collect()
        })
        .unwrap_or_default();
    match (asked, names.as_slice()) {
        (Some(asked), _) if names.contains(&asked) => Ok(asked.to_owned()),
        (Some(asked), _) => Err(ApiError::bad_request(format!(
            "container {asked} is not valid for pod {name}"
        ))),
        (None, [only]) => Ok((*only).to_owned()),
        (None, _) => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            names.join(" ")
        ))),
    }
}
