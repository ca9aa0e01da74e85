//! Internal HTTP APIs as policy sees them: the connection kind and the Cedar schema fragment
//! (`schema/http.cedarschema`) with the `http:*` actions, their groups and their context.
//! Pure data, so the policy and pipeline crates' tests can load policies that name these
//! actions without the adapter.

use gatehouse_core::{ConnectionKind, ProtocolSchema};

/// The kind of an internal HTTP API connection.
pub const HTTP: ConnectionKind = ConnectionKind::new("http");

/// The protocol's part of the Cedar schema.
pub const HTTP_PROTOCOL: ProtocolSchema = ProtocolSchema {
    name: "http",
    fragment: include_str!("../schema/http.cedarschema"),
    request_actions: &[
        "http:get",
        "http:head",
        "http:options",
        "http:post",
        "http:put",
        "http:patch",
        "http:delete",
        "http:websocket",
        "http:unknown",
    ],
};
