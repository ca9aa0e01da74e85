//! What a request to a Kubernetes API server asks, read the way kube-apiserver reads it, so a
//! gateway in front of it decides on what the server's own authorizer would see. Pure domain:
//! no network, no HTTP framework; the adapter hands it a method, a request target and a body.
//!
//! # What it gives
//!
//! - [`attribute`]: the request's attributes as kube-apiserver's `RequestInfo` has them (verb,
//!   API group and version, namespace, resource, subresource, name; `watch=1`, the legacy
//!   `/watch/` prefix and `fieldSelector=metadata.name=X` included), whether it is a dry run,
//!   and its Cedar action ([`RequestAttributes::action`]).
//! - [`patch_paths`]: the dotted field paths a JSON, merge, strategic-merge or server-side
//!   apply patch touches.
//! - [`exec_request`]: an exec's container, streams and command as `command`, `program`, `args`.
//! - [`status`]: the `Status` object Kubernetes clients expect in an error response.
//! - [`spdy`]: SPDY/3.1 frames and header blocks, for reading the exec, attach and
//!   port-forward streams kubectl opens over SPDY.
//!
//! # The path the gateway forwards
//!
//! The request target is normalised into one canonical form, and the adapter must forward
//! exactly [`RequestAttributes::request_target`] (the canonical path and the re-encoded query),
//! never the client's bytes: the decision was made on that form. Encoded unreserved characters
//! are decoded, `//` collapses into `/`, and anything two servers could read differently is
//! refused with an [`AttributionError`]: `%2F`, `%25`, backslashes, control characters, a
//! malformed `%`, non-UTF-8 escapes, `.`/`..` segments in any spelling, fragments, a `;` in
//! the query, paths over [`MAX_PATH_BYTES`].
//!
//! # Decided here, for the adapter to know
//!
//! - Actions: `k8s:exec`, `k8s:attach`, `k8s:portforward` (those subresources of core `pods`),
//!   `k8s:proxy` (`proxy` of core pods, services and nodes, and the legacy `/proxy/` prefix),
//!   `k8s:discovery` (`GET`/`HEAD` of `/api`, `/api/V`, `/apis`, `/apis/G`, `/apis/G/V`,
//!   `/version`, `/openapi/v2`, `/openapi/v3...`, `/healthz...`, `/livez...`, `/readyz...`),
//!   `k8s:unknown` (other non-resource requests, and methods kube-apiserver has no verb for),
//!   otherwise `k8s:<verb>`. `kubectl debug` adds a container by a patch (or update) of
//!   `pods/ephemeralcontainers`: policies on patches and updates should look at `subresource`.
//! - A method is matched as sent (`get` is not `GET`), as kube-apiserver matches it.
//! - `fieldSelector=metadata.name=X` names the object of a list or watch only when the list
//!   options decode (`limit`, `timeoutSeconds`, the field selector). Label selectors are not
//!   parsed: where a malformed one makes kube-apiserver drop the name, it is kept here, and the
//!   server refuses that list itself.
//! - Patch paths: `""` is the whole object; the merge key of a strategic list element
//!   (`containers.name`) is a path of its own; a key holding a dot reads as more segments.
//!
//! # Use
//!
//! ```
//! use gatehouse_k8s::{StatusReason, attribute, exec_request, patch_paths, status};
//! # fn main() -> Result<(), gatehouse_k8s::AttributionError> {
//! let scale = attribute("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web")?;
//! assert_eq!(scale.action(), "k8s:patch");
//! assert_eq!((scale.api_group.as_str(), scale.name.as_str()), ("apps", "web"));
//! let patch = patch_paths(
//!     "application/strategic-merge-patch+json",
//!     br#"{"spec":{"replicas":3}}"#,
//! )?;
//! assert!(patch.paths.iter().eq(["spec.replicas"]));
//!
//! let exec = attribute(
//!     "POST",
//!     "/api/v1/namespaces/shop/pods/web-1/exec?command=sh&command=-c&command=ls%20/&stdin=1",
//! )?;
//! assert_eq!(exec.action(), "k8s:exec");
//! let command = exec_request(&exec.query);
//! assert_eq!(command.command, "sh -c 'ls /'");
//! assert_eq!(command.program, "sh");
//!
//! let refusal = status(StatusReason::Forbidden, "denied by policy", Some(&exec));
//! assert_eq!(refusal["code"], 403);
//!
//! assert!(attribute("GET", "/api/v1/namespaces/shop/pods/%2e%2e/secrets").is_err());
//! # Ok(())
//! # }
//! ```

mod attribution;
mod error;
mod exec;
mod list_options;
mod patch_paths;
mod path;
mod query;
mod schema;
pub mod spdy;
mod status;

pub use attribution::{RequestAttributes, attribute};
pub use error::{AttributionError, TargetPart};
pub use exec::{ExecRequest, exec_request};
pub use patch_paths::{
    MAX_PATCH_DEPTH, MAX_PATCH_PATH_BYTES, MAX_PATCH_PATHS, PatchSummary, PatchType, patch_paths,
};
pub use path::MAX_PATH_BYTES;
pub use schema::{K8S_PROTOCOL, KUBERNETES};
pub use status::{StatusReason, status};
