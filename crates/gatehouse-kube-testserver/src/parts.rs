//! An object taken apart for writing: its `metadata` map and the rest, so the store can stamp
//! metadata without re-checking at every step that the object is a map.

use crate::status::ApiError;
use serde_json::{Map, Value};

#[derive(Debug)]
pub struct Parts {
    /// Every top-level field except `metadata`.
    pub body: Map<String, Value>,
    pub metadata: Map<String, Value>,
}

impl Parts {
    pub fn split(object: Value) -> Result<Self, ApiError> {
        let Value::Object(mut body) = object else {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        };
        let metadata = match body.remove("metadata") {
            Some(Value::Object(metadata)) => metadata,
            None | Some(Value::Null) => Map::new(),
            Some(_) => return Err(ApiError::bad_request("metadata must be a JSON object")),
        };
        Ok(Self { body, metadata })
    }

    pub fn join(self) -> Value {
        let Self { mut body, metadata } = self;
        body.insert("metadata".into(), Value::Object(metadata));
        Value::Object(body)
    }

    /// A string field of the metadata, if set and not empty.
    pub fn meta(&self, field: &str) -> Option<&str> {
        self.metadata
            .get(field)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
    }

    pub fn set_meta(&mut self, field: &str, value: impl Into<Value>) {
        self.metadata.insert(field.to_owned(), value.into());
    }
}
