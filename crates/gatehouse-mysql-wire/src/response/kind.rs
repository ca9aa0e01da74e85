//! Telling a server's response apart by its first byte, before parsing it as what it is.

use crate::capabilities::Capabilities;
use crate::lenenc::read_lenenc_int;
use crate::packet::MAX_PACKET_PAYLOAD;

/// What a response packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    Ok,
    Err,
    /// An EOF packet, or under `DEPRECATE_EOF` the OK packet with a 0xFE header that ends rows.
    Eof,
    /// The server asks the client for a local file (`LOAD DATA LOCAL INFILE`).
    LocalInfile,
    /// A result set of this many columns follows.
    ResultSet {
        columns: u64,
    },
    Malformed,
}

/// Payloads shorter than this with a 0xFE header are EOF packets, not length-encoded numbers.
const EOF_MAX_LEN: usize = 9;

/// The kind of `payload`: 0x00 OK, 0xFF ERR, 0xFE EOF (below 9 bytes, or any OK-as-EOF under
/// `DEPRECATE_EOF`), 0xFB local infile request, otherwise a result set's column count.
pub fn first_byte_kind(payload: &[u8], capabilities: Capabilities) -> ResponseKind {
    match payload.first() {
        None => ResponseKind::Malformed,
        Some(0x00) => ResponseKind::Ok,
        Some(0xFF) => ResponseKind::Err,
        Some(0xFE)
            if payload.len() < EOF_MAX_LEN
                || (capabilities.contains(Capabilities::DEPRECATE_EOF)
                    && payload.len() < MAX_PACKET_PAYLOAD) =>
        {
            ResponseKind::Eof
        }
        Some(0xFB) => ResponseKind::LocalInfile,
        Some(_) => {
            let mut input = payload;
            match read_lenenc_int(&mut input) {
                Ok(Some(columns)) if input.is_empty() => ResponseKind::ResultSet { columns },
                _ => ResponseKind::Malformed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn kinds() {
        let none = Capabilities::default();
        assert_eq!(
            first_byte_kind(&[0, 0, 0, 2, 0, 0, 0], none),
            ResponseKind::Ok
        );
        assert_eq!(first_byte_kind(&[0xFF, 1, 2], none), ResponseKind::Err);
        assert_eq!(
            first_byte_kind(&[0xFE, 0, 0, 2, 0], none),
            ResponseKind::Eof
        );
        assert_eq!(
            first_byte_kind(b"\xfbfile", none),
            ResponseKind::LocalInfile
        );
        assert_eq!(
            first_byte_kind(&[3], none),
            ResponseKind::ResultSet { columns: 3 }
        );
        assert_eq!(
            first_byte_kind(&[0xFC, 0x2C, 0x01], none),
            ResponseKind::ResultSet { columns: 300 }
        );
        assert_eq!(first_byte_kind(&[], none), ResponseKind::Malformed);
        assert_eq!(first_byte_kind(&[0xFC, 1], none), ResponseKind::Malformed);
        let long_fe = [0xFE, 0, 0, 2, 0, 0, 0, 5, 0, 1, 2];
        assert_eq!(first_byte_kind(&long_fe, none), ResponseKind::Malformed);
        assert_eq!(
            first_byte_kind(&long_fe, Capabilities::DEPRECATE_EOF),
            ResponseKind::Eof
        );
    }
}
