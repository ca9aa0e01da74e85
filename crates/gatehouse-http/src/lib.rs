//! The HTTP proxy layer every HTTP-speaking protocol adapter shares — Kubernetes first, internal
//! HTTP APIs next — so that each adapter only decides and rewrites requests and never handles
//! TLS, HTTP versions, framing or upstream connections itself:
//!
//! - [`listener`]: the client-facing TLS listener. ALPN picks HTTP/2 or HTTP/1.1; limits bound
//!   connections, header sizes, concurrent and reset streams, and slow handshakes; an adapter
//!   can cut a connection (a revoked identity) and is told when one closes.
//! - [`framing`]: what the layer refuses before any adapter sees a request — ambiguous
//!   framing (request smuggling) — and the hop-by-hop headers it never forwards.
//! - [`body`]: one body type for answers, whether built here or streamed from the upstream,
//!   and bounded reads of request bodies that must be decided on.
//! - [`route`]: the `/c/CONNECTION/...` path prefix a client names its connection with.
//! - [`transformed`]: an answer's body through streaming transforms (masking, scrubbing),
//!   reporting how it ended.
//! - [`upgrade`]: HTTP/1.1 upgrades (WebSocket, SPDY) joined end to end once both sides
//!   switched, watched by a tap (for recordings, and decisions inside the stream that may
//!   hold, drop or answer what crosses), ended by a cut.
//! - [`upstream`]: a pooled HTTP/1.1 client to one target over TLS (its CA, optionally a client
//!   certificate), streaming both ways.
//! - [`websocket`]: WebSocket frames as the taps of relayed upgrades read them.
//! - [`agents`]: connections served by agents — the gateway's upstream through the tunnel,
//!   and the agent's end of each tunnel session.

pub mod agents;
pub mod body;
mod error;
pub mod framing;
pub mod listener;
pub mod route;
pub mod transformed;
pub mod upgrade;
pub mod upstream;
pub mod websocket;

pub use error::HttpProxyError;
