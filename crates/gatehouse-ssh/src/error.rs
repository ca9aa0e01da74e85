//! The one error type of the crate: every SFTP packet gatehouse refuses to read. The gateway
//! cannot decide on what it cannot read, so a packet it cannot decode is never forwarded;
//! each message says what was wrong, for the audit log and the client's status message.

use crate::sftp::MAX_PACKET;

/// Why an SFTP packet was refused before policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    #[error(
        "an SFTP packet of {0} bytes is over gatehouse's limit of {MAX_PACKET} bytes; \
         send smaller reads and writes"
    )]
    PacketTooLong(u64),
    #[error(
        "the SFTP packet's length prefix says {declared} bytes but {actual} follow it; \
         send whole packets"
    )]
    LengthMismatch { declared: u64, actual: u64 },
    #[error("the SFTP packet has no type byte")]
    EmptyPacket,
    #[error("the SFTP packet ends inside its {0}")]
    Truncated(&'static str),
    #[error("the SFTP {0} is not UTF-8; gatehouse decides on paths as text, so send UTF-8 paths")]
    NotUtf8(&'static str),
    #[error(
        "the SFTP {0} has a NUL byte, after which the server would read another path than \
         the one decided; leave it out"
    )]
    NulInPath(&'static str),
    #[error("the SFTP server sent a packet of unknown type {0}")]
    UnknownResponse(u8),
}
