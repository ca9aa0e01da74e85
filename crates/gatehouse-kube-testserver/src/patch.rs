//! The three patch formats kubectl sends, applied to a stored object: JSON merge patch
//! (RFC 7386), strategic merge patch (merge patch whose lists of named items merge by `name`,
//! with its `$` directives), and JSON patch (RFC 6902).

use serde_json::{Map, Value};

/// The patch formats, by the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        match media {
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/json-patch+json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Apply `patch` of kind `kind` to `target`.
pub fn apply(kind: PatchType, target: &mut Value, patch: &Value) -> Result<(), String> {
    match kind {
        PatchType::Merge => {
            merge(target, patch);
            Ok(())
        }
        PatchType::Strategic => {
            strategic(target, patch);
            Ok(())
        }
        PatchType::Json => json_patch(target, patch),
    }
}

/// RFC 7386: maps merge key by key, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    let mut fields = take_map(target);
    for (key, value) in changes {
        if value.is_null() {
            fields.remove(key);
        } else {
            merge(fields.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
    *target = Value::Object(fields);
}

/// `target`'s map, taken out of it (a map is what a map patch turns anything into).
fn take_map(target: &mut Value) -> Map<String, Value> {
    match std::mem::take(target) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Strategic merge: as merge patch, except that lists whose items are maps with a `name`
/// merge item by item (containers, env, volumes), `$patch: delete|replace` applies to the map
/// it is in, and `$retainKeys`, `$deleteFromPrimitiveList/…` and `$setElementOrder/…` are
/// honoured or, for ordering, ignored.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if changes.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = changes.clone();
        replacement.remove("$patch");
        *target = Value::Object(replacement);
        return;
    }
    let mut fields = take_map(target);
    for (key, value) in changes {
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Value::Array(gone)) = (fields.get_mut(list), value) {
                items.retain(|item| !gone.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                fields.remove(key);
            }
            Value::Object(inner)
                if inner.get("$patch").and_then(Value::as_str) == Some("delete") =>
            {
                fields.remove(key);
            }
            Value::Array(items) if named(items) => {
                let slot = fields
                    .entry(key.clone())
                    .or_insert(Value::Array(Vec::new()));
                merge_named(slot, items);
            }
            _ => strategic(fields.entry(key.clone()).or_insert(Value::Null), value),
        }
    }
    if let Some(Value::Array(keep)) = changes.get("$retainKeys") {
        fields.retain(|key, _| keep.iter().any(|k| k.as_str() == Some(key)));
    }
    *target = Value::Object(fields);
}

/// Whether a patch list is one of maps each carrying a `name`: such lists merge by name.
fn named(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|item| item.get("name").is_some())
}

fn merge_named(slot: &mut Value, items: &[Value]) {
    let mut current = match std::mem::take(slot) {
        Value::Array(current) if current.is_empty() || named(&current) => current,
        _ => Vec::new(),
    };
    for item in items {
        let name = item.get("name");
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            current.retain(|c| c.get("name") != name);
            continue;
        }
        match current.iter_mut().find(|c| c.get("name") == name) {
            Some(existing) => strategic(existing, item),
            None => {
                let mut added = Value::Null;
                strategic(&mut added, item);
                current.push(added);
            }
        }
    }
    *slot = Value::Array(current);
}

/// RFC 6902: a list of `add`, `remove`, `replace`, `move`, `copy` and `test` operations,
/// applied in order; any failure leaves `target` unchanged.
pub fn json_patch(target: &mut Value, operations: &Value) -> Result<(), String> {
    let Value::Array(operations) = operations else {
        return Err("a JSON patch must be a list of operations".into());
    };
    let mut patched = target.clone();
    for operation in operations {
        let field = |name: &str| operation.get(name).and_then(Value::as_str);
        let path = field("path").ok_or("a JSON patch operation needs a `path`")?;
        let value = || {
            operation
                .get("value")
                .cloned()
                .ok_or_else(|| format!("the operation on `{path}` needs a `value`"))
        };
        match field("op").unwrap_or_default() {
            "add" => add(&mut patched, path, value()?)?,
            "remove" => {
                remove(&mut patched, path)?;
            }
            "replace" => {
                remove(&mut patched, path)?;
                add(&mut patched, path, value()?)?;
            }
            "move" => {
                let from = field("from").ok_or("a move needs `from`")?;
                let moved = remove(&mut patched, from)?;
                add(&mut patched, path, moved)?;
            }
            "copy" => {
                let from = field("from").ok_or("a copy needs `from`")?;
                let copied = patched
                    .pointer(from)
                    .cloned()
                    .ok_or_else(|| format!("no value at `{from}`"))?;
                add(&mut patched, path, copied)?;
            }
            "test" => {
                if patched.pointer(path) != Some(&value()?) {
                    return Err(format!("test failed at `{path}`"));
                }
            }
            other => return Err(format!("unknown JSON patch operation `{other}`")),
        }
    }
    *target = patched;
    Ok(())
}

/// The pointer of a path's parent and the path's last token, unescaped.
fn parent_of(path: &str) -> Result<(&str, String), String> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| format!("`{path}` is not a JSON pointer"))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, token) = parent_of(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) if token == "-" => {
            items.push(value);
            Ok(())
        }
        Some(Value::Array(items)) => match token.parse::<usize>() {
            Ok(index) if index <= items.len() => {
                items.insert(index, value);
                Ok(())
            }
            _ => Err(format!("index `{token}` is out of range in `{path}`")),
        },
        _ => Err(format!("no container at `{parent}` to add `{path}` to")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let missing = || format!("no value at `{path}` to remove");
    let (parent, token) = parent_of(path)?;
    match target.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token).ok_or_else(missing),
        Some(Value::Array(items)) => match token.parse::<usize>() {
            Ok(index) if index < items.len() => Ok(items.remove(index)),
            _ => Err(missing()),
        },
        _ => Err(missing()),
    }
}

#[cfg(test)]
mod tests;
