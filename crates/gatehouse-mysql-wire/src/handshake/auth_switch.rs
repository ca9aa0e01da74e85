//! What the server sends during authentication after the login: a request to answer again
//! with another plugin (0xFE), or more data for the current plugin (0x01).

use crate::{WireError, cursor};

const AUTH_SWITCH: u8 = 0xFE;
const AUTH_MORE_DATA: u8 = 0x01;

/// The server asks the client to authenticate with `plugin`, scrambling with `data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSwitchRequest {
    pub plugin: String,
    /// The plugin's data without the NUL the server ends it with (for the password plugins:
    /// the new 20-byte scramble).
    pub data: Vec<u8>,
}

impl AuthSwitchRequest {
    pub fn parse(payload: &[u8]) -> Result<Self, WireError> {
        const WHAT: &str = "auth switch request";
        let mut input = payload;
        let header = cursor::u8(&mut input, WHAT)?;
        if header != AUTH_SWITCH {
            return Err(WireError::malformed(WHAT, format!("header {header:#04x}")));
        }
        let plugin = String::from_utf8_lossy(cursor::nul_terminated(&mut input, WHAT)?);
        let data = input.strip_suffix(&[0]).unwrap_or(input);
        Ok(Self {
            plugin: plugin.into_owned(),
            data: data.to_vec(),
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.plugin.len() + self.data.len() + 3);
        out.push(AUTH_SWITCH);
        out.extend_from_slice(self.plugin.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.data);
        out.push(0);
        out
    }
}

/// The plugin data of an AuthMoreData packet, `None` if `payload` is not one.
pub fn auth_more_data(payload: &[u8]) -> Option<&[u8]> {
    payload.strip_prefix(&[AUTH_MORE_DATA])
}

/// An AuthMoreData packet carrying `data`.
pub fn encode_auth_more_data(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(AUTH_MORE_DATA);
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn switch_round_trip_strips_the_trailing_nul() {
        let request = AuthSwitchRequest {
            plugin: "mysql_native_password".into(),
            data: b"01234567890123456789".to_vec(),
        };
        let bytes = request.encode();
        assert_eq!(bytes.last(), Some(&0));
        assert_eq!(AuthSwitchRequest::parse(&bytes), Ok(request));
        assert!(matches!(
            AuthSwitchRequest::parse(b"\xfemysql"),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            AuthSwitchRequest::parse(b"\x00x\0"),
            Err(WireError::Malformed { .. })
        ));
    }

    #[test]
    fn more_data_round_trip() {
        assert_eq!(
            auth_more_data(&encode_auth_more_data(&[3])),
            Some(&[3u8][..])
        );
        assert_eq!(auth_more_data(&[0xFE]), None);
    }
}
