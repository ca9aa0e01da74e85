//! The Kubernetes protocol as policy sees it: the connection kind and the Cedar schema
//! fragment (`schema/k8s.cedarschema`) with the `k8s:*` actions, their groups and their
//! context. Pure data, so the policy and pipeline crates' tests can load policies that name
//! these actions without the adapter.

use gatehouse_core::{ConnectionKind, ProtocolSchema};

/// The kind of a Kubernetes connection.
pub const KUBERNETES: ConnectionKind = ConnectionKind::new("kubernetes");

/// The protocol's part of the Cedar schema.
pub const K8S_PROTOCOL: ProtocolSchema = ProtocolSchema {
    name: "k8s",
    fragment: include_str!("../schema/k8s.cedarschema"),
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
