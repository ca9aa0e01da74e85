//! Which fields a `PATCH` touches, as sorted dotted paths (`spec.replicas`,
//! `spec.template.spec.containers.image`), so a policy can allow scaling a deployment without
//! allowing a change of its image.
//!
//! List indexes are dropped and list elements that are objects are walked without an index.
//! A leaf is a path: a nested object contributes its leaves, an empty object, an empty list,
//! `null` or a scalar its own path. The empty path `""` stands for the whole object (a JSON
//! Patch on `""`, a strategic `$patch` at the top). A key holding a dot reads as more segments
//! (`metadata.labels.app.kubernetes.io/name`); prefixes still match. The merge key of a
//! strategic list element (`name` of a container) is a path too: an element whose key matches
//! nothing is added with that key.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::AttributionError;

/// Deepest nesting of objects and lists walked.
pub const MAX_PATCH_DEPTH: usize = 64;
/// Most distinct paths one patch may touch.
pub const MAX_PATCH_PATHS: usize = 10_000;

/// The four ways Kubernetes applies a `PATCH`, named by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// `json`, `merge`, `strategic` or `apply`.
    pub fn as_str(self) -> &'static str {
        match self {
            PatchType::Json => "json",
            PatchType::Merge => "merge",
            PatchType::Strategic => "strategic",
            PatchType::Apply => "apply",
        }
    }

    /// The patch type of a `Content-Type` value (parameters such as `charset` ignored).
    pub fn from_content_type(content_type: &str) -> Result<PatchType, AttributionError> {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" => Ok(PatchType::Apply),
            _ => Err(AttributionError::UnsupportedPatchType(
                content_type.to_owned(),
            )),
        }
    }
}

/// A patch's type and the field paths it touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchSummary {
    pub patch_type: PatchType,
    pub paths: BTreeSet<String>,
}

/// Summarises a `PATCH` body sent with `content_type`.
pub fn patch_paths(content_type: &str, body: &[u8]) -> Result<PatchSummary, AttributionError> {
    let patch_type = PatchType::from_content_type(content_type)?;
    let value: Value = serde_json::from_slice(body).map_err(|error| match patch_type {
        PatchType::Apply => AttributionError::ApplyYamlUndecided,
        _ => AttributionError::MalformedPatch(error.to_string()),
    })?;
    let mut paths = Paths::default();
    match (patch_type, &value) {
        (PatchType::Json, Value::Array(operations)) => {
            for operation in operations {
                json_patch_operation(operation, &mut paths)?;
            }
        }
        (PatchType::Json, _) => return Err(malformed("a JSON patch is a list of operations")),
        (_, Value::Object(fields)) => {
            let mut walker = Walker {
                strategic: patch_type == PatchType::Strategic,
                paths: &mut paths,
            };
            walker.fields(fields, "", 1)?;
        }
        _ => return Err(malformed("the patch must be a JSON object")),
    }
    Ok(PatchSummary {
        patch_type,
        paths: paths.0,
    })
}

#[derive(Default)]
struct Paths(BTreeSet<String>);

impl Paths {
    fn add(&mut self, path: String) -> Result<(), AttributionError> {
        self.0.insert(path);
        if self.0.len() > MAX_PATCH_PATHS {
            return Err(AttributionError::TooManyPatchPaths(MAX_PATCH_PATHS));
        }
        Ok(())
    }
}

fn malformed(reason: &str) -> AttributionError {
    AttributionError::MalformedPatch(reason.to_owned())
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Walks merge, strategic and apply patches (objects of fields).
struct Walker<'a> {
    strategic: bool,
    paths: &'a mut Paths,
}

impl Walker<'_> {
    fn fields(
        &mut self,
        fields: &Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Result<(), AttributionError> {
        if fields.is_empty() && !path.is_empty() {
            return self.paths.add(path.to_owned());
        }
        for (key, value) in fields {
            if self.strategic && self.directive(key, path)? {
                continue;
            }
            self.value(value, join(path, key), depth)?;
        }
        Ok(())
    }

    /// Records a strategic-merge directive; false if `key` is an ordinary field.
    fn directive(&mut self, key: &str, path: &str) -> Result<bool, AttributionError> {
        if key == "$patch" || key == "$retainKeys" {
            self.paths.add(path.to_owned())?;
            return Ok(true);
        }
        let list = key
            .strip_prefix("$setElementOrder/")
            .or_else(|| key.strip_prefix("$deleteFromPrimitiveList/"));
        match list {
            Some("") => Err(malformed(&format!("`{key}` names no list"))),
            Some(list) => self.paths.add(join(path, list)).map(|()| true),
            None => Ok(false),
        }
    }

    fn value(&mut self, value: &Value, path: String, depth: usize) -> Result<(), AttributionError> {
        match value {
            Value::Object(fields) => self.fields(fields, &path, self.deeper(depth)?),
            Value::Array(items) if !items.is_empty() => {
                let depth = self.deeper(depth)?;
                for item in items {
                    match item {
                        Value::Object(_) | Value::Array(_) => {
                            self.value(item, path.clone(), depth)?;
                        }
                        _ => self.paths.add(path.clone())?,
                    }
                }
                Ok(())
            }
            _ => self.paths.add(path),
        }
    }

    fn deeper(&self, depth: usize) -> Result<usize, AttributionError> {
        if depth >= MAX_PATCH_DEPTH {
            return Err(AttributionError::PatchTooDeep(MAX_PATCH_DEPTH));
        }
        Ok(depth + 1)
    }
}

/// One RFC 6902 operation: its `path`, and `from` for `move` and `copy`.
fn json_patch_operation(operation: &Value, paths: &mut Paths) -> Result<(), AttributionError> {
    let Value::Object(fields) = operation else {
        return Err(malformed("a JSON patch operation must be an object"));
    };
    let op = fields
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("a JSON patch operation needs an `op` string"))?;
    let pointers: &[&str] = match op {
        "add" | "remove" | "replace" | "test" => &["path"],
        "move" | "copy" => &["path", "from"],
        _ => return Err(malformed(&format!("unknown JSON patch operation `{op}`"))),
    };
    for &member in pointers {
        let pointer = fields
            .get(member)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&format!("a JSON patch `{op}` needs a `{member}` string")))?;
        paths.add(pointer_path(pointer)?)?;
    }
    Ok(())
}

/// A JSON pointer (RFC 6901) as a dotted path, list indexes and `-` dropped.
fn pointer_path(pointer: &str) -> Result<String, AttributionError> {
    if pointer.is_empty() {
        return Ok(String::new());
    }
    let Some(tokens) = pointer.strip_prefix('/') else {
        return Err(malformed(&format!(
            "JSON pointer `{pointer}` must start with `/`"
        )));
    };
    let mut path = String::new();
    for token in tokens.split('/') {
        if token == "-" || (!token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        path = join(&path, &unescape_token(token, pointer)?);
    }
    Ok(path)
}

fn unescape_token(token: &str, pointer: &str) -> Result<String, AttributionError> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => {
                    return Err(malformed(&format!(
                        "JSON pointer `{pointer}` has a `~` not followed by 0 or 1"
                    )));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}
