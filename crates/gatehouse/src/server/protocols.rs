//! The protocols this gatehouse serves, as policy sees them: each one's Cedar schema
//! fragment. Adding a protocol adds its fragment here; the policy crate knows none of them.

use anyhow::Result;
use gatehouse_policy::PolicySchema;

/// The Cedar schema policies are validated against: the base and every protocol's fragment.
pub fn policy_schema() -> Result<PolicySchema> {
    PolicySchema::new(&[
        &gatehouse_core::SQL_PROTOCOL,
        &gatehouse_k8s_gateway::K8S_PROTOCOL,
        &gatehouse_httpapi_gateway::HTTP_PROTOCOL,
        &gatehouse_ssh_gateway::SSH_PROTOCOL,
    ])
    .map_err(|e| anyhow::anyhow!("{e}"))
}
