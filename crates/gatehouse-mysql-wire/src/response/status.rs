//! The packets that end a command or a result set: OK (with what the command changed), ERR
//! (code, SQLSTATE, message) and the legacy EOF; and the server status flags they carry.

use crate::capabilities::Capabilities;
use crate::lenenc::{read_lenenc_bytes, read_lenenc_int, write_lenenc_bytes, write_lenenc_int};
use crate::{WireError, cursor};

pub const SERVER_STATUS_IN_TRANS: u16 = 1;
pub const SERVER_STATUS_AUTOCOMMIT: u16 = 1 << 1;
pub const SERVER_MORE_RESULTS_EXISTS: u16 = 1 << 3;
pub const SERVER_STATUS_CURSOR_EXISTS: u16 = 1 << 6;
pub const SERVER_STATUS_LAST_ROW_SENT: u16 = 1 << 7;
pub const SERVER_STATUS_NO_BACKSLASH_ESCAPES: u16 = 1 << 9;
pub const SERVER_STATUS_IN_TRANS_READONLY: u16 = 1 << 13;
pub const SERVER_SESSION_STATE_CHANGED: u16 = 1 << 14;

const OK_HEADER: u8 = 0x00;
const EOF_HEADER: u8 = 0xFE;
const ERR_HEADER: u8 = 0xFF;
const SQL_STATE_MARKER: u8 = b'#';
/// The SQLSTATE of an ERR packet that carries none (sent before the handshake completes).
const GENERAL_ERROR: [u8; 5] = *b"HY000";

/// A command succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OkPacket {
    pub affected_rows: u64,
    pub last_insert_id: u64,
    pub status: u16,
    pub warnings: u16,
    pub info: Vec<u8>,
    /// The raw session-state block (`SESSION_TRACK` and `SERVER_SESSION_STATE_CHANGED`); see
    /// [`super::session_state_changes`].
    pub session_state: Vec<u8>,
}

impl OkPacket {
    /// Parses an OK packet with either header (0x00, or 0xFE for the OK that ends rows under
    /// `DEPRECATE_EOF`), shaped by the negotiated `capabilities`.
    pub fn parse(payload: &[u8], capabilities: Capabilities) -> Result<Self, WireError> {
        const WHAT: &str = "OK packet";
        let mut input = payload;
        let header = cursor::u8(&mut input, WHAT)?;
        if header != OK_HEADER && header != EOF_HEADER {
            return Err(WireError::malformed(WHAT, format!("header {header:#04x}")));
        }
        let null = || WireError::malformed(WHAT, "NULL");
        let affected_rows = read_lenenc_int(&mut input)?.ok_or_else(null)?;
        let last_insert_id = read_lenenc_int(&mut input)?.ok_or_else(null)?;
        let mut ok = Self {
            affected_rows,
            last_insert_id,
            ..Self::default()
        };
        if capabilities.contains(Capabilities::PROTOCOL_41) {
            ok.status = cursor::u16(&mut input, WHAT)?;
            ok.warnings = cursor::u16(&mut input, WHAT)?;
        } else if capabilities.contains(Capabilities::TRANSACTIONS) {
            ok.status = cursor::u16(&mut input, WHAT)?;
        }
        // The info text is length-prefixed with session tracking or without (MariaDB writes
        // it with `net_store_data` either way), and left out when empty.
        if !input.is_empty() {
            ok.info = read_lenenc_bytes(&mut input)?.ok_or_else(null)?.to_vec();
        }
        if capabilities.contains(Capabilities::SESSION_TRACK)
            && ok.status & SERVER_SESSION_STATE_CHANGED != 0
            && !input.is_empty()
        {
            ok.session_state = read_lenenc_bytes(&mut input)?.ok_or_else(null)?.to_vec();
        }
        Ok(ok)
    }

    /// Encodes with `header` (0x00, or 0xFE for an OK ending rows under `DEPRECATE_EOF`).
    pub fn encode(&self, header: u8, capabilities: Capabilities) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.info.len() + self.session_state.len());
        out.push(header);
        write_lenenc_int(&mut out, self.affected_rows);
        write_lenenc_int(&mut out, self.last_insert_id);
        if capabilities.contains(Capabilities::PROTOCOL_41) {
            out.extend_from_slice(&self.status.to_le_bytes());
            out.extend_from_slice(&self.warnings.to_le_bytes());
        } else if capabilities.contains(Capabilities::TRANSACTIONS) {
            out.extend_from_slice(&self.status.to_le_bytes());
        }
        // As servers write it: the info only when there is some or session state follows.
        let state_changed = capabilities.contains(Capabilities::SESSION_TRACK)
            && self.status & SERVER_SESSION_STATE_CHANGED != 0;
        if state_changed || !self.info.is_empty() {
            write_lenenc_bytes(&mut out, &self.info);
        }
        if state_changed {
            write_lenenc_bytes(&mut out, &self.session_state);
        }
        out
    }
}

/// A command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    pub sql_state: [u8; 5],
    pub message: Vec<u8>,
}

impl ErrPacket {
    /// Parses an ERR packet; one without the `#` SQLSTATE marker gets `HY000`.
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        const WHAT: &str = "ERR packet";
        let mut input = payload;
        let header = cursor::u8(&mut input, WHAT)?;
        if header != ERR_HEADER {
            return Err(WireError::malformed(WHAT, format!("header {header:#04x}")));
        }
        let code = cursor::u16(&mut input, WHAT)?;
        let sql_state = if input.first() == Some(&SQL_STATE_MARKER) {
            cursor::take(&mut input, 1, WHAT)?;
            cursor::array(&mut input, WHAT)?
        } else {
            GENERAL_ERROR
        };
        Ok(Self {
            code,
            sql_state,
            message: input.to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.message.len());
        out.push(ERR_HEADER);
        out.extend_from_slice(&self.code.to_le_bytes());
        out.push(SQL_STATE_MARKER);
        out.extend_from_slice(&self.sql_state);
        out.extend_from_slice(&self.message);
        out
    }
}

/// The legacy end of column definitions or rows (without `DEPRECATE_EOF`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EofPacket {
    pub warnings: u16,
    pub status: u16,
}

impl EofPacket {
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        const WHAT: &str = "EOF packet";
        let mut input = payload;
        let header = cursor::u8(&mut input, WHAT)?;
        if header != EOF_HEADER {
            return Err(WireError::malformed(WHAT, format!("header {header:#04x}")));
        }
        let warnings = cursor::u16(&mut input, WHAT)?;
        let status = cursor::u16(&mut input, WHAT)?;
        cursor::finish(input, WHAT)?;
        Ok(Self { warnings, status })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![EOF_HEADER];
        out.extend_from_slice(&self.warnings.to_le_bytes());
        out.extend_from_slice(&self.status.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    const TRACKING: Capabilities =
        Capabilities(Capabilities::PROTOCOL_41.0 | Capabilities::SESSION_TRACK.0);

    #[test]
    fn ok_round_trips_under_each_capability_set() {
        let ok = OkPacket {
            affected_rows: 300,
            last_insert_id: 1 << 40,
            status: SERVER_STATUS_AUTOCOMMIT,
            warnings: 2,
            info: b"Rows matched: 1".to_vec(),
            session_state: Vec::new(),
        };
        for capabilities in [
            Capabilities::PROTOCOL_41,
            TRACKING,
            Capabilities::PROTOCOL_41 | Capabilities::DEPRECATE_EOF,
        ] {
            for header in [OK_HEADER, EOF_HEADER] {
                let bytes = ok.encode(header, capabilities);
                assert_eq!(bytes[0], header);
                assert_eq!(OkPacket::parse(&bytes, capabilities), Ok(ok.clone()));
            }
        }
        let with_state = OkPacket {
            status: SERVER_SESSION_STATE_CHANGED,
            session_state: vec![1, 5, 4, b't', b'e', b's', b't'],
            ..ok
        };
        let bytes = with_state.encode(OK_HEADER, TRACKING);
        assert_eq!(OkPacket::parse(&bytes, TRACKING), Ok(with_state));
    }

    #[test]
    fn a_minimal_ok_from_a_tracking_server() {
        let bytes = [0, 0, 0, 2, 0, 0, 0];
        let ok = OkPacket::parse(&bytes, TRACKING).unwrap();
        assert_eq!(ok.status, SERVER_STATUS_AUTOCOMMIT);
        assert!(ok.info.is_empty());
        assert_eq!(ok.encode(OK_HEADER, TRACKING), bytes);
        assert!(matches!(
            OkPacket::parse(&[0, 0, 0, 2], TRACKING),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn the_info_of_a_server_without_session_tracking_is_length_prefixed() {
        let plain = Capabilities::PROTOCOL_41;
        let info = b"Rows matched: 2  Changed: 1  Warnings: 0";
        let mut bytes = vec![0, 1, 0, 2, 0, 0, 0, 40];
        bytes.extend_from_slice(info);
        let ok = OkPacket::parse(&bytes, plain).unwrap();
        assert_eq!((ok.affected_rows, ok.info.as_slice()), (1, &info[..]));
        assert_eq!(ok.encode(OK_HEADER, plain), bytes);
        let bare = [0, 0, 0, 2, 0, 0, 0];
        assert_eq!(
            OkPacket::parse(&bare, plain)
                .unwrap()
                .encode(OK_HEADER, plain),
            bare
        );
        assert!(matches!(
            OkPacket::parse(&[0, 0, 0, 2, 0, 0, 0, 9, b'x'], plain),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn err_with_and_without_sql_state() {
        let err = ErrPacket {
            code: 1064,
            sql_state: *b"42000",
            message: b"You have an error in your SQL syntax".to_vec(),
        };
        assert_eq!(ErrPacket::parse(&err.encode()), Ok(err));
        let bare = ErrPacket::parse(b"\xff\x10\x04Too many connections").unwrap();
        assert_eq!(bare.code, 1040);
        assert_eq!(&bare.sql_state, b"HY000");
        assert!(matches!(
            ErrPacket::parse(b"\xff\x10\x04#420"),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn eof_round_trip() {
        let eof = EofPacket {
            warnings: 1,
            status: SERVER_MORE_RESULTS_EXISTS,
        };
        assert_eq!(EofPacket::parse(&eof.encode()), Ok(eof));
        assert!(matches!(
            EofPacket::parse(&[0xFE, 0]),
            Err(WireError::Truncated { .. })
        ));
    }
}
