//! SSH as policy sees it: the connection kind and the Cedar schema fragment
//! (`schema/ssh.cedarschema`) with the `ssh:*` actions, their group and their contexts. Pure
//! data, so the policy and pipeline crates' tests can load policies that name these actions
//! without the adapter.

use gatehouse_core::{ConnectionKind, ProtocolSchema};

/// The kind of an SSH connection.
pub const SSH: ConnectionKind = ConnectionKind::new("ssh");

/// The protocol's part of the Cedar schema.
pub const SSH_PROTOCOL: ProtocolSchema = ProtocolSchema {
    name: "ssh",
    fragment: include_str!("../schema/ssh.cedarschema"),
    request_actions: &[
        "ssh:exec",
        "ssh:shell",
        "ssh:sftp",
        "ssh:scp",
        "ssh:forward",
        "ssh:agent_forward",
        "ssh:x11",
    ],
};
