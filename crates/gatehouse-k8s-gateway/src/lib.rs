//! The Kubernetes adapter. `kubectl` and client libraries talk to gatehouse's HTTPS listener
//! with a server URL that names the connection (`https://HOST:16443/c/CONNECTION`) and a
//! gatehouse token from the `gatehouse token --kube` exec plugin; the cluster's credential
//! stays here, or with the agent serving the connection. Each API request is
//!
//! 1. authenticated (the bearer token is a gatehouse token; client `Impersonate-*` headers are
//!    refused),
//! 2. attributed the way kube-apiserver's RequestInfo does it, on the normalised path the API
//!    server will receive (`gatehouse-k8s`),
//! 3. decided as one `k8s:*` action with the request's group, resource, namespace, name, patch
//!    paths and exec command in the Cedar context (audited before it is forwarded; held for
//!    approval answers at once with a 403 `Status` naming the approval),
//! 4. forwarded with the connection's credential (and, optionally, impersonation headers so the
//!    cluster's RBAC and audit see the real identity), its answer streamed back — with Secret
//!    values (and what the detectors find in ConfigMaps and pods) masked, as it streams, for
//!    identities that may not see them unmasked.
//!
//! exec, attach and port-forward streams (WebSocket, SPDY/3.1, SPDY inside WebSocket) are
//! read as they are relayed: exec and attach into the recording's terminal events, and each
//! port of a port-forward decided on its own (`exec_tap`, `spdy_tap`, `ports`).
//!
//! A client connection holds one session per token it presents: `connect` is decided once,
//! revocation, token expiry and a policy that withdraws `connect` cut the connection (ending
//! a `kubectl get -w` at once).
//!
//! A connection served by agents (`through_agents`) reaches its API server through the agent
//! tunnel instead, one tunnel session per pooled HTTP/1.1 connection; the agent's end
//! (`agent_end`, [`KubeTargets`]) adds the cluster's credential, which stays with the agent.

mod agent_end;
mod answer;
mod connection;
mod counted;
mod decide;
mod error;
mod exec_credential;
mod exec_tap;
mod forward;
mod gateway;
pub mod kubeconfig;
mod ports;
mod request;
mod secrets;
mod spdy_tap;
mod stream_record;
mod through_agents;

pub use agent_end::{KubeTargets, kube_targets};
pub use error::KubeGatewayError;
pub use exec_credential::{ExecCredentials, ExecPlugin};
pub use gatehouse_k8s::{K8S_PROTOCOL, KUBERNETES};
pub use gateway::{Impersonation, KubeGateway, KubeLimits, KubeTarget, UpstreamCredential};
pub use request::KubeRequest;
pub use secrets::KubeMasking;
