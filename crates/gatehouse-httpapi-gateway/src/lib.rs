//! The internal HTTP API adapter. Agents and people call an internal service through
//! gatehouse's HTTPS listener instead of holding its API key: they name the connection by
//! host (`CONNECTION.<gateway host>`) or by path prefix (`/c/CONNECTION/...`) and present a
//! gatehouse token as `Authorization: Bearer`. Each request is
//!
//! 1. authenticated, and routed (an HTTP/2 connection coalesced onto another connection's
//!    host answers 421),
//! 2. read the way the target will read it (`gatehouse-httpapi`: the path exactly as
//!    forwarded, method overrides, query, selected headers, JSON fields, GraphQL operations),
//! 3. decided as one `http:*` action (audited before it is forwarded; held for approval
//!    answers 403 with a problem document naming the approval, or waits),
//! 4. forwarded with the connection's credential in place of the token (`credential`), and
//!    its answer streamed back: the credential scrubbed wherever the target echoes it
//!    (headers, redirects, bodies), and JSON, NDJSON and text masked for identities without
//!    `data:unmasked` (`masking`); what cannot be masked is refused for them.
//!
//! A WebSocket upgrade is decided as `http:websocket` and relayed with every frame recorded
//! (`websocket_tap`).
//!
//! A connection served by agents reaches its target through the agent tunnel
//! (`gatehouse_http::agents`); the agent's end (`agent_end`, [`HttpTargets`]) adds the
//! target's credential, which stays with the agent, and scrubs it from answers.
//!
//! Refusals are RFC 9457 problem documents (`problem`). Sessions per token and their endings
//! (revocation, expiry, a withdrawing policy cut the client connection) are
//! `gatehouse_session::TokenSessions`'.

mod agent_end;
mod connection;
mod credential;
mod error;
mod forward;
mod gateway;
mod masking;
mod problem;
mod record;
mod redirect;
mod route;
mod scrub;
mod websocket_tap;

pub use agent_end::{HttpTargets, http_targets};
pub use credential::HttpCredential;
pub use error::HttpApiGatewayError;
pub use gatehouse_httpapi::{HTTP, HTTP_PROTOCOL};
pub use gateway::{HttpApiGateway, HttpApiLimits, HttpTarget};
