//! The cluster's objects: what every write goes through, so that uid, creationTimestamp,
//! resourceVersion and generation are stamped in one place, and every change is announced
//! once to the watches.

use crate::catalogue::{self, Resource};
use crate::clock;
use crate::controllers;
use crate::parts::Parts;
use crate::status::ApiError;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use tokio::sync::broadcast;

/// How many changes a slow watch may fall behind before it is ended.
const CHANGE_BACKLOG: usize = 1024;
/// How many past changes a watch from a given resourceVersion can start from.
const HISTORY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: &'static str,
    plural: &'static str,
    /// Empty for cluster-scoped objects.
    namespace: String,
    name: String,
}

impl Key {
    fn new(resource: &'static Resource, namespace: &str, name: &str) -> Self {
        Self {
            group: resource.group,
            plural: resource.plural,
            namespace: if resource.namespaced {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }
}

/// What happened to an object, as a watch event names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change, as the watches receive it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change made.
    pub revision: u64,
    pub kind: ChangeKind,
    pub resource: &'static Resource,
    pub object: Value,
}

#[derive(Debug)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    revision: u64,
    next_uid: u64,
    changes: broadcast::Sender<Change>,
    history: VecDeque<Change>,
    /// The newest revision no longer in `history`.
    forgotten: u64,
}

impl Store {
    pub fn new() -> Self {
        Self {
            objects: BTreeMap::new(),
            revision: 1,
            next_uid: 1,
            changes: broadcast::channel(CHANGE_BACKLOG).0,
            history: VecDeque::new(),
            forgotten: 0,
        }
    }

    /// The resourceVersion of the last change, as a list reports it.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// The changes made after revision `since`, oldest first; `None` when some of them are no
    /// longer remembered (the API's "too old resource version").
    pub fn changes_since(&self, since: u64) -> Option<Vec<Change>> {
        (since >= self.forgotten).then(|| {
            self.history
                .iter()
                .filter(|change| change.revision > since)
                .cloned()
                .collect()
        })
    }

    pub fn get(&self, resource: &'static Resource, namespace: &str, name: &str) -> Option<&Value> {
        self.objects.get(&Key::new(resource, namespace, name))
    }

    /// The objects of one resource, in one namespace or (`None`) all.
    pub fn list(&self, resource: &'static Resource, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(key, _)| key.group == resource.group && key.plural == resource.plural)
            .filter(|(key, _)| namespace.is_none_or(|n| !resource.namespaced || key.namespace == n))
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Create an object (POST); `dry_run` answers without storing.
    pub fn create(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        object: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        if resource.namespaced
            && let Some(namespaces) = catalogue::by_plural("", "v1", "namespaces")
            && self.get(namespaces, "", namespace).is_none()
        {
            return Err(ApiError::not_found(namespaces, namespace));
        }
        let mut parts = admit(resource, namespace, object)?;
        let name = self.name_of(resource, &mut parts)?;
        if self.get(resource, namespace, &name).is_some() {
            return Err(ApiError::already_exists(resource, &name));
        }
        let uid = self.new_uid();
        parts.set_meta("uid", uid);
        parts.set_meta("creationTimestamp", clock::now());
        if parts.body.contains_key("spec") {
            parts.set_meta("generation", 1);
        }
        Ok(self.commit(
            resource,
            namespace,
            &name,
            parts,
            ChangeKind::Added,
            dry_run,
        ))
    }

    /// Replace an object (PUT, and the result of a patch). A `resourceVersion` in the body must
    /// be the stored one.
    pub fn update(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        object: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut parts = admit(resource, namespace, object)?;
        let current = self
            .get(resource, namespace, name)
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        if let Some(given) = parts.meta("name").filter(|given| *given != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
        if parts
            .metadata
            .get("resourceVersion")
            .is_some_and(|given| Some(given) != current.pointer("/metadata/resourceVersion"))
        {
            return Err(ApiError::conflict(resource, name));
        }
        let spec_changed = parts.body.get("spec") != current.get("spec");
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_u64)
            .map(|g| if spec_changed { g + 1 } else { g });
        for field in ["uid", "creationTimestamp"] {
            if let Some(value) = current.pointer(&format!("/metadata/{field}")) {
                parts.set_meta(field, value.clone());
            }
        }
        parts.set_meta("name", name);
        if let Some(generation) = generation {
            parts.set_meta("generation", generation);
        }
        Ok(self.commit(
            resource,
            namespace,
            name,
            parts,
            ChangeKind::Modified,
            dry_run,
        ))
    }

    /// Delete an object, answering with it as it was last.
    pub fn delete(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let key = Key::new(resource, namespace, name);
        let object = self
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(resource, name))?;
        if dry_run {
            return Ok(object);
        }
        self.objects.remove(&key);
        self.revision += 1;
        let mut parts = Parts::split(object)?;
        parts.set_meta("resourceVersion", self.revision.to_string());
        let object = parts.join();
        self.announce(ChangeKind::Deleted, resource, &object);
        Ok(object)
    }

    /// Store an object given by a test, creating or replacing it (and its namespace if that
    /// does not exist yet); the namespace is the object's own, `default` if it names none.
    pub fn put(&mut self, resource: &'static Resource, object: Value) -> Result<Value, ApiError> {
        let mut parts = Parts::split(object)?;
        parts.metadata.remove("resourceVersion");
        let namespace = parts.meta("namespace").unwrap_or("default").to_owned();
        let name = parts.meta("name").unwrap_or_default().to_owned();
        let object = parts.join();
        if self.get(resource, &namespace, &name).is_some() {
            return self.update(resource, &namespace, &name, object, false);
        }
        if resource.namespaced
            && let Some(namespaces) = catalogue::by_plural("", "v1", "namespaces")
            && self.get(namespaces, "", &namespace).is_none()
        {
            let namespace_object = json!({"metadata": {"name": namespace}});
            self.create(namespaces, "", namespace_object, false)?;
        }
        self.create(resource, &namespace, object, false)
    }

    fn commit(
        &mut self,
        resource: &'static Resource,
        namespace: &str,
        name: &str,
        mut parts: Parts,
        kind: ChangeKind,
        dry_run: bool,
    ) -> Value {
        let revision = self.revision + 1;
        parts.set_meta("resourceVersion", revision.to_string());
        let mut object = parts.join();
        controllers::settle(resource, &mut object);
        if !dry_run {
            self.revision = revision;
            self.objects
                .insert(Key::new(resource, namespace, name), object.clone());
            self.announce(kind, resource, &object);
        }
        object
    }

    fn announce(&mut self, kind: ChangeKind, resource: &'static Resource, object: &Value) {
        let change = Change {
            revision: self.revision,
            kind,
            resource,
            object: object.clone(),
        };
        if self.history.len() == HISTORY
            && let Some(oldest) = self.history.pop_front()
        {
            self.forgotten = oldest.revision;
        }
        self.history.push_back(change.clone());
        // A change nobody watches is not an error.
        let _ = self.changes.send(change);
    }

    /// The object's name, generated from `generateName` when it has none.
    fn name_of(
        &mut self,
        resource: &'static Resource,
        parts: &mut Parts,
    ) -> Result<String, ApiError> {
        if let Some(name) = parts.meta("name") {
            return Ok(name.to_owned());
        }
        let Some(prefix) = parts.meta("generateName").map(str::to_owned) else {
            return Err(ApiError::invalid(
                resource,
                "",
                format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    resource.kind
                ),
            ));
        };
        let name = format!("{prefix}{}", suffix(self.next_uid));
        self.next_uid += 1;
        parts.set_meta("name", name.clone());
        Ok(name)
    }

    fn new_uid(&mut self) -> String {
        let uid = format!("00000000-0000-4000-8000-{:012x}", self.next_uid);
        self.next_uid += 1;
        uid
    }
}

/// Check an incoming object against the URL it was sent to and fill in what the URL implies.
fn admit(resource: &'static Resource, namespace: &str, object: Value) -> Result<Parts, ApiError> {
    let mut parts = Parts::split(object)?;
    for (field, expected) in [
        ("apiVersion", resource.api_version()),
        ("kind", resource.kind.to_owned()),
    ] {
        match parts.body.get(field).and_then(Value::as_str) {
            None | Some("") => {
                parts.body.insert(field.into(), json!(expected));
            }
            Some(given) if given != expected => {
                return Err(ApiError::bad_request(format!(
                    "the {field} `{given}` of the object does not match the resource ({expected})"
                )));
            }
            Some(_) => {}
        }
    }
    if resource.namespaced {
        if parts
            .meta("namespace")
            .is_some_and(|given| given != namespace)
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        parts.set_meta("namespace", namespace);
    } else {
        parts.metadata.remove("namespace");
    }
    Ok(parts)
}

/// Five lowercase characters derived from `n`, like the suffix of a generated name.
fn suffix(n: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let base = ALPHABET.len() as u64;
    let mut n = n.wrapping_mul(2_654_435_761);
    (0..5)
        .map(|_| {
            let digit = usize::try_from(n % base).unwrap_or_default();
            n /= base;
            ALPHABET.get(digit).map_or('x', |&b| char::from(b))
        })
        .collect()
}

#[cfg(test)]
mod tests;
