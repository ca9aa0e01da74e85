//! What a test reads and changes beside the HTTP API: the record of requests, and the objects
//! (changed as a controller would change them, so watches see it).

use crate::catalogue;
use crate::record::SeenRequest;
use crate::server::TestApiServer;
use crate::status::ApiError;
use serde_json::Value;

impl TestApiServer {
    /// Every request that reached the server so far, in arrival order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.seen().clone()
    }

    /// How many requests were `method` on a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.shared
            .seen()
            .iter()
            .filter(|r| r.is(method, path_prefix))
            .count()
    }

    /// Forget the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.seen().clear();
    }

    /// Store an object (creating or replacing it, as a controller would, without a request),
    /// telling the watches; its `apiVersion` and `kind` say what it is and its namespace
    /// defaults to `default`. Returns the object as stored.
    pub fn put_object(&self, object: Value) -> Result<Value, ApiError> {
        let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default();
        let resource = catalogue::by_kind(field("apiVersion"), field("kind")).ok_or_else(|| {
            ApiError::bad_request(format!(
                "no resource serves {} {}",
                field("apiVersion"),
                field("kind")
            ))
        })?;
        self.shared.store().put(resource, object)
    }

    /// The object named, by resource plural (`"deployments"`); `namespace` is ignored for
    /// cluster-scoped resources.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let resource = catalogue::by_plural_only(resource)?;
        self.shared.store().get(resource, namespace, name).cloned()
    }

    /// Every object of a resource, in one namespace or (`None`) all.
    pub fn objects(&self, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        catalogue::by_plural_only(resource)
            .map(|resource| self.shared.store().list(resource, namespace))
            .unwrap_or_default()
    }

    /// Delete an object as a controller would, telling the watches; the object it was.
    pub fn delete_object(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let resource = catalogue::by_plural_only(resource)?;
        self.shared
            .store()
            .delete(resource, namespace, name, false)
            .ok()
    }
}
