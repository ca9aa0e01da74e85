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
//!
//! The walk is bounded: nesting over [`MAX_PATCH_DEPTH`], more than [`MAX_PATCH_PATHS`] distinct
//! paths, or more than [`MAX_PATCH_PATH_BYTES`] of path text built (repeats included, so a body
//! repeating a long key in many list elements cannot make the work quadratic) is refused.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::AttributionError;

/// Deepest nesting of objects and lists walked.
pub const MAX_PATCH_DEPTH: usize = 64;
/// Most distinct paths one patch may touch.
pub const MAX_PATCH_PATHS: usize = 10_000;
/// Most bytes of path text one patch may make the walk build, repeated paths included.
pub const MAX_PATCH_PATH_BYTES: usize = 8 * 1024 * 1024;

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
                path: String::new(),
            };
            walker.fields(fields, 1)?;
        }
        _ => return Err(malformed("the patch must be a JSON object")),
    }
    Ok(PatchSummary {
        patch_type,
        paths: paths.found,
    })
}

/// The paths found so far, and the bytes of path text they cost (duplicates included), so
/// that a body repeating a long path cannot make the walk quadratic.
#[derive(Default)]
struct Paths {
    found: BTreeSet<String>,
    bytes: usize,
}

impl Paths {
    fn add(&mut self, path: &str) -> Result<(), AttributionError> {
        self.bytes += path.len() + 1;
        if self.bytes > MAX_PATCH_PATH_BYTES {
            return Err(AttributionError::PatchPathsTooLarge(MAX_PATCH_PATH_BYTES));
        }
        if !self.found.contains(path) {
            self.found.insert(path.to_owned());
            if self.found.len() > MAX_PATCH_PATHS {
                return Err(AttributionError::TooManyPatchPaths(MAX_PATCH_PATHS));
            }
        }
        Ok(())
    }
}

fn malformed(reason: &str) -> AttributionError {
    AttributionError::MalformedPatch(reason.to_owned())
}

/// Walks merge, strategic and apply patches (objects of fields), `path` being the dotted path
/// of the value at hand.
struct Walker<'a> {
    strategic: bool,
    paths: &'a mut Paths,
    path: String,
}

impl Walker<'_> {
    fn fields(
        &mut self,
        fields: &Map<String, Value>,
        depth: usize,
    ) -> Result<(), AttributionError> {
        if fields.is_empty() && !self.path.is_empty() {
            return self.paths.add(&self.path);
        }
        for (key, value) in fields {
            if self.strategic && self.directive(key)? {
                continue;
            }
            let parent = self.enter(key);
            let walked = self.value(value, depth);
            self.path.truncate(parent);
            walked?;
        }
        Ok(())
    }

    /// Appends `key` to the path; returns the parent's length to truncate back to.
    fn enter(&mut self, key: &str) -> usize {
        let parent = self.path.len();
        if parent > 0 {
            self.path.push('.');
        }
        self.path.push_str(key);
        parent
    }

    /// Records a strategic-merge directive; false if `key` is an ordinary field.
    fn directive(&mut self, key: &str) -> Result<bool, AttributionError> {
        if key == "$patch" || key == "$retainKeys" {
            self.paths.add(&self.path)?;
            return Ok(true);
        }
        let list = key
            .strip_prefix("$setElementOrder/")
            .or_else(|| key.strip_prefix("$deleteFromPrimitiveList/"));
        match list {
            Some("") => Err(malformed(&format!("`{key}` names no list"))),
            Some(list) => {
                let parent = self.enter(list);
                let added = self.paths.add(&self.path);
                self.path.truncate(parent);
                added.map(|()| true)
            }
            None => Ok(false),
        }
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<(), AttributionError> {
        match value {
            Value::Object(fields) => self.fields(fields, self.deeper(depth)?),
            Value::Array(items) if !items.is_empty() => {
                let depth = self.deeper(depth)?;
                let mut scalars = false;
                for item in items {
                    match item {
                        Value::Object(_) | Value::Array(_) => self.value(item, depth)?,
                        _ => scalars = true,
                    }
                }
                if scalars {
                    self.paths.add(&self.path)?;
                }
                Ok(())
            }
            _ => self.paths.add(&self.path),
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
        paths.add(&pointer_path(pointer)?)?;
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
    let mut path = String::with_capacity(tokens.len());
    for token in tokens.split('/') {
        if token == "-" || (!token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        if !path.is_empty() {
            path.push('.');
        }
        unescape_token(token, pointer, &mut path)?;
    }
    Ok(path)
}

fn unescape_token(token: &str, pointer: &str, out: &mut String) -> Result<(), AttributionError> {
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
    Ok(())
}
