//! The Kubernetes protocol as policy sees it: the connection kind and the Cedar schema
//! fragment with the `k8s:*` actions, their groups and their context.

use gatehouse_core::{ConnectionKind, ProtocolSchema};

/// The kind of a Kubernetes connection.
pub const KUBERNETES: ConnectionKind = ConnectionKind::new("kubernetes");

/// The protocol's part of the Cedar schema.
pub const K8S_PROTOCOL: ProtocolSchema = ProtocolSchema {
    name: "k8s",
    fragment: r#"
// The Kubernetes protocol's fragment of the Cedar schema.
//
// Actions: one per kube-apiserver verb ("k8s:get" ... "k8s:deletecollection"), one per
// streaming subresource ("k8s:exec", "k8s:attach", "k8s:portforward", "k8s:proxy"),
// "k8s:discovery" for discovery and other non-resource reads (/api, /apis, /version,
// /openapi), and "k8s:unknown" for any other non-resource request.
// Groups: "k8s:read" (get, list, watch, discovery), "k8s:write" (create, update, patch,
// delete, deletecollection), "k8s:any" (every k8s:* action).
namespace Gatehouse {
  type K8sContext = {
    source_address: ipaddr,
    now: Long,
    hour: Long,
    // The path the API server receives, normalised (no query).
    path: String,
    // kube-apiserver's verb: get, list, watch, create, update, patch, delete,
    // deletecollection (for non-resource requests, the lowercased HTTP method).
    verb: String,
    // API group ("" for the core group), version, resource, subresource, namespace, name;
    // empty where the request has none.
    group: String,
    version: String,
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
    // A dry run (`?dryRun=All`): the API server validates but changes nothing.
    dry_run: Bool,
    // Patches: json, merge, strategic or apply ("" otherwise), and the dotted field paths the
    // patch touches, list indexes and element keys dropped (`spec.replicas`,
    // `spec.template.spec.containers.image`).
    patch_type: String,
    patch_paths: Set<String>,
    // exec and attach: the container, whether a TTY was asked for, and the command (the
    // whole line, its program's base name, the other words).
    container: String,
    tty: Bool,
    command: String,
    program: String,
    args: Set<String>,
  };

  action "k8s:any";
  action "k8s:read";
  action "k8s:write";

  action "k8s:get", "k8s:list", "k8s:watch", "k8s:discovery" in ["k8s:read", "k8s:any"] appliesTo {
    principal: [Identity],
    resource: [Connection],
    context: K8sContext,
  };

  action "k8s:create", "k8s:update", "k8s:patch", "k8s:delete", "k8s:deletecollection" in ["k8s:write", "k8s:any"] appliesTo {
    principal: [Identity],
    resource: [Connection],
    context: K8sContext,
  };

  action "k8s:exec", "k8s:attach", "k8s:portforward", "k8s:proxy", "k8s:unknown" in ["k8s:any"] appliesTo {
    principal: [Identity],
    resource: [Connection],
    context: K8sContext,
  };
}
"#,
    request_actions: &[
        "k8s:get",
        "k8s:list",
        "k8s:watch",
        "k8s:discovery",
        "k8s:create",
        "k8s:update",
        "k8s:patch",
        "k8s:delete",
        "k8s:deletecollection",
        "k8s:exec",
        "k8s:attach",
        "k8s:portforward",
        "k8s:proxy",
        "k8s:unknown",
    ],
};
