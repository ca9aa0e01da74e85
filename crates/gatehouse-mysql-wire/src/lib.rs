//! The MariaDB/MySQL client/server protocol as gatehouse speaks it on both sides of the
//! gateway: bytes in, values out, and back. Nothing here touches a socket, so every decoder can
//! be driven by tests and fuzzers with arbitrary bytes; every decode failure is a [`WireError`],
//! never a panic.

pub mod auth;
pub mod capabilities;
pub mod collation;
pub mod command;
mod cursor;
mod error;
pub mod handshake;
pub mod lenenc;
pub mod packet;
pub mod response;

pub use capabilities::Capabilities;
pub use error::WireError;
pub use packet::{MAX_PACKET_PAYLOAD, Message, PacketReader, write_message};
