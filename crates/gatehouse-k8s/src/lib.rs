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

mod attribution;
mod error;
mod list_options;
mod patch_paths;
mod path;
mod query;

pub use attribution::{RequestAttributes, attribute};
pub use error::{AttributionError, TargetPart};
pub use patch_paths::{MAX_PATCH_DEPTH, MAX_PATCH_PATHS, PatchSummary, PatchType, patch_paths};
pub use path::MAX_PATH_BYTES;
