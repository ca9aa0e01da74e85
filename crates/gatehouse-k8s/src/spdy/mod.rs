//! SPDY/3.1, the framing kubectl's SPDY transport (moby/spdystream) speaks after a
//! `101 Switching Protocols` to `Upgrade: SPDY/3.1` (exec and attach of kubectl before 1.30,
//! every port-forward, and inside WebSocket messages for kubectl 1.31's port-forward): many
//! streams on one connection, each opened with a SYN_STREAM whose compressed headers say what
//! it is for (`streamType`, `port`). Pure and bounded: frames longer than a reader's limit and
//! header blocks that inflate beyond [`MAX_HEADER_BLOCK`] are errors, never held. The gateway
//! reads relayed streams with it; the test API server serves them with it.

mod dictionary;
mod frame;
mod headers;

pub use frame::{
    FLAG_FIN, Frame, FrameReader, INVALID_STREAM, MAX_PAYLOAD, REFUSED_STREAM, data, goaway, ping,
    rst_stream, syn_reply, syn_stream, with_header_block,
};
pub use headers::{Deflater, Headers, Inflater, MAX_HEADER_BLOCK, header};
