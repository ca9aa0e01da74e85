//! The agent tunnel: how the gateway reaches targets in private networks without holding their
//! credentials or needing an inbound port there.
//!
//! The agent (`gatehouse agent`) runs next to the targets and dials **out** to the gateway: one
//! TLS connection carrying HTTP/2, with the roles reversed once it is up — the gateway is the
//! HTTP/2 client and the agent the server — so the gateway opens one stream per client session
//! and HTTP/2's per-stream flow control gives every session its own back-pressure.
//!
//! On a new tunnel the gateway asks `GET /v1/hello` (the agent's name, version, connections,
//! the connection kinds and server login levels it serves, and its credential or enrolment
//! token), decides through an [`AgentAuthority`], and answers `POST /v1/verdict` (welcome,
//! with a credential on enrolment, or refused with the reason). A session is
//! `POST /v1/sessions` carrying a protocol-neutral open request
//! ([`gatehouse_session::OpenRequest`]: kind, login level, kind-specific details): the agent's
//! own [`gatehouse_session::TargetConnector`] opens and authenticates the target session with
//! its credentials and answers with what the target said (`gatehouse-opened`), after which the
//! request and response bodies carry the protocol's bytes (for `kubernetes`, HTTP/1.1 to the
//! agent's proxy, which adds the cluster's credential). `POST /v1/cancel` relays a one-shot
//! signal (a PostgreSQL cancel). Agents and gateways from before kinds are still understood
//! for PostgreSQL (its startup parameters and cancel key in their own headers). Policy,
//! masking, audit and recording stay in the gateway.

mod agent;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod hello;
mod hub;
mod stream;

pub use agent::{AgentSettings, CredentialStore, WorkloadToken, run_agent};
pub use error::TunnelError;
pub use hello::{Hello, HelloAnswer};
pub use hub::{Admission, AgentAuthority, AgentHub, ConnectedAgent, RoutedConnector};
