//! SPDY/3.1, the framing kubectl's SPDY transport (moby/spdystream) speaks after a
//! `101 Switching Protocols` to `Upgrade: SPDY/3.1`: many streams on one connection, each
//! opened by the client with a SYN_STREAM whose headers say what it is for.
//!
//! Frames and header blocks are `gatehouse_k8s::spdy`'s, the gateway's own reader: what this
//! server serves is read by the same code that reads it at the gateway.

mod conn;

pub use conn::{Connection, Event, Stream, StreamWriter, start};
