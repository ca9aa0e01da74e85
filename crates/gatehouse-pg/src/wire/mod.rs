//! PostgreSQL wire protocol (v3) pieces gatehouse needs on both sides of the proxy: framing
//! with size limits, the few messages it must read, and the messages it must write.
//!
//! Everything else is relayed as opaque frames: the gateway only decodes what decisions need.

mod build;
mod frame;
mod read;
pub mod tags;

pub use build::*;
pub use frame::{Frame, FrameReader, StartupFrame};
pub use read::*;

/// `SSLRequest` code in a startup-phase frame.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// `GSSENCRequest` code.
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;
/// `CancelRequest` code.
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;
/// Protocol 3.0, the version gatehouse speaks.
pub const PROTOCOL_3_0: i32 = 196_608;
