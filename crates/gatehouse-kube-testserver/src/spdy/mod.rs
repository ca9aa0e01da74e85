//! SPDY/3.1, the framing kubectl's SPDY transport (moby/spdystream) speaks after a
//! `101 Switching Protocols` to `Upgrade: SPDY/3.1`: many streams on one connection, each
//! opened by the client with a SYN_STREAM whose headers say what it is for.

mod conn;
mod dictionary;
mod frame;
mod headers;

pub use conn::{Connection, Event, Stream, StreamWriter, start};
