//! Kubernetes connections served by an agent (`support::agent_process::AgentProcess`): the
//! gateway's config names the agent and nothing of the cluster; the agent's holds the
//! cluster's address, CA and token.

use super::ClusterFiles;

/// The gateway config of a cluster whose `cluster` connection is served by agent `dc1`
/// (`connection_extra` added to it), for [`Cluster::start_config`].
pub fn gateway_config(connection_extra: &str) -> String {
    format!(
        "[agents]\nlisten = \"127.0.0.1:0\"\n\n[kubernetes]\nlisten = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\n\n\
         [[connections]]\nname = \"cluster\"\nkind = \"kubernetes\"\nagents = [\"dc1\"]\n{connection_extra}\n"
    )
}

/// An agent's `[[connections]]` entry for Kubernetes connection `name`, reaching the test API
/// server with its token.
pub fn kubernetes_connection(name: &str, files: &ClusterFiles) -> String {
    format!(
        "[[connections]]\nname = \"{name}\"\nkind = \"kubernetes\"\n{}\n",
        files.connection_keys()
    )
}
