//! The server's greeting (protocol version 10): its version, the connection id, the scramble
//! that passwords are hashed with, its capabilities and its default authentication plugin.

use crate::capabilities::Capabilities;
use crate::{WireError, cursor};

const PROTOCOL_VERSION: u8 = 10;
const WHAT: &str = "initial handshake";
/// The scramble's first part, before the capability flags.
const SCRAMBLE_HEAD: usize = 8;
/// The shortest second part of the scramble on the wire (12 bytes and a NUL).
const SCRAMBLE_TAIL_MIN: usize = 13;

/// The server's first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialHandshake {
    pub server_version: String,
    pub connection_id: u32,
    /// The nonce passwords are scrambled with: 20 bytes from MariaDB and MySQL.
    pub scramble: Vec<u8>,
    pub capabilities: Capabilities,
    pub collation: u8,
    pub status: u16,
    pub auth_plugin: String,
}

impl InitialHandshake {
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        let mut input = payload;
        let version = cursor::u8(&mut input, WHAT)?;
        if version != PROTOCOL_VERSION {
            return Err(WireError::malformed(
                WHAT,
                format!("protocol version {version}"),
            ));
        }
        let server_version = String::from_utf8_lossy(cursor::nul_terminated(&mut input, WHAT)?);
        let connection_id = cursor::u32(&mut input, WHAT)?;
        let mut scramble = cursor::take(&mut input, SCRAMBLE_HEAD, WHAT)?.to_vec();
        cursor::take(&mut input, 1, WHAT)?;
        let lower = u64::from(cursor::u16(&mut input, WHAT)?);
        let collation = cursor::u8(&mut input, WHAT)?;
        let status = cursor::u16(&mut input, WHAT)?;
        let upper = u64::from(cursor::u16(&mut input, WHAT)?);
        let scramble_len = usize::from(cursor::u8(&mut input, WHAT)?);
        cursor::take(&mut input, 6, WHAT)?;
        let extended = u64::from(cursor::u32(&mut input, WHAT)?);
        let mut capabilities = Capabilities(lower | upper << 16);
        if capabilities.carries_mariadb_extensions() {
            capabilities.0 |= extended << 32;
        }
        if capabilities.contains(Capabilities::SECURE_CONNECTION) {
            let tail_len = SCRAMBLE_TAIL_MIN.max(scramble_len.saturating_sub(SCRAMBLE_HEAD));
            let tail = cursor::take(&mut input, tail_len, WHAT)?;
            scramble.extend_from_slice(tail.strip_suffix(&[0]).unwrap_or(tail));
        }
        let auth_plugin = if capabilities.contains(Capabilities::PLUGIN_AUTH) {
            String::from_utf8_lossy(cursor::nul_terminated_or_rest(&mut input)).into_owned()
        } else {
            String::new()
        };
        Ok(Self {
            server_version: server_version.into_owned(),
            connection_id,
            scramble,
            capabilities,
            collation,
            status,
            auth_plugin,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.server_version.len());
        out.push(PROTOCOL_VERSION);
        out.extend_from_slice(self.server_version.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        let (head, tail) = self
            .scramble
            .split_at_checked(SCRAMBLE_HEAD)
            .unwrap_or((&self.scramble, &[]));
        out.extend_from_slice(head);
        out.resize(out.len() + SCRAMBLE_HEAD - head.len(), 0);
        out.push(0);
        let lower = self.capabilities.lower();
        out.extend_from_slice(&(lower as u16).to_le_bytes());
        out.push(self.collation);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&((lower >> 16) as u16).to_le_bytes());
        let plugin_auth = self.capabilities.contains(Capabilities::PLUGIN_AUTH);
        let scramble_len = if plugin_auth {
            (self.scramble.len() + 1).min(usize::from(u8::MAX)) as u8
        } else {
            0
        };
        out.push(scramble_len);
        out.extend_from_slice(&[0; 6]);
        let extended = if self.capabilities.carries_mariadb_extensions() {
            self.capabilities.upper()
        } else {
            0
        };
        out.extend_from_slice(&extended.to_le_bytes());
        if self.capabilities.contains(Capabilities::SECURE_CONNECTION) {
            let start = out.len();
            out.extend_from_slice(tail);
            out.push(0);
            let written = out.len() - start;
            out.resize(out.len() + SCRAMBLE_TAIL_MIN.saturating_sub(written), 0);
        }
        if plugin_auth {
            out.extend_from_slice(self.auth_plugin.as_bytes());
            out.push(0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn mariadb_greeting() -> InitialHandshake {
        InitialHandshake {
            server_version: "5.5.5-10.11.19-MariaDB".into(),
            connection_id: 42,
            scramble: b"abcdefghijklmnopqrst".to_vec(),
            capabilities: Capabilities(0xF7FE)
                | Capabilities::PLUGIN_AUTH
                | Capabilities::SESSION_TRACK
                | Capabilities::MARIADB_STMT_BULK_OPERATIONS,
            collation: 45,
            status: 2,
            auth_plugin: "mysql_native_password".into(),
        }
    }

    #[test]
    fn round_trip_with_mariadb_extensions() {
        let greeting = mariadb_greeting();
        let bytes = greeting.encode();
        assert_eq!(InitialHandshake::parse(&bytes), Ok(greeting));
    }

    #[test]
    fn round_trip_mysql_style() {
        let mut greeting = mariadb_greeting();
        greeting.capabilities = Capabilities(0xFFFF) | Capabilities::PLUGIN_AUTH;
        greeting.auth_plugin = "caching_sha2_password".into();
        assert_eq!(
            InitialHandshake::parse(&greeting.encode()),
            Ok(greeting.clone())
        );
    }

    #[test]
    fn refuses_other_protocols_and_truncation() {
        let bytes = mariadb_greeting().encode();
        let mut v9 = bytes.clone();
        v9[0] = 9;
        assert!(matches!(
            InitialHandshake::parse(&v9),
            Err(WireError::Malformed { .. })
        ));
        for cut in [1, 10, 30, 40, 50] {
            assert!(matches!(
                InitialHandshake::parse(&bytes[..cut]),
                Err(WireError::Truncated { .. })
            ));
        }
    }
}
